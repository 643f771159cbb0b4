"""validate_batch as plain functions: no server, a fixed clock."""

from __future__ import annotations

import pytest

from collector.validate import ForeignDevice, InvalidEvent, Limits, validate_batch
from commaudit.v1 import events_pb2
from tests.collector.collector_harness import DEVICE, KINDS, make_batch, make_event

NOW_MS = 1_760_000_000_000  # 2025-10-09T08:53:20Z


def at_now(seq: int, kind: str = "app_started") -> events_pb2.Event:
    return make_event(seq, kind, occurred_at_ms=NOW_MS)


def refusal(events: list[events_pb2.Event], limits: Limits | None = None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as raised:
        validate_batch(events, DEVICE, NOW_MS, limits or Limits())
    return raised.value


@pytest.mark.parametrize("kind", KINDS)
def test_a_valid_event_of_every_kind_passes(kind: str) -> None:
    validate_batch([at_now(1, kind)], DEVICE, NOW_MS, Limits())


def test_an_event_naming_its_own_device_passes_and_one_naming_another_is_foreign() -> None:
    event = at_now(1)
    event.device_id = DEVICE
    validate_batch([event], DEVICE, NOW_MS, Limits())
    event.device_id = "someone-else"
    with pytest.raises(ForeignDevice, match=r"^events\[0\]\.device_id: names device"):
        validate_batch([event], DEVICE, NOW_MS, Limits())


def test_an_empty_batch_and_an_oversized_batch_are_refused_without_a_seq() -> None:
    assert str(refusal([])).startswith("events: empty")
    too_many = refusal(make_batch([1, 2, 3]), Limits(max_events_per_batch=2))
    assert str(too_many) == "events: 3 events, over the limit of 2"
    assert too_many.seq is None


def test_a_time_before_2000_is_named_in_utc_with_the_seq_to_set_aside() -> None:
    old = make_event(4, occurred_at_ms=946_684_799_000)
    error = refusal([at_now(3), old])
    assert str(error) == "events[1].occurred_at_ms: 1999-12-31T23:59:59Z is before 2000-01-01"
    assert error.seq == 4


def test_a_time_more_than_a_day_ahead_of_the_collector_is_refused() -> None:
    ahead = make_event(1, occurred_at_ms=NOW_MS + 25 * 3600 * 1000)
    assert str(refusal([ahead])) == (
        "events[0].occurred_at_ms: 2025-10-10T09:53:20Z is more than 24 h ahead of"
        " 2025-10-09T08:53:20Z"
    )
    validate_batch(
        [make_event(1, occurred_at_ms=NOW_MS + 23 * 3600 * 1000)], DEVICE, NOW_MS, Limits()
    )


def test_an_absurd_time_is_reported_without_crashing_the_validator() -> None:
    error = refusal([make_event(1, occurred_at_ms=2**62)])
    assert str(error).startswith("events[0].occurred_at_ms: 4611686018427387904 ms since 1970")


def test_a_process_count_of_zero_is_refused_unless_the_app_is_in_a_browser_tab() -> None:
    started = at_now(1)
    started.app_started.process_count = 0
    started.app_started.surfaces[:] = [events_pb2.SURFACE_APP_WINDOW]
    error = refusal([started])
    assert str(error) == (
        "events[0].app_started.process_count: 0, and no browser tab among its surfaces"
    )
    started.app_started.surfaces[:] = [events_pb2.SURFACE_BROWSER_TAB]  # a tab has no process
    validate_batch([started], DEVICE, NOW_MS, Limits())


def test_a_heartbeat_names_the_running_entry_at_fault() -> None:
    heartbeat = at_now(1, "heartbeat")
    heartbeat.heartbeat.running[0].session_id = "not-a-uuid"
    error = refusal([heartbeat])
    assert str(error) == (
        "events[0].heartbeat.running[0].session_id:"
        " 'not-a-uuid' is not a UUID in 8-4-4-4-12 hex form"
    )


def test_only_the_canonical_uuid_spelling_is_accepted() -> None:
    canonical = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"
    for spelling in ("{" + canonical + "}", "urn:uuid:" + canonical, canonical.replace("-", "")):
        event = at_now(1)
        event.event_id = spelling
        assert str(refusal([event])).startswith("events[0].event_id: ")
    event = at_now(1)
    event.event_id = canonical
    validate_batch([event], DEVICE, NOW_MS, Limits())  # raises if refused


def test_an_unset_enum_is_named_by_its_zero_value() -> None:
    stopped = at_now(1, "app_stopped")
    stopped.app_stopped.reason = events_pb2.AppStopped.REASON_UNSPECIFIED
    assert str(refusal([stopped])) == "events[0].app_stopped.reason: not set (REASON_UNSPECIFIED)"


def test_a_seq_of_zero_is_refused_without_naming_a_seq_to_set_aside() -> None:
    error = refusal([at_now(0)])
    assert str(error) == "events[0].seq: 0 (seqs start at 1)"
    assert error.seq is None


def test_a_repeated_seq_is_refused_like_a_descending_one() -> None:
    assert str(refusal([at_now(5), at_now(5)])) == (
        "events[1].seq: 5 does not follow 5 (seqs must strictly ascend)"
    )


def test_an_echoed_value_is_cut_short_so_the_message_stays_small() -> None:
    bad = at_now(1)
    bad.event_id = "x" * 5000
    assert len(str(refusal([bad]))) < 140


# Issue 9: where a session's app was seen, and its foreground time.
TAB, WINDOW, PROCESS = (
    events_pb2.SURFACE_BROWSER_TAB,
    events_pb2.SURFACE_APP_WINDOW,
    events_pb2.SURFACE_PROCESS,
)


def seen_on(kind: str, surfaces: list[int], browsers: list[str]) -> events_pb2.Event:
    """An event of `kind` whose session (for a heartbeat: its one running entry) names these."""
    event = at_now(1, kind)
    message = event.heartbeat.running[0] if kind == "heartbeat" else getattr(event, kind)
    message.surfaces.extend(surfaces)
    message.browsers.extend(browsers)
    return event


@pytest.mark.parametrize("kind", ["app_started", "app_stopped", "heartbeat"])
def test_every_surface_and_every_browser_once_is_valid(kind: str) -> None:
    everything = seen_on(kind, [PROCESS, WINDOW, TAB], ["chromium", "chrome", "edge", "firefox"])
    validate_batch([everything], DEVICE, NOW_MS, Limits())
    validate_batch([seen_on(kind, [], [])], DEVICE, NOW_MS, Limits())  # an older agent's


@pytest.mark.parametrize(
    ("surfaces", "browsers", "message"),
    [
        ([TAB, 7], [], "surfaces[1]: 7 is not a known value"),
        ([0], [], "surfaces[0]: not set (SURFACE_UNSPECIFIED)"),
        ([TAB, WINDOW, TAB], [], "surfaces[2]: SURFACE_BROWSER_TAB repeats surfaces[0]"),
        ([TAB, WINDOW, PROCESS, TAB], [], "surfaces: 4 values, over the limit of 3"),
        ([TAB], ["safari"], "browsers[0]: 'safari' is not one of chromium, chrome, edge, firefox"),
        ([TAB], ["Chrome"], "browsers[0]: 'Chrome' is not one of chromium, chrome, edge, firefox"),
        ([TAB], ["edge", "edge"], "browsers[1]: 'edge' repeats browsers[0]"),
        ([TAB], ["edge"] * 5, "browsers: 5 values, over the limit of 4"),
    ],
)
@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("app_started", "events[0].app_started"),
        ("app_stopped", "events[0].app_stopped"),
        ("heartbeat", "events[0].heartbeat.running[0]"),
    ],
)
def test_an_unknown_or_repeated_surface_or_browser_is_refused_naming_its_entry(
    kind: str, path: str, surfaces: list[int], browsers: list[str], message: str
) -> None:
    error = refusal([seen_on(kind, surfaces, browsers)])
    assert (str(error), error.seq) == (f"{path}.{message}", 1)


def test_foreground_time_may_fill_the_session_but_not_exceed_it() -> None:
    stopped = at_now(1, "app_stopped")  # duration_ms 60_000
    stopped.app_stopped.foreground_ms = 60_000
    validate_batch([stopped], DEVICE, NOW_MS, Limits())
    stopped.app_stopped.foreground_ms = 60_001
    assert str(refusal([stopped])) == (
        "events[0].app_stopped.foreground_ms: 60001 ms, longer than the session's duration_ms 60000"
    )


def test_a_heartbeats_foreground_time_has_no_duration_to_exceed() -> None:
    beat = at_now(1, "heartbeat")
    beat.heartbeat.running[0].foreground_ms = 10**12  # the session's time so far is not sent
    validate_batch([beat], DEVICE, NOW_MS, Limits())
