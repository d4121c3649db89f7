"""Who is on call: rotations, layers, overrides, DST and time zones, on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.notifier.schedule import (
    NowAndNext,
    OnCall,
    next_change,
    now_and_next,
    on_call,
    shifts,
    user_shifts,
    who_is_on_call,
)
from herald.shared.config import Schedule, parse_config

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def schedule(
    *layers: dict[str, Any], tz: str = "Europe/Berlin", overrides: tuple[Any, ...] = ()
) -> Schedule:
    return Schedule.model_validate(
        {"time_zone": tz, "layers": list(layers), "overrides": list(overrides)}
    )


def layer(participants: list[str], **rotation: Any) -> dict[str, Any]:
    restrictions = rotation.pop("restrictions", [])
    return {"participants": participants, "rotation": rotation, "restrictions": restrictions}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def handoffs(s: Schedule, start: datetime, end: datetime) -> list[tuple[str, datetime, timedelta]]:
    """(user, local start, length) of every shift in the window."""
    tz = ZoneInfo(s.time_zone)
    return [(x.user, x.start.astimezone(tz), x.end - x.start) for x in shifts(s, start, end)]


# --- rotations ------------------------------------------------------------------------------

WEEKLY = layer(
    ["alice", "bob"], shift="weekly", handoff="09:00", handoff_day="monday", start="2026-01-05"
)


def test_weekly_rotation_hands_off_on_its_weekday_and_time() -> None:
    s = schedule(WEEKLY)
    assert on_call(s, berlin(2026, 1, 5, 8, 59)) is None  # before the first shift
    assert on_call(s, berlin(2026, 1, 5, 9, 0)) == "alice"
    assert on_call(s, berlin(2026, 1, 12, 8, 59)) == "alice"
    assert on_call(s, berlin(2026, 1, 12, 9, 0)) == "bob"
    assert on_call(s, berlin(2026, 1, 19, 9, 0)) == "alice"
    assert on_call(s, berlin(2026, 6, 1, 12, 0)) == "bob"  # 21 weeks on, across spring-forward
    assert next_change(s, berlin(2026, 1, 7)) == berlin(2026, 1, 12, 9, 0)


def test_weekly_handoff_day_defaults_to_the_first_handoff_and_start_is_moved_to_it() -> None:
    wednesday = schedule(layer(["a", "b"], shift="weekly", handoff="10:00", start="2026-01-07"))
    assert next_change(wednesday, berlin(2026, 1, 8)) == berlin(2026, 1, 14, 10, 0)
    friday = schedule(
        layer(["a", "b"], shift="weekly", handoff="17:00", handoff_day="fri", start="2026-01-05")
    )
    assert on_call(friday, berlin(2026, 1, 8, 12)) is None
    assert on_call(friday, berlin(2026, 1, 9, 17)) == "a"
    assert on_call(friday, berlin(2026, 1, 16, 17)) == "b"


def test_daily_rotation_cycles_through_the_participants_in_order() -> None:
    s = schedule(layer(["a", "b", "c"], shift="daily", handoff="09:00", start="2026-02-01"))
    got = [on_call(s, berlin(2026, 2, d, 12)) for d in range(1, 8)]
    assert got == ["a", "b", "c", "a", "b", "c", "a"]
    assert on_call(s, berlin(2026, 2, 2, 8, 59)) == "a"


def test_twelve_hour_rotation_in_winter() -> None:
    s = schedule(layer(["day", "night"], shift="12h", handoff="08:00", start="2026-01-10"))
    got = handoffs(s, berlin(2026, 1, 10), berlin(2026, 1, 11, 12))
    assert got == [
        ("day", berlin(2026, 1, 10, 8), timedelta(hours=12)),
        ("night", berlin(2026, 1, 10, 20), timedelta(hours=12)),
        ("day", berlin(2026, 1, 11, 8), timedelta(hours=12)),
    ]


def test_start_with_a_time_and_an_offset_is_the_first_handoff() -> None:
    s = schedule(layer(["a", "b"], shift="8h", start="2026-01-10T06:00:00+00:00"))
    assert on_call(s, datetime(2026, 1, 10, 6, tzinfo=UTC)) == "a"
    assert on_call(s, datetime(2026, 1, 10, 14, tzinfo=UTC)) == "b"
    assert on_call(s, datetime(2026, 1, 10, 22, tzinfo=UTC)) == "a"


def test_repeated_participant_makes_one_longer_shift() -> None:
    s = schedule(layer(["a", "a", "b"], shift="daily", handoff="09:00", start="2026-02-01"))
    got = handoffs(s, berlin(2026, 2, 1, 9), berlin(2026, 2, 4, 9))
    assert got == [
        ("a", berlin(2026, 2, 1, 9), timedelta(days=2)),
        ("b", berlin(2026, 2, 3, 9), timedelta(days=1)),
    ]


# --- DST --------------------------------------------------------------------------------------
# Europe/Berlin: 2026-03-29 02:00 -> 03:00 (CET -> CEST), 2026-10-25 03:00 -> 02:00.
# America/New_York: 2026-03-08 02:00 -> 03:00 (EST -> EDT), 2026-11-01 02:00 -> 01:00.


def test_daily_handoff_stays_at_local_time_across_spring_forward_berlin() -> None:
    s = schedule(layer(["a", "b"], shift="daily", handoff="09:00", start="2026-03-27"))
    got = handoffs(s, berlin(2026, 3, 28, 9), berlin(2026, 3, 31, 9))
    assert got == [
        ("b", berlin(2026, 3, 28, 9), timedelta(hours=23)),  # the night loses an hour
        ("a", berlin(2026, 3, 29, 9), timedelta(hours=24)),
        ("b", berlin(2026, 3, 30, 9), timedelta(hours=24)),
    ]
    assert [x[1].hour for x in got] == [9, 9, 9]


def test_daily_handoff_stays_at_local_time_across_fall_back_berlin() -> None:
    s = schedule(layer(["a", "b"], shift="daily", handoff="09:00", start="2026-10-23"))
    got = handoffs(s, berlin(2026, 10, 24, 9), berlin(2026, 10, 26, 9))
    assert got == [
        ("b", berlin(2026, 10, 24, 9), timedelta(hours=25)),
        ("a", berlin(2026, 10, 25, 9), timedelta(hours=24)),
    ]
    assert got[1][1].utcoffset() == timedelta(hours=1)


def test_weekly_handoff_stays_at_local_time_across_both_changes_new_york() -> None:
    s = schedule(
        layer(["a", "b"], shift="weekly", handoff="09:00", handoff_day="thu", start="2026-01-01"),
        tz="America/New_York",
    )
    for x in shifts(s, datetime(2026, 3, 1, tzinfo=NEW_YORK), datetime(2026, 11, 20, tzinfo=UTC)):
        local = x.start.astimezone(NEW_YORK)
        assert (local.weekday(), local.hour, local.minute) == (3, 9, 0)


def test_twelve_hour_shifts_stay_twelve_hours_and_move_in_local_time_berlin() -> None:
    s = schedule(layer(["a", "b"], shift="12h", handoff="09:00", start="2026-03-28"))
    got = handoffs(s, berlin(2026, 3, 28, 9), berlin(2026, 3, 30, 9))
    assert {length for _, _, length in got} == {timedelta(hours=12)}
    assert [start.hour for _, start, _ in got] == [9, 21, 10, 22]  # 08:00/20:00 UTC throughout
    autumn = handoffs(s, berlin(2026, 10, 24, 9), berlin(2026, 10, 26, 9))
    assert {length for _, _, length in autumn} == {timedelta(hours=12)}
    # The first shift is whole: it began the evening before the window.
    assert [start.hour for _, start, _ in autumn] == [22, 10, 22, 9, 21]


def test_twelve_hour_shifts_new_york_spring_forward() -> None:
    s = schedule(
        layer(["a", "b"], shift="12h", handoff="07:00", start="2026-03-07"), tz="America/New_York"
    )
    got = handoffs(s, datetime(2026, 3, 7, 7, tzinfo=NEW_YORK), datetime(2026, 3, 9, tzinfo=UTC))
    assert [(u, start.hour) for u, start, _ in got] == [("a", 7), ("b", 19), ("a", 8)]


def test_handoff_inside_the_spring_forward_gap_happens_when_the_clocks_have_jumped() -> None:
    s = schedule(
        layer(["a", "b"], shift="daily", handoff="02:30", start="2026-03-07"), tz="America/New_York"
    )
    change = next_change(s, datetime(2026, 3, 8, 0, tzinfo=NEW_YORK))
    assert change is not None
    local = change.astimezone(NEW_YORK)
    assert (local.day, local.hour, local.minute) == (8, 3, 30)
    assert on_call(s, datetime(2026, 3, 9, 2, 30, tzinfo=NEW_YORK)) == "a"  # back to 02:30


def test_handoff_in_the_repeated_fall_back_hour_happens_the_first_time() -> None:
    s = schedule(
        layer(["a", "b"], shift="daily", handoff="01:30", start="2026-10-31"), tz="America/New_York"
    )
    change = next_change(s, datetime(2026, 11, 1, 0, tzinfo=NEW_YORK))
    assert change == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST
    assert on_call(s, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)) == "b"  # 01:30 EST: still b


# --- time zones -------------------------------------------------------------------------------


def test_the_same_instant_in_any_zone_has_the_same_answer() -> None:
    s = schedule(
        layer(["a", "b"], shift="daily", handoff="09:00", start="2026-01-01"), tz="Asia/Tokyo"
    )
    instant = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo: b's first shift
    for tz in ("UTC", "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Pacific/Chatham"):
        assert on_call(s, instant.astimezone(ZoneInfo(tz))) == "b"
    assert on_call(s, instant - timedelta(seconds=1)) == "a"


def test_a_naive_instant_is_refused() -> None:
    s = schedule(WEEKLY)
    with pytest.raises(ValueError, match="time zone"):
        on_call(s, datetime(2026, 1, 6, 12))


# --- layers and overrides -------------------------------------------------------------------


def test_a_higher_layer_wins_where_it_has_someone() -> None:
    nights = layer(
        ["carol"],
        shift="weekly",
        handoff="00:00",
        start="2026-01-05",
        restrictions=[
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "18:00", "end": "09:00"}
        ],
    )
    s = schedule(WEEKLY, nights)
    assert who_is_on_call(s, berlin(2026, 1, 6, 12)) == OnCall("alice", layer=0)
    assert who_is_on_call(s, berlin(2026, 1, 6, 20)) == OnCall("carol", layer=1)
    assert on_call(s, berlin(2026, 1, 7, 8, 59)) == "carol"  # the window runs overnight
    assert on_call(s, berlin(2026, 1, 7, 9, 0)) == "alice"
    assert on_call(s, berlin(2026, 1, 10, 20)) == "alice"  # Saturday: no window starts
    assert on_call(s, berlin(2026, 1, 10, 8)) == "carol"  # Friday night's window, into Saturday
    assert next_change(s, berlin(2026, 1, 6, 12)) == berlin(2026, 1, 6, 18)
    assert next_change(s, berlin(2026, 1, 6, 20)) == berlin(2026, 1, 7, 9)


def test_a_higher_layer_that_has_not_started_leaves_the_lower_one() -> None:
    later = layer(["dave"], shift="weekly", handoff="09:00", start="2026-02-02")
    s = schedule(WEEKLY, later)
    assert on_call(s, berlin(2026, 1, 20)) == "alice"
    assert on_call(s, berlin(2026, 2, 2, 9)) == "dave"
    assert next_change(s, berlin(2026, 1, 28)) == berlin(2026, 2, 2, 9)
    assert next_change(s, berlin(2026, 2, 3)) is None  # dave alone, for ever


def test_overrides_win_and_the_later_listed_wins_among_them() -> None:
    s = schedule(
        WEEKLY,
        overrides=(
            {"user": "bob", "from": "2026-01-06T12:00", "until": "2026-01-07T12:00"},  # local
            {"user": "erin", "from": "2026-01-07T10:00:00Z", "until": "2026-01-07T11:00:00Z"},
        ),
    )
    assert on_call(s, berlin(2026, 1, 6, 11, 59)) == "alice"
    assert who_is_on_call(s, berlin(2026, 1, 6, 12)) == OnCall("bob", override=True)
    assert on_call(s, berlin(2026, 1, 7, 11, 30)) == "erin"  # 10:30 UTC
    assert on_call(s, berlin(2026, 1, 7, 12, 0)) == "alice"
    got = handoffs(s, berlin(2026, 1, 6), berlin(2026, 1, 8))
    assert [(u, start) for u, start, _ in got] == [
        ("alice", berlin(2026, 1, 5, 9)),
        ("bob", berlin(2026, 1, 6, 12)),
        ("erin", berlin(2026, 1, 7, 11)),  # both overrides end at 12:00 local
        ("alice", berlin(2026, 1, 7, 12)),
    ]


def test_an_override_of_the_person_already_on_call_changes_nothing() -> None:
    s = schedule(
        WEEKLY,
        overrides=({"user": "alice", "from": "2026-01-06T12:00", "until": "2026-01-07T12:00"},),
    )
    assert next_change(s, berlin(2026, 1, 6)) == berlin(2026, 1, 12, 9)


def test_an_empty_schedule_has_nobody_and_no_change() -> None:
    s = schedule()
    assert now_and_next(s, berlin(2026, 1, 1)) == NowAndNext(None, None, None)
    assert shifts(s, berlin(2026, 1, 1), berlin(2026, 2, 1)) == ()


def test_now_and_next() -> None:
    s = schedule(WEEKLY)
    assert now_and_next(s, berlin(2026, 1, 8)) == NowAndNext(
        "alice", datetime(2026, 1, 12, 8, tzinfo=UTC), "bob"
    )


def test_shifts_are_whole_even_when_the_window_cuts_them() -> None:
    s = schedule(WEEKLY)
    got = shifts(s, berlin(2026, 1, 14), berlin(2026, 1, 15))
    assert [(x.user, x.start, x.end) for x in got] == [
        ("bob", berlin(2026, 1, 12, 9), berlin(2026, 1, 19, 9)),
    ]


def test_user_shifts_gather_every_schedule() -> None:
    config = parse_config(
        """\
