"""The collector's TLS material: a private CA and the server certificate it signs, or the
organisation's own (DESIGN.md §4: TLS by default).

Agents pin the CA they were enrolled with (agent/enrollment.py), so a certificate from any
other authority, public ones included, is refused. Keys are ECDSA P-256: small, fast to
handshake, accepted by every gRPC/BoringSSL build. Private keys are written owner-only.
A server certificate that has expired, is not yet valid or does not belong to its key is
refused at start with a message naming the file, not discovered later as failed handshakes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.atomic_file import PUBLIC, SECRET, write_atomically

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server.key"
CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=825)  # the longest browsers ever accepted; renewed by init


class TlsError(ValueError):
    """TLS material that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class ServerTls:
    """What the gRPC server needs, read from a state directory's tls/ folder."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    not_after: dt.datetime


def default_hostnames() -> list[str]:
    """Names agents may use to reach this machine: loopback plus its own host names."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()]
    return list(dict.fromkeys(name for name in names if name))


def create_tls(directory: Path, hostnames: list[str], now: dt.datetime | None = None) -> None:
    """A new CA and a server certificate for `hostnames`, written into `directory`."""
    now = now or dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "commaudit collector CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = issue_server_cert(ca_cert, ca_key, server_key, hostnames, now, SERVER_LIFETIME)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(
        directory / CA_FILE, ca_cert.public_bytes(serialization.Encoding.PEM), mode=PUBLIC
    )
    write_atomically(directory / CA_KEY_FILE, _key_pem(ca_key), mode=SECRET)
    write_atomically(
        directory / SERVER_CERT_FILE,
        server_cert.public_bytes(serialization.Encoding.PEM),
        mode=PUBLIC,
    )
    write_atomically(directory / SERVER_KEY_FILE, _key_pem(server_key), mode=SECRET)


def issue_server_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    server_key: ec.EllipticCurvePrivateKey,
    hostnames: list[str],
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> x509.Certificate:
    """A server certificate signed by the CA; IP literals go in as IP SANs, names as DNS."""
    if not hostnames:
        raise TlsError("a server certificate needs at least one host name or address")
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(x509.SubjectAlternativeName([_san(name) for name in hostnames]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )


def adopt_tls(directory: Path, ca_file: Path, cert_file: Path, key_file: Path) -> None:
    """Take the organisation's CA and server certificate, after checking they fit together."""
    ca_pem, cert_pem, key_pem = (_read(path) for path in (ca_file, cert_file, key_file))
    _check(ca_pem, cert_pem, key_pem, (ca_file, cert_file, key_file), dt.datetime.now(dt.UTC))
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / CA_FILE, ca_pem, mode=PUBLIC)
    write_atomically(directory / SERVER_CERT_FILE, cert_pem, mode=PUBLIC)
    write_atomically(directory / SERVER_KEY_FILE, key_pem, mode=SECRET)


def load_server_tls(directory: Path, now: dt.datetime | None = None) -> ServerTls:
    """The TLS material to serve with, checked: refused when expired or mismatched."""
    paths = (directory / CA_FILE, directory / SERVER_CERT_FILE, directory / SERVER_KEY_FILE)
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise TlsError(
            f"no TLS material ({', '.join(missing)} missing): run 'commaudit-collector init'"
            " or serve with --plaintext on loopback"
        )
    ca_pem, cert_pem, key_pem = (_read(path) for path in paths)
    not_after = _check(ca_pem, cert_pem, key_pem, paths, now or dt.datetime.now(dt.UTC))
    return ServerTls(ca_pem, cert_pem, key_pem, not_after)


def _check(
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    paths: tuple[Path, Path, Path],
    now: dt.datetime,
) -> dt.datetime:
    ca_path, cert_path, key_path = paths
    ca = _load_cert(ca_pem, ca_path)
    cert = _load_cert(cert_pem, cert_path)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsError(f"{key_path}: not an unencrypted PEM private key ({exc})") from None
    if key.public_key() != cert.public_key():
        raise TlsError(f"{key_path}: this key does not belong to the certificate {cert_path}")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise TlsError(f"{cert_path}: not issued by the CA in {ca_path}") from None
    for path, c in ((ca_path, ca), (cert_path, cert)):
        if now < c.not_valid_before_utc:
            raise TlsError(f"{path}: not valid before {c.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
        if now >= c.not_valid_after_utc:
            raise TlsError(f"{path}: expired on {c.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    return cert.not_valid_after_utc


def _load_cert(pem: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise TlsError(f"{path}: not a PEM certificate") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsError(f"{path}: cannot read ({exc.strerror})") from None


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
