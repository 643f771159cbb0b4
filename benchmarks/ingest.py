"""Collector ingest: agents' batches over gRPC to committed rows, against the in-process floor.

Floor (same run, same batches): parse each serialized ReportRequest, plan it against the seq
ledger, encode it to Arrow and commit it into a fresh DuckDB file, grouped as the writer groups,
with no gRPC and no threads. End to end: the installed `commaudit-collector` on 127.0.0.1 and
--devices enrolled agent threads over TLS, each with one Report in flight (as real agents),
sending pre-serialized batches, timed from the first send to the last acknowledgement.
Target: end to end >= 50% of the floor. Client and server share this machine's cores, so the
ratio is conservative.

    python benchmarks/ingest.py [--devices 8] [--batches 40] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc
from collector_process import ca_credentials, init_collector, register_devices, start_collector

from collector.encode import encode_events
from collector.store import Store
from commaudit.v1 import agent_service_pb2, events_pb2

REPORT = "/commaudit.v1.AgentService/Report"


def make_batches(device: str, batches: int, size: int) -> list[bytes]:
    """Realistic mix: mostly heartbeats listing two sessions, some app starts and stops."""
    now_ms = time.time_ns() // 1_000_000
    sessions = [str(uuid.uuid4()), str(uuid.uuid4())]
    out, seq = [], 0
    for _ in range(batches):
        events = []
        for _ in range(size):
            seq += 1
            event = events_pb2.Event(
                device_id=device, seq=seq, event_id=str(uuid.uuid4()), occurred_at_ms=now_ms
            )
            if seq % 10:
                event.heartbeat.running.add(session_id=sessions[0], app_id="outlook",
                                            category=1, os_user="ann", process_count=1)  # fmt: skip
                event.heartbeat.running.add(session_id=sessions[1], app_id="teams",
                                            category=2, os_user="ann", process_count=3)  # fmt: skip
                event.heartbeat.agent_version = "0.1.0"
            else:
                event.app_started.CopyFrom(events_pb2.AppStarted(
                    session_id=str(uuid.uuid4()), app_id="zoom", category=5, os_user="ann",
                    process_count=1))  # fmt: skip
            events.append(event)
        out.append(agent_service_pb2.ReportRequest(events=events).SerializeToString())
    return out


def count_events(raws: list[bytes]) -> int:
    return sum(len(agent_service_pb2.ReportRequest.FromString(raw).events) for raw in raws)


def floor(work: dict[str, list[bytes]], db: Path, group_events: int) -> float:
    """Events per second, in process: parse, plan, encode, commit."""
    store = Store(db)
    ledger = store.load_ledger()
    queue = [(device, raw) for raws in zip(*work.values(), strict=True)
             for device, raw in zip(work, raws, strict=True)]  # fmt: skip
    total, started = 0, time.perf_counter()
    while queue:
        group, size = [], 0
        while queue and size < group_events:
            device, raw = queue.pop(0)
            events = list(agent_service_pb2.ReportRequest.FromString(raw).events)
            group.append((device, events))
            size += len(events)
        now_ms = time.time_ns() // 1_000_000
        plan = ledger.plan_group([(d, [e.seq for e in evs]) for d, evs in group], now_ms)
        store.commit(encode_events(group, received_at_ms=now_ms), plan)
        ledger.apply(plan)
        total += size
    elapsed = time.perf_counter() - started
    store.close()
    return total / elapsed


def end_to_end(work: dict[str, list[bytes]], tmp: Path) -> tuple[float, list[float]]:
    state = tmp / "collector"
    init_collector(state)
    credentials = register_devices(state, list(work))
    # Capacity, not policy: the per-device rate limit is lifted so the writer is what is measured.
    collector, address = start_collector(state, "--device-events-per-s", "1e9")
    latencies: list[float] = []
    total = sum(count_events(raws) for raws in work.values())
    try:
        tls = grpc.ssl_channel_credentials(ca_credentials(state))
        channel = grpc.secure_channel(address, tls)
        report = channel.unary_unary(
            REPORT,
            request_serializer=None,  # the batches are already bytes, as an agent's spool holds
            response_deserializer=agent_service_pb2.ReportResponse.FromString,
        )
        grpc.channel_ready_future(channel).result(timeout=30)

        def agent(device: str, raws: list[bytes]) -> None:
            for raw in raws:
                t0 = time.perf_counter()
                auth = (("authorization", f"Bearer {credentials[device]}"),)
                report(raw, metadata=auth, timeout=60)
                latencies.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=agent, args=item) for item in work.items()]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        channel.close()
    finally:
        collector.terminate()
        collector.wait(60)
    return total / elapsed, sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    work = {f"bench-{i:03d}": make_batches(f"bench-{i:03d}", args.batches, args.batch_size)
            for i in range(args.devices)}  # fmt: skip
    events = args.devices * args.batches * args.batch_size
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        floor_rate = floor(work, tmp / "floor.duckdb", group_events=5000)
        e2e_rate, latencies = end_to_end(work, tmp)
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"{events} events: {args.devices} devices x {args.batches} batches x {args.batch_size}\n")
    print(f"{'path':<44}{'events/s':>12}")
    print(f"{'floor: parse + plan + encode + commit':<44}{floor_rate:>12,.0f}")
    print(f"{'end to end: agents -> gRPC -> committed':<44}{e2e_rate:>12,.0f}")
    print(f"\nratio end to end / floor: {e2e_rate / floor_rate:.0%}   (target >= 50%)")
    print(f"Report latency (send to ack): p50 {p50:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()