users: {alice: {}, bob: {}}
schedules:
  primary:
    layers: [{participants: [alice, bob], rotation: {shift: weekly, handoff: "09:00", start: 2026-01-05}}]
  secondary:
    time_zone: America/New_York
    layers: [{participants: [bob, alice], rotation: {shift: weekly, handoff: "09:00", start: 2026-01-05}}]
"""
    )
    got = user_shifts(
        config, "alice", datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 20, tzinfo=UTC)
    )
    assert [(sid, x.start) for sid, x in got] == [
        ("primary", datetime(2026, 1, 5, 9, tzinfo=UTC)),
        ("secondary", datetime(2026, 1, 12, 14, tzinfo=UTC)),
        ("primary", datetime(2026, 1, 19, 9, tzinfo=UTC)),
    ]


# --- properties -----------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@settings(max_examples=200, deadline=None)
@given(t=instants, tz=st.sampled_from(ZONES), shift=st.sampled_from(["daily", "weekly", "2d"]))
def test_calendar_handoffs_are_always_at_the_local_handoff_time(
    t: datetime, tz: str, shift: str
) -> None:
    s = schedule(layer(["a", "b", "c"], shift=shift, handoff="09:00", start="2025-12-01"), tz=tz)
    change = next_change(s, t)
    assert change is not None
    assert change > t
    local = change.astimezone(ZoneInfo(tz))
    assert (local.hour, local.minute) == (9, 0)
    assert on_call(s, change) != on_call(s, t)
    assert on_call(s, t + (change - t) / 2) == on_call(s, t)  # nothing changes in between


@settings(max_examples=200, deadline=None)
@given(t=instants, tz=st.sampled_from(ZONES))
def test_elapsed_handoffs_are_whole_shifts_from_the_first(t: datetime, tz: str) -> None:
    s = schedule(layer(["a", "b"], shift="12h", handoff="09:00", start="2025-12-01"), tz=tz)
    first = datetime(2025, 12, 1, 9, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    change = next_change(s, t)
    assert change is not None
    assert timedelta(0) < change - t <= timedelta(hours=12)
    assert (change - first) % timedelta(hours=12) == timedelta(0)
