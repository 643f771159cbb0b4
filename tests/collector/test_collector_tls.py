"""TLS: agents trust only the CA they pinned; expired, foreign and mismatched certificates are
refused, by the collector at start and by the client at the handshake (DESIGN.md §4)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from collector.server import start_server
from collector.tls import (
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
    TlsError,
    adopt_tls,
    create_tls,
    load_server_tls,
)
from commaudit.v1 import agent_service_pb2, agent_service_pb2_grpc
from tests.collector.collector_harness import StartCollector, make_batch, metadata

NOW = dt.datetime.now(dt.UTC)


def report_over_tls(address: str, ca_pem: bytes, credential: str = "cad1.x." + "A" * 43) -> int:
    """Send one Report over TLS trusting `ca_pem`; the acked seq, or raises the RpcError."""
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem)) as channel:
        stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        answer = stub.Report(
            agent_service_pb2.ReportRequest(events=make_batch([1])),
            metadata=metadata(credential),
            timeout=10,
        )
        return int(answer.acked_seq)


def test_a_client_pinning_the_collectors_ca_reports_and_one_pinning_another_ca_cannot(
    tmp_path: Path, start_collector: StartCollector
) -> None:
    state = tmp_path / "collector"
    create_tls(state / "tls", ["localhost", "127.0.0.1"])
    create_tls(tmp_path / "impostor", ["localhost", "127.0.0.1"])
    collector = start_collector(plaintext=False)
    assert collector.report("tls-1", make_batch([1])).acked_seq == 1  # pins the right CA
    with pytest.raises(grpc.RpcError) as raised:
        report_over_tls(collector.address, (tmp_path / "impostor" / "ca.pem").read_bytes())
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    plain = grpc.insecure_channel(collector.address)
    with plain, pytest.raises(grpc.RpcError) as plain_raised:
        agent_service_pb2_grpc.AgentServiceStub(plain).Report(
            agent_service_pb2.ReportRequest(), timeout=5
        )
    assert plain_raised.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert collector.rows("SELECT device_id FROM events") == [("tls-1",)]


def test_a_certificate_for_another_host_name_is_refused_by_the_client(
    tmp_path: Path, start_collector: StartCollector
) -> None:
    state = tmp_path / "collector"
    create_tls(state / "tls", ["collector.city.example"])
    collector = start_collector(plaintext=False)
    with pytest.raises(grpc.RpcError) as raised:
        report_over_tls(collector.address, (state / "tls" / "ca.pem").read_bytes())
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


def test_an_expired_server_certificate_is_refused_at_start_naming_the_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "collector"
    create_tls(state / "tls", ["127.0.0.1"], now=NOW - dt.timedelta(days=900))
    with pytest.raises(TlsError, match=r"server\.pem: expired on "):
        asyncio.run(start_server(state, "127.0.0.1:0"))
    assert not (state / "commaudit.duckdb").exists()


def test_a_client_refuses_a_server_presenting_an_expired_certificate(tmp_path: Path) -> None:
    """The collector never serves one (previous test), so a bare gRPC server plays a stale or
    hostile endpoint presenting it."""
    create_tls(tmp_path / "old", ["127.0.0.1"], now=NOW - dt.timedelta(days=900))
    key = (tmp_path / "old" / SERVER_KEY_FILE).read_bytes()
    cert = (tmp_path / "old" / SERVER_CERT_FILE).read_bytes()

    async def handshake() -> grpc.StatusCode:
        server = grpc.aio.server()
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
        await server.start()
        try:
            ca = grpc.ssl_channel_credentials((tmp_path / "old" / "ca.pem").read_bytes())
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", ca) as channel:
                stub = agent_service_pb2_grpc.AgentServiceStub(channel)
                try:
                    await stub.Report(agent_service_pb2.ReportRequest(), timeout=5)
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK
        finally:
            await server.stop(None)

    assert asyncio.run(handshake()) == grpc.StatusCode.UNAVAILABLE


def test_the_organisations_material_is_checked_before_it_is_adopted(tmp_path: Path) -> None:
    create_tls(tmp_path / "org", ["collector.city.example"])
    create_tls(tmp_path / "other", ["collector.city.example"])
    org, other = tmp_path / "org", tmp_path / "other"
    adopt_tls(tmp_path / "ok", org / "ca.pem", org / "server.pem", org / "server.key")
    assert load_server_tls(tmp_path / "ok").cert_pem == (org / "server.pem").read_bytes()
    with pytest.raises(TlsError, match="not issued by the CA in"):
        adopt_tls(tmp_path / "x1", other / "ca.pem", org / "server.pem", org / "server.key")
    with pytest.raises(TlsError, match="this key does not belong to the certificate"):
        adopt_tls(tmp_path / "x2", org / "ca.pem", org / "server.pem", other / "server.key")
    (tmp_path / "garbage.pem").write_text("not a certificate")
    with pytest.raises(TlsError, match=r"garbage\.pem: not a PEM certificate"):
        adopt_tls(tmp_path / "x3", tmp_path / "garbage.pem", org / "server.pem", org / "server.key")
    assert not any((tmp_path / name).exists() for name in ("x1", "x2", "x3"))


def test_missing_tls_material_names_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="run 'commaudit-collector init'"):
        load_server_tls(tmp_path / "tls")


def test_keys_are_p256_and_written_owner_only(tmp_path: Path) -> None:
    create_tls(tmp_path, ["localhost"])
    for name in ("ca.key", "server.key"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    tls = load_server_tls(tmp_path)
    key = serialization.load_pem_private_key(tls.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert tls.not_after > NOW + dt.timedelta(days=800)
