"""The agent's main loop: scan, track, spool, and let the sender deliver (DESIGN.md §1).

Every observation is written to the spool before anything is sent, so a crash or a stopped
collector loses nothing. Stopping ends open sessions with reason agent_stopped and records the
stop, then gives the sender a bounded time to flush.

While it runs the daemon also follows its files (DESIGN.md §3, watchdog): a saved config or
catalog is reloaded and an app installed or removed is reported. watchdog's threads only note
what changed (agent/fs_watch.py); each scan takes what has settled and acts on this thread, so
the scanner, the inventory and the spool are only ever used from here.

Catalog web services open in browser tabs (issue 9) reach it through agent/browser_surface.py:
its socket's thread keeps the tab state, and each scan hands the tabs open now to the tracker
beside the processes, so a tab and the app's window or client for one user are one session.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from agent.browser_surface import BrowserSurface
from agent.catalog import Catalog, current_os, load_catalog
from agent.central_config import CentralConfig, central_config_for
from agent.clock_jump import ClockWatch, describe_jump
from agent.config import AgentConfig, ConfigSource
from agent.enrollment import Enrollment, channel_for
from agent.events import Lifecycle, heartbeat_event, lifecycle_event, transition_event
from agent.fs_watch import Watcher
from agent.hot_reload import WatchedCatalog, WatchedConfig
from agent.installs import InstallChange, InstallInventory, default_install_dirs, install_event
from agent.privacy_profile import GatedSpool, Profile
from agent.scan import Scanner
from agent.sender import Sender, SenderSettings
from agent.service_notify import READY, STOPPING, Watchdog, notify
from agent.spool import Loss, LossNotice, Spool
from agent.status_file import BrowserStatus, DeviceFacts, StatusFile
from agent.tracker import SessionTracker, Transition
from commaudit.v1 import events_pb2

log = logging.getLogger(__name__)

INVENTORY_FILE = "installs.json"
_CONFIG, _CATALOG = "config", "catalog"  # watch keys; an install directory's key is its path


@dataclass
class Watches:
    """What the daemon follows while it runs; each part is optional."""

    config: WatchedConfig | None = None
    catalog: WatchedCatalog | None = None
    installs: InstallInventory | None = None
    """Taken whole at each start, then kept up to date."""
    live: bool = True
    """Follow changes as they happen; False: the install inventory at start only."""
    debounce_s: float = 0.5
    """Quiet time after a file's last event before it is read: a save is many events."""
    profile: Profile = field(default_factory=lambda: Profile("employer"))
    """Which apps of a reloaded catalog the scanner and the inventory look for."""
    central: CentralConfig | None = None
    """Asks the collector for a newer agent config and catalog (agent/central_config.py)."""


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
        watches: Watches | None = None,
        wall_clock: Callable[[], float] = time.time,
        status: StatusFile | None = None,
        browser: BrowserSurface | None = None,
    ) -> None:
        """wall_clock: read each scan to detect clock jumps; a test passes one it can move.
        browser: where the browsers' tabs come from; None: no browser surface."""
        self.device_id = device_id
        self.catalog = catalog
        self.spool = spool
        self.sender = sender
        self.scanner = Scanner(catalog.matcher_for(current_os()))
        self.tracker = SessionTracker()
        self.scan_interval_s = scan_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.flush_timeout_s = flush_timeout_s
        self.watches = watches or Watches()
        self.status = status
        self.browser = browser
        self._browser_shown: BrowserStatus | None = None
        self._watcher: Watcher | None = None
        self._clock = ClockWatch(wall_clock)
        self._next_heartbeat = 0.0
        self._started_mono = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        """Scan until `stop` is set, then shut down cleanly."""
        problem = self.browser.start() if self.browser is not None else ""
        self._record([self._lifecycle(Lifecycle.KIND_STARTED, problem)])
        self.sender.start()
        self.start_watching()
        notify(READY)  # systemd (Type=notify): the loop runs, dependants may start
        service_watchdog = Watchdog()
        self._next_heartbeat = time.monotonic()
        while True:
            self.tick()
            service_watchdog.ping()  # a loop that hangs stops pinging; WatchdogSec restarts us
            if time.monotonic() >= self._next_heartbeat:
                self._record([self._heartbeat()])
                self._write_status("running")
                self._next_heartbeat = time.monotonic() + self.heartbeat_interval_s
            if stop.wait(self.scan_interval_s):
                break
        notify(STOPPING)
        self.shutdown()

    def start_watching(self) -> None:
        """Set the watches, then take the install inventory: a change in between is seen
        twice, never missed."""
        watches = self.watches
        if watches.live and (watches.config or watches.catalog or watches.installs):
            self._watcher = _watcher_for(watches)
        if watches.installs is not None:
            self._report_installs(watches.installs.refresh())

    def tick(self) -> list[Transition]:
        """One scan: spool the sessions that began or ended since the last one, after whatever
        the clock and the watched files did."""
        jump_ms = self._clock.check()
        if jump_ms is not None:
            log.warning("wall clock jumped %s", describe_jump(jump_ms))
            self._record([self._lifecycle(Lifecycle.KIND_CLOCK_JUMP, describe_jump(jump_ms))])
        changed = self._watcher.take() if self._watcher is not None else set()
        if self.watches.central is not None:
            changed |= self.watches.central.poll()  # never waits: its thread does the asking
        self._take_changes(changed)
        running = self.scanner.scan()
        tabs = self.browser.open_tabs(self.catalog) if self.browser is not None else None
        transitions = self.tracker.update(running, time.monotonic(), tabs)
        if transitions:
            self._record([transition_event(self.device_id, t) for t in transitions])
        if self.browser is not None and self.browser.status(self.catalog) != self._browser_shown:
            self._write_status("running")  # what status lists of the tabs follows them
        return transitions

    def _take_changes(self, keys: set[str]) -> None:
        watches = self.watches
        if _CONFIG in keys and watches.config is not None:
            self._reload_config(watches.config)
        if _CATALOG in keys and watches.catalog is not None:
            self._reload_catalog(watches.catalog)
        roots = keys - {_CONFIG, _CATALOG}
        if roots and watches.installs is not None:
            self._report_installs(watches.installs.refresh(roots))

    def _reload_config(self, watched: WatchedConfig) -> None:
        outcome = watched.reload()
        if outcome is None:
            return
        if not outcome.rejected:
            self._apply_settings(watched.config)
        self._record([self._lifecycle(Lifecycle.KIND_CONFIG_RELOADED, outcome.detail)])

    def _apply_settings(self, config: AgentConfig) -> None:
        """The settings hot_reload.LIVE_SETTINGS names; each is read afresh where it is used."""
        self.scan_interval_s = config.scan_interval_s
        self.heartbeat_interval_s = config.heartbeat_interval_s
        self._next_heartbeat = min(
            self._next_heartbeat, time.monotonic() + config.heartbeat_interval_s
        )
        self.flush_timeout_s = config.flush_timeout_s
        self.sender.settings = replace(
            self.sender.settings,
            batch_max_events=config.batch_max_events,
            batch_max_delay_s=config.batch_max_delay_s,
        )
        self.spool.max_bytes = config.spool_max_bytes  # enforced at the next append
        if self.browser is not None:
            self.browser.set_report_incognito(config.browser_incognito)

    def _reload_catalog(self, watched: WatchedCatalog) -> None:
        outcome = watched.reload()
        if outcome is None:
            return
        if not outcome.rejected:
            self.catalog = self.watches.profile.catalog(watched.catalog)
            if isinstance(self.spool, GatedSpool):
                self.spool.catalog = watched.catalog
            self.scanner.set_matcher(self.catalog.matcher_for(current_os()))
            if self.browser is not None:
                self.browser.set_catalog(self.catalog)
        self._record([self._lifecycle(Lifecycle.KIND_CATALOG_RELOADED, outcome.detail)])
        if not outcome.rejected and self.watches.installs is not None:
            installs = self.watches.profile.install_catalog(watched.catalog)
            self._report_installs(self.watches.installs.set_catalog(installs))

    def _report_installs(self, changes: list[InstallChange]) -> None:
        """Spool first, then remember them as reported: a crash between reports twice."""
        assert self.watches.installs is not None
        for change in changes:
            log.info(
                "%s %s: %s",
                "installed" if change.installed else "removed",
                change.app_id,
                change.path,
            )
        if changes:
            self._record([install_event(self.device_id, change) for change in changes])
        self.watches.installs.save()

    def shutdown(self) -> None:
        """Stop following files (watchdog's threads are joined), end the sessions, flush."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self.watches.central is not None:
            self.watches.central.close()
        if self.browser is not None:
            self.browser.close()  # the hosts see the agent go; their tabs' sessions end below
        stops = self.tracker.stop_all(time.monotonic())
        events = [transition_event(self.device_id, t) for t in stops]
        self._record([*events, self._lifecycle(Lifecycle.KIND_STOPPED)])
        self.scanner.close()  # its kept /proc files, now rather than whenever it is collected
        if not self.sender.close(self.flush_timeout_s):
            log.warning("stopped with %d events still spooled", self.spool.depth())
        self._write_status("stopped")
        self.spool.close()

    def _write_status(self, state: str) -> None:
        browsers = self.browser.status(self.catalog) if self.browser is not None else None
        self._browser_shown = browsers
        if self.status is not None:
            self.status.write(self.spool, state, self.catalog.version, browsers)

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

    def _lifecycle(
        self, kind: events_pb2.AgentLifecycle.Kind.ValueType, detail: str = ""
    ) -> events_pb2.Event:
        return lifecycle_event(
            self.device_id, kind, catalog_version=self.catalog.version, detail=detail
        )


def _watcher_for(watches: Watches) -> Watcher:
    watcher = Watcher(watches.debounce_s)
    watcher.start()
    for watched, key in ((watches.config, _CONFIG), (watches.catalog, _CATALOG)):
        file = watched.file if watched is not None else None  # None: the collector's only
        if file is not None and watcher.watch_file(file, key):
            watcher.settling.note(key)  # compared once: it may have changed since it was read
    installs = watches.installs
    if installs is not None:
        for root in installs.roots:
            watcher.watch_tree(root, functools.partial(installs.relevant, root))
    return watcher


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


def open_agent(
    config: AgentConfig, enrollment: Enrollment, source: ConfigSource | None = None
) -> AgentDaemon:
    """Wire the parts from a validated config and this device's enrollment: catalog, spool,
    a channel that trusts only the pinned CA, sender, and the files to follow.

    source: where `config` came from; with a file, that file is reloaded when saved.
    """
    profile = Profile.for_ownership(enrollment.ownership)
    full_catalog = load_catalog(config.catalog)
    spool = GatedSpool(
        config.state_dir / "spool.sqlite3",
        config.spool_max_bytes,
        loss_notice_for(enrollment.device_id),
        profile=profile,
        catalog=full_catalog,
    )
    device = DeviceFacts.of(enrollment, config.collector)
    channel = channel_for(config.state_dir, enrollment, config.collector or None)
    settings = SenderSettings(
        batch_max_events=config.batch_max_events, batch_max_delay_s=config.batch_max_delay_s
    )
    watches = watches_for(config, full_catalog, source, profile)
    watches.central = central_config_for(
        config, channel, enrollment.metadata, watches.config, watches.catalog
    )
    catalog = profile.catalog(full_catalog)
    return AgentDaemon(
        enrollment.device_id,
        catalog,
        spool,
        Sender(spool, channel, enrollment.metadata, settings),
        scan_interval_s=config.scan_interval_s,
        heartbeat_interval_s=config.heartbeat_interval_s,
        flush_timeout_s=config.flush_timeout_s,
        watches=watches,
        status=StatusFile(config.state_dir, device, config.heartbeat_interval_s),
        browser=BrowserSurface(catalog, profile, report_incognito=config.browser_incognito),
    )


def watches_for(
    config: AgentConfig,
    catalog: Catalog,
    source: ConfigSource | None,
    profile: Profile | None = None,
) -> Watches:
    """The config file (when there is one), the catalog file (unless it is the packaged one,
    which changes only with the agent) and the install directories."""
    os_name = current_os()
    dirs = config.install_dirs or default_install_dirs(os_name)
    profile = profile or Profile("employer")
    installs = profile.install_catalog(catalog)
    return Watches(
        config=WatchedConfig(source, config),  # a file's, or only the collector's layer
        catalog=WatchedCatalog(config.catalog, catalog),  # None: the packaged one
        installs=InstallInventory(installs, dirs, config.state_dir / INVENTORY_FILE, os_name),
        live=config.watch,
        profile=profile,
    )
