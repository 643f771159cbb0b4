"""The agent's main loop: scan, track, spool, and let the sender deliver (DESIGN.md §1).

Every observation is written to the spool before anything is sent, so a crash or a stopped
collector loses nothing. Stopping ends open sessions with reason agent_stopped and records the
stop, then gives the sender a bounded time to flush.
"""

from __future__ import annotations

import logging
import threading
import time

from agent.catalog import Catalog, current_os, load_catalog
from agent.config import AgentConfig
from agent.enrollment import Enrollment, channel_for
from agent.events import Lifecycle, heartbeat_event, lifecycle_event, transition_event
from agent.scan import Scanner
from agent.sender import Sender, SenderSettings
from agent.service_notify import READY, STOPPING, Watchdog, notify
from agent.spool import Loss, LossNotice, Spool
from agent.tracker import SessionTracker, Transition
from commaudit.v1 import events_pb2

log = logging.getLogger(__name__)


class AgentDaemon:
    """Owns the scan loop; the spool and sender are handed in, so tests can build their own."""

    def __init__(
        self,
        device_id: str,
        catalog: Catalog,
        spool: Spool,
        sender: Sender,
        *,
        scan_interval_s: float,
        heartbeat_interval_s: float,
        flush_timeout_s: float = 5.0,
    ) -> None:
        self.device_id = device_id
        self.catalog = catalog
        self.spool = spool
        self.sender = sender
        self.scanner = Scanner(catalog.matcher_for(current_os()))
        self.tracker = SessionTracker()
        self.scan_interval_s = scan_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.flush_timeout_s = flush_timeout_s
        self._started_mono = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        """Scan until `stop` is set, then shut down cleanly."""
        self._record([self._lifecycle(Lifecycle.KIND_STARTED)])
        self.sender.start()
        notify(READY)  # systemd (Type=notify): the loop runs, dependants may start
        watchdog = Watchdog()
        next_heartbeat = time.monotonic()
        while True:
            self.tick()
            watchdog.ping()  # a loop that hangs stops pinging; WatchdogSec then restarts us
            if time.monotonic() >= next_heartbeat:
                self._record([self._heartbeat()])
                next_heartbeat = time.monotonic() + self.heartbeat_interval_s
            if stop.wait(self.scan_interval_s):
                break
        notify(STOPPING)
        self.shutdown()

    def tick(self) -> list[Transition]:
        """One scan: spool the sessions that began or ended since the last one."""
        transitions = self.tracker.update(self.scanner.scan(), time.monotonic())
        if transitions:
            self._record([transition_event(self.device_id, t) for t in transitions])
        return transitions

    def shutdown(self) -> None:
        stops = self.tracker.stop_all(time.monotonic())
        events = [transition_event(self.device_id, t) for t in stops]
        self._record([*events, self._lifecycle(Lifecycle.KIND_STOPPED)])
        if not self.sender.close(self.flush_timeout_s):
            log.warning("stopped with %d events still spooled", self.spool.depth())
        self.spool.close()

    def _record(self, events: list[events_pb2.Event]) -> None:
        self.spool.append(events)
        self.sender.wake()

    def _heartbeat(self) -> events_pb2.Event:
        return heartbeat_event(
            self.device_id,
            self.tracker.running,
            catalog_version=self.catalog.version,
            spool_depth=self.spool.depth(),
            events_dropped=self.spool.dropped(),
            uptime_ms=round((time.monotonic() - self._started_mono) * 1000),
        )

    def _lifecycle(self, kind: events_pb2.AgentLifecycle.Kind.ValueType) -> events_pb2.Event:
        return lifecycle_event(self.device_id, kind, catalog_version=self.catalog.version)


def loss_notice_for(device_id: str) -> LossNotice:
    """The spool's way to record a loss as an agent_lifecycle event of this device."""

    def notice(loss: Loss) -> events_pb2.Event:
        kind = {
            "dropped": Lifecycle.KIND_EVENTS_DROPPED,
            "rejected": Lifecycle.KIND_EVENTS_REJECTED,
            "reset": Lifecycle.KIND_SEQ_RESET,
        }[loss.kind]
        return lifecycle_event(
            device_id,
            kind,
            detail=loss.reason,
            first_seq=loss.first_seq,
            last_seq=loss.last_seq,
            count=loss.count,
        )

    return notice


def open_agent(config: AgentConfig, enrollment: Enrollment) -> AgentDaemon:
    """Wire the parts from a validated config and this device's enrollment: catalog, spool,
    a channel that trusts only the pinned CA, sender."""
    catalog = load_catalog(config.catalog)
    spool = Spool(
        config.state_dir / "spool.sqlite3",
        config.spool_max_bytes,
        loss_notice_for(enrollment.device_id),
    )
    channel = channel_for(config.state_dir, enrollment, config.collector or None)
    settings = SenderSettings(
        batch_max_events=config.batch_max_events, batch_max_delay_s=config.batch_max_delay_s
    )
    return AgentDaemon(
        enrollment.device_id,
        catalog,
        spool,
        Sender(spool, channel, enrollment.metadata, settings),
        scan_interval_s=config.scan_interval_s,
        heartbeat_interval_s=config.heartbeat_interval_s,
        flush_timeout_s=config.flush_timeout_s,
    )
