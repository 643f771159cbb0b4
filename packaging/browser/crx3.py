"""The extension as a CRX3 file, signed with the organisation's RSA key, and its extension ID.

The format is Chromium's (components/crx_file/crx3.proto, crx_creator.cc, crx_verifier.cc):

    "Cr24" | le32 3 | le32 len(header) | header (a CrxFileHeader message) | the ZIP archive

    CrxFileHeader { repeated AsymmetricKeyProof sha256_with_rsa = 2;
                    optional bytes signed_header_data = 10000; }   // a serialised SignedData
    AsymmetricKeyProof { optional bytes public_key = 1;   // DER SubjectPublicKeyInfo
                         optional bytes signature = 2; }
    SignedData { optional bytes crx_id = 1; }              // the first 16 bytes of SHA-256(key)

The signature is RSASSA-PKCS1-v1_5 with SHA-256 (crx_verifier.cc verifies `RSA_PKCS1_SHA256`,
whatever the proto's comment says about PSS) over

    b"CRX3 SignedData\\x00" | le32 len(signed_header_data) | signed_header_data | archive

(`kSignatureContext` is a C string whose terminating NUL is part of what is signed).

The three messages hold only length-delimited fields, so they are written and read by the few
lines below rather than through generated protobuf code: one proto file and its generated module
for three byte strings would be more to keep in step than the encoding itself, and the test reads
the header back with these same rules checked against hand-built bytes.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAGIC = b"Cr24"
VERSION = 3
SIGNATURE_CONTEXT = b"CRX3 SignedData\x00"
MAX_HEADER = 1 << 18
"""crx_verifier.cc's kMaxHeaderSize: Chromium refuses a larger header."""

# Field numbers of crx3.proto.
SHA256_WITH_RSA = 2
SIGNED_HEADER_DATA = 10000
PUBLIC_KEY = 1
SIGNATURE = 2
CRX_ID = 1

# A fixed timestamp for every archive member: the same sources give the same archive bytes.
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Crx3:
    """A CRX3 file taken apart: what a verifier needs, and what it verifies."""

    public_key: bytes
    signature: bytes
    signed_header_data: bytes
    crx_id: bytes
    archive: bytes

    def signed_bytes(self) -> bytes:
        """Exactly the bytes the signature covers."""
        size = struct.pack("<I", len(self.signed_header_data))
        return SIGNATURE_CONTEXT + size + self.signed_header_data + self.archive


def extension_id(public_key_der: bytes) -> str:
    """Chromium's ID for a key: SHA-256 of the DER SubjectPublicKeyInfo, first 16 bytes, each
    hex digit 0-f written as a letter a-p (crx_file/id_util.cc; letters so that an ID never
    looks like a number in an origin's host part)."""
    return id_from_bytes(hashlib.sha256(public_key_der).digest()[:16])


def id_from_bytes(crx_id: bytes) -> str:
    return "".join(chr(ord("a") + int(digit, 16)) for digit in crx_id.hex())


def public_key_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_key(pem: Path) -> rsa.RSAPrivateKey:
    """The organisation's signing key: an unencrypted RSA key in PEM, PKCS#8 (what Chrome's
    "Pack extension" writes and `openssl genpkey -algorithm RSA` makes) or PKCS#1."""
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{pem}: not an RSA private key (CRX3 packages are signed with RSA)")
    return key


def throwaway_key() -> rsa.RSAPrivateKey:
    """A key for tests and development builds: every build gets a different extension ID."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def zip_directory(source: Path) -> bytes:
    """Every file under `source`, sorted, with fixed timestamps: reproducible archive bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def build(archive: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """The CRX3 file of a ZIP archive, signed with `key`."""
    der = public_key_der(key)
    signed_header_data = _field(CRX_ID, hashlib.sha256(der).digest()[:16])
    size = struct.pack("<I", len(signed_header_data))
    signature = key.sign(
        SIGNATURE_CONTEXT + size + signed_header_data + archive,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    proof = _field(PUBLIC_KEY, der) + _field(SIGNATURE, signature)
    header = _field(SHA256_WITH_RSA, proof) + _field(SIGNED_HEADER_DATA, signed_header_data)
    return MAGIC + struct.pack("<II", VERSION, len(header)) + header + archive


def parse(data: bytes) -> Crx3:
    """A CRX3 file taken apart; ValueError when it is not one with a single RSA proof."""
    if data[:4] != MAGIC:
        raise ValueError("not a CRX file: no Cr24 magic")
    version, header_size = struct.unpack_from("<II", data, 4)
    if version != VERSION:
        raise ValueError(f"CRX version {version}, expected {VERSION}")
    if header_size > MAX_HEADER or 12 + header_size > len(data):
        raise ValueError(f"header of {header_size} bytes does not fit")
    header = _fields(data[12 : 12 + header_size])
    proofs = header.get(SHA256_WITH_RSA, [])
    if len(proofs) != 1:
        raise ValueError(f"{len(proofs)} sha256_with_rsa proofs, expected exactly one")
    proof = _fields(proofs[0])
    signed_header_data = _only(header, SIGNED_HEADER_DATA, "signed_header_data")
    return Crx3(
        public_key=_only(proof, PUBLIC_KEY, "public_key"),
        signature=_only(proof, SIGNATURE, "signature"),
        signed_header_data=signed_header_data,
        crx_id=_only(_fields(signed_header_data), CRX_ID, "crx_id"),
        archive=data[12 + header_size :],
    )


def _only(fields: dict[int, list[bytes]], number: int, name: str) -> bytes:
    values = fields.get(number, [])
    if len(values) != 1:
        raise ValueError(f"{name} (field {number}) appears {len(values)} times, expected once")
    return values[0]


def _field(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2): key varint, length varint, bytes."""
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(message: bytes) -> dict[int, list[bytes]]:
    """The length-delimited fields of a message by number; any other wire type is refused,
    as none of crx3.proto's fields uses one."""
    fields: dict[int, list[bytes]] = {}
    position = 0
    while position < len(message):
        key, position = _read_varint(message, position)
        if key & 7 != 2:
            raise ValueError(f"field {key >> 3}: wire type {key & 7}, expected 2 (bytes)")
        length, position = _read_varint(message, position)
        if position + length > len(message):
            raise ValueError(f"field {key >> 3}: {length} bytes past the end of the message")
        fields.setdefault(key >> 3, []).append(message[position : position + length])
        position += length
    return fields


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position, shift = position + 1, shift + 7
        if not byte & 0x80:
            return value, position
