"""The agent config and catalog IMS publishes through the collector (`commaudit catalog push`,
`commaudit agent-config push`), fetched by version.

A thread of its own asks the collector (AgentService.GetConfig) once at start and then every
`config_poll_interval_s`, each wait jittered by ±50% so that a fleet that started together does
not keep asking together. The request names the versions the agent has; the collector sends a
file only when it holds a newer one, so an unchanged poll is answered with two short strings.

What arrives is handed over on the daemon's own thread (`poll`, each scan) to the WatchedConfig
and WatchedCatalog that reload local files (agent/hot_reload.py): the same validation, the same
agent_lifecycle events, "rejected: ..." included. A file they take is saved in the state
directory as the last good copy, and offered first at the next start, so a device that cannot
reach the collector keeps what it was last given. A version the agent refused is not asked for
again: the next push is.

Failing to reach the collector changes nothing: it is logged once per outage, and asked again
at the next interval. The network is never touched from the scan loop.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from agent.atomic_file import PUBLIC, write_atomically
from agent.catalog import Catalog, load_catalog
from agent.collector_channel import CollectorChannel, RpcError, agent_method
from agent.config import AgentConfig
from agent.hot_reload import Offered, WatchedCatalog, WatchedConfig
from agent.versions import is_newer
from commaudit.v1 import agent_service_pb2

log = logging.getLogger(__name__)

CONFIG, CATALOG = "config", "catalog"
"""What `poll` returns: the daemon's watch keys of the config and the catalog."""
LAST_GOOD_FILES = {CONFIG: "central-config.toml", CATALOG: "central-catalog.toml"}
"""In the state directory; each one whole or absent (agent/atomic_file.py)."""
_LABELS = {CONFIG: "agent config", CATALOG: "catalog"}
GET_CONFIG = agent_method("GetConfig")
RPC_TIMEOUT_S = 10.0
JITTER = 0.5
"""Each wait is the interval times a uniform draw in [1 - JITTER, 1 + JITTER]."""


@dataclass(frozen=True)
class Fetched:
    kind: str
    """CONFIG or CATALOG."""
    version: str
    text: str


