"""The iCalendar export, parsed back with icalendar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from herald.notifier.calendar import schedule_calendar, user_calendar
from herald.shared.config import parse_config

CONFIG = parse_config(
    """\
users:
  alice: {name: "Alice Martin, SRE; nights\\\\days"}
  bob: {name: Bob}
schedules:
  primary:
    name: Backend primary
    time_zone: Europe/Berlin
    layers:
      - participants: [alice, bob]
        rotation: {shift: weekly, handoff: "09:00", handoff_day: monday, start: 2026-01-05}
  secondary:
    layers:
      - participants: [bob, alice]
        rotation: {shift: weekly, handoff: "09:00", start: 2026-01-05}
"""
)
START = datetime(2026, 1, 5, tzinfo=UTC)
END = datetime(2026, 1, 26, tzinfo=UTC)
NOW = datetime(2026, 1, 4, 12, tzinfo=UTC)


def events(ics: bytes) -> list[tuple[str, datetime, datetime, str]]:
    cal = Calendar.from_ical(ics)
    return [
        (str(ev["summary"]), ev.decoded("dtstart"), ev.decoded("dtend"), str(ev["uid"]))
        for ev in cal.walk("VEVENT")
    ]


def test_schedule_calendar_lists_each_shift() -> None:
    ics = schedule_calendar(CONFIG, "primary", START, END, NOW)
    cal = Calendar.from_ical(ics)
    assert str(cal["x-wr-calname"]) == "On call: Backend primary"
    assert str(cal["version"]) == "2.0"
    got = [(s, a, b) for s, a, b, _ in events(ics)]
    assert got == [
        (
            "Alice Martin, SRE; nights\\days on call",
            datetime(2026, 1, 5, 8, tzinfo=UTC),
            datetime(2026, 1, 12, 8, tzinfo=UTC),
        ),
        ("Bob on call", datetime(2026, 1, 12, 8, tzinfo=UTC), datetime(2026, 1, 19, 8, tzinfo=UTC)),
        (
            "Alice Martin, SRE; nights\\days on call",
            datetime(2026, 1, 19, 8, tzinfo=UTC),
            datetime(2026, 1, 26, 8, tzinfo=UTC),
        ),
    ]
    for ev in cal.walk("VEVENT"):
        assert ev.decoded("dtstamp") == NOW


def test_text_is_escaped_and_lines_are_folded() -> None:
    ics = schedule_calendar(CONFIG, "primary", START, END, NOW)
    assert b"Alice Martin\\, SRE\\; nights\\\\days" in ics  # RFC 5545 TEXT escaping
    lines = ics.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines)  # the long DESCRIPTION was folded


def test_uids_are_stable_and_unique() -> None:
    first = events(schedule_calendar(CONFIG, "primary", START, END, NOW))
    later = events(
        schedule_calendar(CONFIG, "primary", START, END, datetime(2026, 1, 9, tzinfo=UTC))
    )
    assert [u for *_, u in first] == [u for *_, u in later]
    assert len({u for *_, u in first}) == len(first)


def test_user_calendar_gathers_every_schedule() -> None:
    ics = user_calendar(CONFIG, "bob", START, END, NOW)
    assert str(Calendar.from_ical(ics)["x-wr-calname"]) == "On call: Bob"
    got = [(s, a) for s, a, _, _ in events(ics)]
    assert got == [
        ("On call: secondary", datetime(2026, 1, 5, 9, tzinfo=UTC)),
        ("On call: Backend primary", datetime(2026, 1, 12, 8, tzinfo=UTC)),
        ("On call: secondary", datetime(2026, 1, 19, 9, tzinfo=UTC)),
    ]


def test_an_empty_window_is_a_calendar_without_events() -> None:
    ics = schedule_calendar(CONFIG, "primary", END, START, NOW)
    assert Calendar.from_ical(ics).walk("VEVENT") == []


def test_unknown_names_are_key_errors() -> None:
    with pytest.raises(KeyError):
        schedule_calendar(CONFIG, "nope", START, END, NOW)
    with pytest.raises(KeyError):
        user_calendar(CONFIG, "nope", START, END, NOW)
