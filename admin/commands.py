"""`commaudit enroll-token create`, `commaudit device list|revoke`: one AdminService call each.

Exit statuses: 0 done; 1 the collector refused or could not be reached (its status and message
are printed); 2 bad input here (option values, connection file).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated

import typer

from admin.connection import load_connection
from admin.rpc import CollectorOption, ConnectionOption, PlaintextOption, ask, collector_errors
from commaudit.v1 import admin_service_pb2, agent_service_pb2

enroll_token_app = typer.Typer(
    help="One-time enrollment tokens for new devices.", no_args_is_help=True
)
device_app = typer.Typer(help="Enrolled devices.", no_args_is_help=True)

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_OWNERSHIP = {
    "employer": agent_service_pb2.OWNERSHIP_EMPLOYER,
    "personal": agent_service_pb2.OWNERSHIP_PERSONAL,
}
_OWNERSHIP_NAME = {value: name for name, value in _OWNERSHIP.items()}


def parse_duration(text: str) -> int:
    """'7d', '12h', '30m', '90s' -> seconds."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 7d, 12h, 30m or 90s")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


@enroll_token_app.command("create")
def create_token(
    org: Annotated[str, typer.Option("--org", help="city or library.")],
    ownership: Annotated[
        str, typer.Option("--ownership", help="employer (§3.1) or personal (§3.2).")
    ],
    connection_file: ConnectionOption,
    employee: Annotated[
        str, typer.Option("--employee", help="Employee id the device is for.")
    ] = "",
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime: 90s, 30m, 12h, 7d (1 minute to 90 days).")
    ] = "7d",
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Make a one-time token; give it to the one device it is for."""
    if org not in ("city", "library"):
        raise typer.BadParameter(f"{org!r} is not city or library", param_hint="--org")
    if ownership not in _OWNERSHIP:
        raise typer.BadParameter(
            f"{ownership!r} is not employer or personal", param_hint="--ownership"
        )
    lifetime = parse_duration(expires)
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        request = admin_service_pb2.CreateEnrollmentTokenRequest(
            org=org, ownership=_OWNERSHIP[ownership], employee_id=employee, expires_in_s=lifetime
        )
        answer = ask(connection, "CreateEnrollmentToken", request)
    expires_at = datetime.fromtimestamp(answer.expires_at_ms / 1000, UTC)
    typer.echo(answer.token)
    typer.echo(
        f"token {answer.token_id}: {org}, {ownership}"
        + (f", employee {employee}" if employee else "")
        + f"; one use, expires {expires_at:%Y-%m-%d %H:%M} UTC.\n"
        f"On the device: commaudit-agent enroll --collector {connection.collector}"
        " --token <token> --ca-file <the collector's ca.pem>",
        err=True,
    )


@device_app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(help="The device's id (commaudit device list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the audit log.")],
    connection_file: ConnectionOption,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Refuse the device's credential from now on; its stored events stay."""
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        request = admin_service_pb2.RevokeDeviceRequest(device_id=device_id, reason=reason)
        answer = ask(connection, "RevokeDevice", request)
    at = datetime.fromtimestamp(answer.revoked_at_ms / 1000, UTC)
    typer.echo(f"device {device_id} revoked at {at:%Y-%m-%d %H:%M:%S} UTC")


@device_app.command("list")
def list_devices(
    connection_file: ConnectionOption,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Every enrolled device, revoked ones included."""
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(connection, "ListDevices", admin_service_pb2.ListDevicesRequest())
    for device in answer.devices:
        row = {
            "device_id": device.device_id,
            "org": device.org,
            "ownership": _OWNERSHIP_NAME.get(device.ownership, "?"),
            "employee_id": device.employee_id,
            "hostname": device.hostname,
            "os": device.os,
            "enrolled_at": _iso(device.enrolled_at_ms),
            "revoked_at": _iso(device.revoked_at_ms) if device.revoked_at_ms else None,
        }
        if as_json:
            typer.echo(json.dumps(row))
        else:
            state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
            typer.echo(
                f"{row['device_id']:<52} {row['org']:<8} {row['ownership']:<9}"
                f" {row['employee_id'] or '-':<12} {state}"
            )
    if not answer.devices and not as_json:
        typer.echo("no device has enrolled yet")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