class CentralConfig:
    """Asks the collector in the background; `poll` hands what came to the watched files."""

    def __init__(
        self,
        channel: CollectorChannel,
        metadata: tuple[tuple[str, str], ...],
        state_dir: Path,
        interval_s: float,
        config: WatchedConfig,
        catalog: WatchedCatalog,
        *,
        rng: random.Random | None = None,
        timeout_s: float = RPC_TIMEOUT_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive; 0 means no CentralConfig at all")
        self._channel = channel
        self._metadata = metadata  # the device credential (agent/enrollment.py)
        self._state_dir = state_dir
        self.interval_s = interval_s
        self._watched: dict[str, WatchedConfig | WatchedCatalog] = {
            CONFIG: config,
            CATALOG: catalog,
        }
        self._catalog = catalog
        self._rng = rng or random.Random()
        self._timeout_s = timeout_s
        self._lock = threading.Lock()  # guards what the thread and poll share, below
        self._fetched: dict[str, Fetched] = {}
        self._known = {CONFIG: "", CATALOG: ""}
        self._cancel = threading.Event()
        """Set at close: cancels the call in flight, or the next one."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unreachable = False
        self.answers = 0
        """GetConfig calls answered (each one a few bytes unless something was newer)."""
        self.last_error = ""

    def poll(self) -> set[str]:
        """On the daemon's thread, every scan: offer what arrived to the watched config and
        catalog, and return the keys of those with something to take at their next reload.
        The first call offers the last good copies, then starts asking the collector."""
        if self._thread is None:
            self._offer_last_good()
            self._thread = threading.Thread(
                target=self._run, name="commaudit-central-config", daemon=True
            )
            self._thread.start()
        with self._lock:
            fetched, self._fetched = self._fetched, {}
        for item in fetched.values():
            keep = functools.partial(self._save, item)
            label = f"collector {_LABELS[item.kind]} {item.version}"
            self._watched[item.kind].offer(Offered(item.text, label, keep))
        return {kind for kind, watched in self._watched.items() if watched.pending}

    def close(self) -> None:
        """Stop asking; a call in flight is cancelled, so stopping the agent never waits on
        the network."""
        self._stop.set()
        self._channel.cancel(self._cancel)
        if self._thread is not None:
            self._thread.join(self._timeout_s)

    def _offer_last_good(self) -> None:
        for kind, name in LAST_GOOD_FILES.items():
            path = self._state_dir / name
            try:
                text = path.read_text(encoding="utf-8")
                version = tomllib.loads(text).get("version")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                log.warning("%s: last good copy unreadable, not used: %s", path, error)
                continue
            if not isinstance(version, str):
                log.warning("%s: last good copy has no version, not used", path)
                continue
            self._known[kind] = version
            label = f"last good collector {_LABELS[kind]} {version} ({path})"
            self._watched[kind].offer(Offered(text, label))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._fetch()
            if self._stop.wait(self.next_wait()):
                return

    def next_wait(self) -> float:
        """Seconds until the next ask: the interval, jittered so a fleet spreads out."""
        return self.interval_s * self._rng.uniform(1 - JITTER, 1 + JITTER)

    def _fetch(self) -> None:
        with self._lock:
            running = self._catalog.catalog.version
            catalog_version = self._known[CATALOG]
            if is_newer(running, catalog_version):
                catalog_version = running
            request = agent_service_pb2.GetConfigRequest(
                config_version=self._known[CONFIG], catalog_version=catalog_version
            )
        try:
            answer = self._channel.call(
                GET_CONFIG,
                request,
                agent_service_pb2.GetConfigResponse,
                metadata=self._metadata,
                timeout=self._timeout_s,
                cancel=self._cancel,
            )
        except RpcError as error:
            if not self._stop.is_set():
                self._failed(error)
            return
        self._answered(answer)

    def _answered(self, answer: agent_service_pb2.GetConfigResponse) -> None:
        if self._unreachable:
            log.warning("the collector answers again: central config and catalog resume")
        self._unreachable = False
        self.answers += 1
        with self._lock:
            for kind, version, text in (
                (CONFIG, answer.config_version, answer.config_toml),
                (CATALOG, answer.catalog_version, answer.catalog_toml),
            ):
                if text:
                    log.info("collector sent %s %s", _LABELS[kind], version)
                    self._fetched[kind] = Fetched(kind, version, text)
                    self._known[kind] = version

    def _failed(self, error: RpcError) -> None:
        self.last_error = f"{error.code.name}: {error.details}"
        if self._unreachable:
            log.debug("central config: still failing: %s", self.last_error)
            return
        self._unreachable = True
        log.warning(
            "cannot get the agent config and catalog from the collector (%s); the running ones"
            " stay, asked again every %.0f s",
            self.last_error,
            self.interval_s,
        )

    def _save(self, item: Fetched) -> None:
        """The last good copy: called by the watched file once it took the text."""
        path = self._state_dir / LAST_GOOD_FILES[item.kind]
        try:
            write_atomically(path, item.text.encode("utf-8"), mode=PUBLIC)
        except OSError as error:
            log.error("%s: last good copy not saved (%s); used until the agent stops", path, error)


def central_config_for(
    config: AgentConfig,
    channel: CollectorChannel,
    metadata: tuple[tuple[str, str], ...],
    watched_config: WatchedConfig | None,
    watched_catalog: WatchedCatalog | None,
) -> CentralConfig | None:
    """The device's CentralConfig; None when `config_poll_interval_s` is 0 (never ask, and
    the last good copies are not used either). The watched config and catalog are the daemon's
    (agent/daemon.py `watches_for`), made even without a file to follow."""
    if config.config_poll_interval_s == 0:
        return None
    if watched_config is None or watched_catalog is None:
        raise ValueError("central config needs the daemon's watched config and catalog")
    return CentralConfig(
        channel,
        metadata,
        config.state_dir,
        config.config_poll_interval_s,
        watched_config,
        watched_catalog,
    )


def catalog_in_use(config: AgentConfig) -> Catalog:
    """The catalog the running agent uses: its own, or the collector's last good copy when
    that is newer, decided by the same WatchedCatalog the service uses. What `status` and
    `scan --once` describe, so that they show what the service reports."""
    watched = WatchedCatalog(config.catalog, load_catalog(config.catalog))
    if config.config_poll_interval_s > 0:  # else central files are ignored, as by the service
        path = config.state_dir / LAST_GOOD_FILES[CATALOG]
        try:
            watched.offer(Offered(path.read_text(encoding="utf-8"), str(path)))
        except (OSError, UnicodeDecodeError):
            return watched.catalog
        watched.reload()  # a copy that is older, or refused, leaves the agent's own
    return watched.catalog
