"""What every `commaudit` command that calls the collector shares: the connection options, one
call on a fresh channel, and how a refusal is shown (its status and message on stderr, exit 1;
exit 2 for bad input here, such as an unreadable connection file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import typer
from google.protobuf.message import Message

from admin.connection import ENV_VAR, Connection, ConnectionFileError
from commaudit.v1 import admin_service_pb2_grpc

T = TypeVar("T")
RPC_TIMEOUT_S = 30.0

ConnectionOption = Annotated[
    Path,
    typer.Option(
        "--connection",
        envvar=ENV_VAR,
        help="Connection file (written by 'commaudit-collector init').",
    ),
]
CollectorOption = Annotated[
    str | None, typer.Option("--collector", help="HOST:PORT, instead of the file's.")
]
PlaintextOption = Annotated[
    bool, typer.Option("--plaintext", help="No TLS; loopback collectors only.")
]


@contextmanager
def collector_errors() -> Iterator[None]:
    """A refusal by the collector: its status and message on stderr, exit 1."""
    try:
        yield
    except ConnectionFileError as exc:
        typer.echo(f"commaudit: {exc}", err=True)
        raise typer.Exit(2) from None
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        typer.echo(f"commaudit: collector said {getattr(code, 'name', code)}: {details}", err=True)
        raise typer.Exit(1) from None


def call(
    connection: Connection, method: Callable[[admin_service_pb2_grpc.AdminServiceStub], T]
) -> T:
    with connection.channel() as channel:
        return method(admin_service_pb2_grpc.AdminServiceStub(channel))


def ask(
    connection: Connection, method: str, request: Message, timeout: float = RPC_TIMEOUT_S
) -> Any:
    """One AdminService call by its name, with the operator's credential; the answer."""
    return call(
        connection,
        lambda stub: getattr(stub, method)(request, metadata=connection.metadata, timeout=timeout),
    )
