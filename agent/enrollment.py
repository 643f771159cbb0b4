"""This device's enrollment: the credential it was given and the collector CA it pinned.

`commaudit-agent enroll` exchanges a one-time token for a device credential (DESIGN.md §4) and
keeps it in the state directory:

    enrollment.json   device id, credential (secret), collector address, org, ownership
    collector-ca.pem  the CA given at enrollment; the only authority trusted from then on

Both are written through a temporary file and a rename, so a crash leaves either the old state
or the new; the credential owner-only (a credential file others can read is refused at start, as
SSH does), the CA, a public certificate, readable by all.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.atomic_file import PUBLIC, SECRET, write_atomically
from agent.collector_channel import CollectorChannel, RpcError, StatusCode, agent_method
from agent.config import ConfigError, is_loopback, split_address
from agent.events import AGENT_VERSION
from commaudit.v1 import agent_service_pb2

ENROLLMENT_FILE = "enrollment.json"
CA_FILE = "collector-ca.pem"
ENROLL_TIMEOUT_S = 30.0
_OWNERSHIP = {
    agent_service_pb2.OWNERSHIP_EMPLOYER: "employer",
    agent_service_pb2.OWNERSHIP_PERSONAL: "personal",
}


class EnrollmentError(Exception):
    """Enrollment failed or the stored enrollment cannot be used; the message says why."""


@dataclass(frozen=True)
class Enrollment:
    device_id: str
    credential: str
    collector: str
    plaintext: bool
    org: str
    ownership: str
    """employer or personal: decides the privacy profile (DESIGN.md §3)."""
    employee_id: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.credential}"),)


def enroll(
    state_dir: Path,
    collector: str,
    token: str,
    ca_file: Path | None,
    *,
    plaintext: bool = False,
    hostname: str | None = None,
) -> Enrollment:
    """Redeem `token` at `collector` and store what it gives; refuses a second enrollment.
    The device id the collector gives starts with `hostname` (default: this machine's)."""
    if (state_dir / ENROLLMENT_FILE).exists():
        current = load_enrollment(state_dir)
        raise EnrollmentError(
            f"already enrolled as {current.device_id} ({state_dir / ENROLLMENT_FILE});"
            " an admin revokes it and removes that file before the device enrolls again"
        )
    host, _ = split_address(collector)
    ca_pem = _check_transport(host, ca_file, plaintext)
    request = agent_service_pb2.EnrollRequest(
        token=token.strip(),
        hostname=hostname or socket.gethostname(),
        os=platform.system().lower().replace("darwin", "macos"),
        agent_version=AGENT_VERSION,
    )
    with CollectorChannel(collector, ca_pem) as channel:
        try:
            answer = channel.call(
                agent_method("Enroll"),
                request,
                agent_service_pb2.EnrollResponse,
                timeout=ENROLL_TIMEOUT_S,
            )
        except RpcError as error:
            raise EnrollmentError(_explain(collector, error)) from None
    enrollment = Enrollment(
        device_id=answer.device_id,
        credential=answer.device_credential,
        collector=collector,
        plaintext=plaintext,
        org=answer.org,
        ownership=_OWNERSHIP.get(answer.ownership, "employer"),
        employee_id=answer.employee_id,
    )
    # 0711: every user may open status.json and collector-ca.pem by name (`commaudit-agent
    # status`), none may list the directory; the credential and the spool are owner-only.
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
    if ca_pem is not None:
        write_atomically(state_dir / CA_FILE, ca_pem, mode=PUBLIC)
    body = json.dumps(asdict(enrollment), indent=2).encode()
    write_atomically(state_dir / ENROLLMENT_FILE, body, mode=SECRET)
    return enrollment


def load_enrollment(state_dir: Path) -> Enrollment:
    path = state_dir / ENROLLMENT_FILE
    try:
        mode = path.stat().st_mode
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnrollmentError(
            f"this device is not enrolled ({path} missing): run"
            " 'commaudit-agent enroll --collector HOST:PORT --token TOKEN --ca-file CA.pem'"
        ) from None
    except (OSError, ValueError) as error:
        raise EnrollmentError(f"{path}: unreadable ({error})") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EnrollmentError(
            f"{path}: readable by others (mode {stat.filemode(mode)}); it holds this device's"
            f" credential: chmod 600 {path}"
        )
    try:
        enrollment = Enrollment(**body)
    except TypeError as error:
        raise EnrollmentError(f"{path}: not an enrollment file ({error})") from None
    if not enrollment.plaintext and not (state_dir / CA_FILE).is_file():
        raise EnrollmentError(f"{state_dir / CA_FILE}: the pinned collector CA is missing")
    return enrollment


def channel_for(
    state_dir: Path, enrollment: Enrollment, collector: str | None = None
) -> CollectorChannel:
    """A channel to the collector that trusts only the CA pinned at enrollment."""
    address = collector or enrollment.collector
    if enrollment.plaintext:
        _check_transport(split_address(address)[0], None, True)
        return CollectorChannel(address, None)
    return CollectorChannel(address, (state_dir / CA_FILE).read_bytes())


def _check_transport(host: str, ca_file: Path | None, plaintext: bool) -> bytes | None:
    """The CA's PEM for TLS; None for plaintext, which only a loopback collector may use."""
    if plaintext:
        if not is_loopback(host):
            raise ConfigError(
                f"collector: plaintext is allowed only to a loopback address, not {host!r}"
            )
        return None
    if ca_file is None:
        raise ConfigError("--ca-file: the collector's CA certificate (ca.pem) is required for TLS")
    try:
        ca_pem = ca_file.read_bytes()
    except OSError as error:
        raise ConfigError(f"--ca-file: {ca_file}: cannot read ({error.strerror})") from None
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise ConfigError(f"--ca-file: {ca_file} is not a PEM certificate")
    return ca_pem


def _explain(collector: str, error: RpcError) -> str:
    code, details = error.code, error.details
    if code == StatusCode.UNAVAILABLE:
        return (
            f"cannot reach the collector at {collector} over TLS with the given CA"
            f" (wrong address, collector down, or its certificate is not from that CA): {details}"
        )
    return f"the collector refused enrollment ({code.name}): {details}"
