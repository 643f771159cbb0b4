"""A few simulated City and Library devices with a plausible week of communication-app use.

Each is enrolled with its own one-time token and goes through the agent's own enrollment, spool
and sender over real gRPC and TLS, so the demo's report rests on the same delivery path as a real
device; only the scanning is replaced by a scripted week.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.catalog import Catalog
from agent.daemon import loss_notice_for
from agent.enrollment import Enrollment, channel_for, enroll
from agent.events import Lifecycle, heartbeat_event, lifecycle_event, transition_event
from agent.scan import ProcessCpu, Surface
from agent.sender import Sender
from agent.spool import Spool
from agent.tracker import Focus, Session, Started, Stopped
from commaudit.v1 import events_pb2


@dataclass(frozen=True)
class Habit:
    """An app someone opens on most workdays for about `minutes`."""

    app_id: str
    minutes: int
    chance: float = 0.9
    tab_in: str = ""
    """The browser whose tabs it is used in (its extension reports it: employer devices only);
    empty for a desktop client."""


@dataclass(frozen=True)
class Persona:
    device_id: str
    """The device's host name; the collector's id for it starts with this."""
    os_user: str
    habits: tuple[Habit, ...]
    ownership: str = "employer"
    employee_id: str = ""
    """Set for a personal device: the roster assigns employer devices by host name."""


# Host names and people from samples/org (device_assignments.csv assigns each employer device).
PERSONAS = (
    Persona(
        "city-fin-ws-0420",  # Emily Hart, Finance
        "ehart",
        (Habit("outlook", 390), Habit("teams", 150), Habit("youtube", 25, 0.6, tab_in="chrome")),
    ),
    Persona("city-pu-ws-0233", "tnguyen", (Habit("outlook", 300), Habit("zoom", 110, 0.6))),
    Persona(
        "city-ims-lt-0042",  # Priya Raman, Information Management Services
        "praman",
        (Habit("slack", 420), Habit("teams", 90), Habit("signal", 20)),
    ),
    Persona(
        "lib-main-ws-0031",  # Aisha Rahman, Main Library Public Services
        "arahman",
        (
            Habit("thunderbird", 360),
            Habit("facebook", 60, 0.7, tab_in="edge"),
            Habit("zoom", 45, 0.3),
        ),
    ),
    Persona(
        "samuel-phone",
        "sortiz",
        (Habit("gmail", 240), Habit("whatsapp", 15, 0.5)),
        ownership="personal",  # a personal device enrolled for business use (§3.2)
        employee_id="L6002",  # Samuel Ortiz, Branch Services
    ),
)


def week_of_events(
    persona: Persona, catalog: Catalog, end: datetime, rng: random.Random
) -> list[events_pb2.Event]:
    """Workdays of the 7 days before `end`: agent start, sessions, heartbeats every 5 minutes."""
    events: list[events_pb2.Event] = []
    for day in range(7, 0, -1):
        start_of_day = (end - timedelta(days=day)).replace(
            hour=8, minute=0, second=0, microsecond=0
        )
        if start_of_day.weekday() < 5:
            events.extend(_workday(persona, catalog, start_of_day, rng))
    return events


def _workday(
    persona: Persona, catalog: Catalog, day: datetime, rng: random.Random
) -> Iterator[events_pb2.Event]:
    boot = day + timedelta(minutes=rng.randint(0, 40))
    yield _at(
        lifecycle_event(persona.device_id, Lifecycle.KIND_STARTED, catalog_version=catalog.version),
        boot,
    )
    sessions = []
    for habit in persona.habits:
        if rng.random() < habit.chance:
            begin = boot + timedelta(minutes=rng.randint(1, 90))
            length = timedelta(minutes=max(5, round(rng.gauss(habit.minutes, habit.minutes / 5))))
            session = _session(habit, catalog, persona, length, rng)
            sessions.append((begin, begin + length, session))
    timeline: list[tuple[datetime, events_pb2.Event]] = []
    for begin, finish, session in sessions:
        timeline.append((begin, transition_event(persona.device_id, Started(session))))
        duration_ms = int((finish - begin).total_seconds() * 1000)
        timeline.append(
            (finish, transition_event(persona.device_id, Stopped(session, duration_ms)))
        )
    shutdown = max([finish for _, finish, _ in sessions], default=boot) + timedelta(minutes=10)
    tick = boot
    while tick < shutdown:
        running = [s for begin, finish, s in sessions if begin <= tick < finish]
        beat = heartbeat_event(
            persona.device_id, running, catalog_version=catalog.version,
            spool_depth=0, events_dropped=0, uptime_ms=int((tick - boot).total_seconds() * 1000),
        )  # fmt: skip
        timeline.append((tick, beat))
        tick += timedelta(minutes=5)
    for when, event in sorted(timeline, key=lambda item: item[0]):
        yield _at(event, when)
    yield _at(lifecycle_event(persona.device_id, Lifecycle.KIND_STOPPED), shutdown)


def _session(
    habit: Habit, catalog: Catalog, persona: Persona, length: timedelta, rng: random.Random
) -> Session:
    """A desktop client's session, with the CPU time its process used, or a tab's: no process of
    its own, and the time it was the tab in use, here a third to four fifths of the time it was
    open."""
    app = catalog.app(habit.app_id)
    if not habit.tab_in:
        session = Session(
            str(uuid.uuid4()), app, persona.os_user, 1, 0.0, surfaces={Surface.PROCESS}
        )
        # Its one process used 0.5-3% of a core while open: what a desktop client in use costs.
        used_ms = round(length.total_seconds() * 1000 * rng.uniform(0.005, 0.03))
        session.cpu.update({(1, 1): ProcessCpu(used_ms, new=True)})
        return session
    session = Session(
        str(uuid.uuid4()), app, persona.os_user, 0, 0.0,
        surfaces={Surface.BROWSER_TAB}, browsers={habit.tab_in}, focus=Focus(),
    )  # fmt: skip
    assert session.focus is not None
    session.focus.observe(True, 0.0)
    session.focus.close(length.total_seconds() * rng.uniform(0.3, 0.8))
    return session


def _at(event: events_pb2.Event, when: datetime) -> events_pb2.Event:
    event.occurred_at_ms = int(when.timestamp() * 1000)
    return event


def deliver(events: list[events_pb2.Event], state_dir: Path, enrollment: Enrollment) -> int:
    """Spool and send one device's week over TLS; returns how many events were acknowledged."""
    spool = Spool(state_dir / "spool.sqlite3", 64 * 2**20, loss_notice_for(enrollment.device_id))
    with channel_for(state_dir, enrollment) as channel:
        sender = Sender(spool, channel, enrollment.metadata)
        spool.append(events)
        if not sender.close(flush_timeout_s=60):
            raise RuntimeError(
                f"{enrollment.device_id}: collector did not take the events: {sender.last_error}"
            )
        acked = sender.acked_seq
    spool.close()
    return acked


def simulate(
    catalog: Catalog,
    collector: str,
    ca_file: Path,
    state: Path,
    new_token: Callable[[str, str, str], str],
    seed: int = 47,
) -> dict[str, int]:
    """Enroll each persona's device with a token from `new_token(org, ownership, employee)`,
    then deliver its week; device id -> events stored."""
    rng = random.Random(seed)
    end = datetime.now(UTC)
    stored = {}
    for persona in PERSONAS:
        org = "city" if persona.device_id.startswith("city-") else "library"
        token = new_token(org, persona.ownership, persona.employee_id)
        state_dir = state / persona.device_id
        enrollment = enroll(state_dir, collector, token, ca_file, hostname=persona.device_id)
        events = week_of_events(replace(persona, device_id=enrollment.device_id), catalog, end, rng)
        stored[enrollment.device_id] = deliver(events, state_dir, enrollment)
    return stored
