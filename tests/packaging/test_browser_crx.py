"""The extension's CRX3 file: it parses back, its signature verifies over exactly the bytes
Chromium verifies, its ID is Chromium's, and it holds exactly the extension's files.

The format rules are taken from Chromium's components/crx_file (crx3.proto, crx_creator.cc,
crx_verifier.cc); where Chromium is installed its own `--pack-extension` output is read back
with the same parser, so a misreading of the format would fail here too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.chromium import chromium_binary
from tests.packaging.conftest import REPO, build_script

crx3 = build_script.crx3
EXTENSION = REPO / "agent" / "browser" / "extension"
EXTENSION_FILES = {"manifest.json", "background.js", "host_match.js", "tab_report.js"}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_pem(key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "organisation.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,  # Chromium's --pack-extension-key takes only this
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def built(key_pem: Path) -> Any:
    return build_script.build_extension(key_pem)


def chromium_id(key: rsa.RSAPrivateKey) -> str:
    """Computed here from first principles, not with the code under test: SHA-256 of the DER
    SubjectPublicKeyInfo, the first 32 hex digits, 0-9a-f shifted to a-p."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digits = hashlib.sha256(der).hexdigest()[:32]
    return digits.translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop"))


def test_known_digest_maps_to_letters_a_to_p() -> None:
    assert crx3.id_from_bytes(bytes(range(16))) == "aaabacadaeafagahaiajakalamanaoap"
    assert crx3.id_from_bytes(b"\xff" * 16) == "p" * 32


def test_the_id_is_chromiums_for_the_organisations_key(key: rsa.RSAPrivateKey, built: Any) -> None:
    assert built.extension_id == chromium_id(key)
    assert len(built.extension_id) == 32 and set(built.extension_id) <= set("abcdefghijklmnop")


def test_the_crx_parses_back_with_the_key_and_id_inside(key: rsa.RSAPrivateKey, built: Any) -> None:
    data = built.crx
    assert data[:4] == b"Cr24" and struct.unpack_from("<I", data, 4) == (3,)
    parsed = crx3.parse(data)
    assert parsed.public_key == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert crx3.id_from_bytes(parsed.crx_id) == chromium_id(key)
    # SignedData is exactly one field: number 1, 16 bytes.
    assert parsed.signed_header_data == b"\x0a\x10" + parsed.crx_id


def test_the_signature_verifies_over_the_exact_signed_bytes(built: Any) -> None:
    parsed = crx3.parse(built.crx)
    header_size = struct.unpack_from("<I", built.crx, 8)[0]
    archive = built.crx[12 + header_size :]
    signed = (
        b"CRX3 SignedData\x00"
        + struct.pack("<I", len(parsed.signed_header_data))
        + parsed.signed_header_data
        + archive
    )
    public_key = serialization.load_der_public_key(parsed.public_key)
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(parsed.signature, signed, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public_key.verify(parsed.signature, signed + b"x", padding.PKCS1v15(), hashes.SHA256())


def test_a_tampered_archive_no_longer_verifies(built: Any) -> None:
    parsed = crx3.parse(built.crx[:-1] + bytes([built.crx[-1] ^ 1]))
    public_key = serialization.load_der_public_key(parsed.public_key)
    assert isinstance(public_key, rsa.RSAPublicKey)
    with pytest.raises(InvalidSignature):
        public_key.verify(
            parsed.signature, parsed.signed_bytes(), padding.PKCS1v15(), hashes.SHA256()
        )


def test_the_header_encoding_matches_hand_built_protobuf_bytes() -> None:
    # Field 10000, wire type 2: key 80002 = varint 0x82 0xf1 0x04.
    assert crx3._field(10000, b"ab") == b"\x82\xf1\x04\x02ab"
    assert crx3._field(2, b"x" * 300) == b"\x12\xac\x02" + b"x" * 300
    assert crx3._fields(b"\x82\xf1\x04\x02ab\x12\x01z") == {10000: [b"ab"], 2: [b"z"]}
    with pytest.raises(ValueError, match="wire type 0"):
        crx3._fields(b"\x08\x01")


def test_the_zip_holds_exactly_the_extension_files(built: Any) -> None:
    archive = zipfile.ZipFile(BytesIO(crx3.parse(built.crx).archive))
    assert set(archive.namelist()) == EXTENSION_FILES
    for name in EXTENSION_FILES:
        assert archive.read(name) == (EXTENSION / name).read_bytes()
    assert built.xpi == crx3.parse(built.crx).archive  # Firefox gets the same archive


def test_the_archive_is_reproducible() -> None:
    assert crx3.zip_directory(EXTENSION) == crx3.zip_directory(EXTENSION)


def test_manifest_is_mv3_with_only_the_permissions_it_needs() -> None:
    manifest = json.loads((EXTENSION / "manifest.json").read_text())
    assert manifest["manifest_version"] == 3
    assert sorted(manifest["permissions"]) == ["alarms", "nativeMessaging", "tabs"]
    for absent in ("host_permissions", "content_scripts", "optional_permissions",
                   "optional_host_permissions", "web_accessible_resources",
                   "externally_connectable", "key", "update_url"):  # fmt: skip
        assert absent not in manifest, absent
    # One manifest for both engines: Chromium runs the service worker, Firefox the scripts.
    assert manifest["background"] == {
        "service_worker": "background.js",
        "scripts": ["background.js"],
        "type": "module",
    }
    assert manifest["browser_specific_settings"]["gecko"]["id"] == "browser-extension@commaudit.org"
    assert all(part.isdigit() for part in manifest["version"].split("."))


def test_a_pkcs1_pem_as_openssl_genrsa_writes_it_loads_too(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    pem = tmp_path / "pkcs1.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    assert crx3.extension_id(crx3.public_key_der(crx3.load_key(pem))) == chromium_id(key)


def test_a_pem_that_is_not_rsa_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = tmp_path / "ec.pem"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="not an RSA private key"):
        crx3.load_key(pem)


def test_chromiums_own_packer_output_reads_the_same_way(
    key: rsa.RSAPrivateKey, key_pem: Path, tmp_path: Path
) -> None:
    """Chromium's --pack-extension is the reference writer: its file must parse with the same
    rules, name the same ID and verify over the same signed bytes."""
    binary = chromium_binary()
    source = tmp_path / "extension"
    shutil.copytree(EXTENSION, source)
    done = subprocess.run(
        [binary, "--no-sandbox", "--headless", f"--pack-extension={source}",
         f"--pack-extension-key={key_pem}", f"--user-data-dir={tmp_path / 'profile'}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    reference = tmp_path / "extension.crx"
    assert reference.exists(), done.stderr[-2000:]
    parsed = crx3.parse(reference.read_bytes())
    assert crx3.id_from_bytes(parsed.crx_id) == chromium_id(key)
    public_key = serialization.load_der_public_key(parsed.public_key)
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(parsed.signature, parsed.signed_bytes(), padding.PKCS1v15(), hashes.SHA256())
