"""The history, pure: what an event leaves in it, the changes kept, the bars they make, and the
history page with archived incidents older than the projection knows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.shared.events import ComponentStatus, IncidentStatus
from herald.statuspage import history, uptime
from herald.statuspage.board import Board, Received, Reset
from herald.statuspage.history import StatusChange
from herald.statuspage.page import Reader, render_history

MAJOR = ComponentStatus.MAJOR_OUTAGE
PARTIAL = ComponentStatus.PARTIAL_OUTAGE
OK = ComponentStatus.OPERATIONAL


def test_an_event_leaves_the_status_the_projection_shows(make):
    opened = make.opened(4, make.incident(component_status=PARTIAL))
    assert history.status_change(opened) == StatusChange(make.t0, 4, PARTIAL)
    assert history.status_change(make.component(5, OK)) == StatusChange(make.t0, 5, OK)
    internal = make.opened(6, make.incident(public=False))
    assert history.status_change(internal) is None
    assert history.status_change(make.resolved(7)) is None  # a component change follows


def test_only_closed_public_incidents_are_archived(make):
    assert history.archived(make.resolved(2)) == make.resolved_incident()
    assert history.archived(make.opened(1)) is None
    assert history.archived(make.resolved(2, make.resolved_incident(public=False))) is None
    postmortem = make.resolved_incident().model_copy(update={"status": IncidentStatus.POSTMORTEM})
    assert history.archived(make.updated(3, postmortem)) == postmortem
    assert history.archived(make.updated(3, make.incident())) is None


def test_a_change_is_one_per_version_and_the_member_round_trips(make):
    change = StatusChange(make.t0, 3, MAJOR)
    changes: list[StatusChange] = []
    assert history.add_change(changes, change)
    assert not history.add_change(changes, change)
    assert changes == [change]
    assert StatusChange.parse(change.member().encode(), make.t0.timestamp()) == change
    assert StatusChange.parse(b"garbage", 0.0) is None


def test_trimming_keeps_the_status_the_period_starts_with_and_a_cap(make):
    changes = [
        StatusChange(make.t0 + timedelta(days=d), d, MAJOR if d % 2 else OK) for d in range(10)
    ]
    cut = list(changes)
    history.trim_changes(cut, make.t0 + timedelta(days=5, hours=1), most=100)
    assert [c.version for c in cut] == [5, 6, 7, 8, 9]
    capped = list(changes)
    history.trim_changes(capped, make.t0, most=3)
    assert [c.version for c in capped] == [7, 8, 9]


def test_bars_count_the_minutes_of_each_status_per_day(make):
    day = datetime(2024, 5, 1, tzinfo=UTC)
    changes = [
        StatusChange(day + timedelta(hours=10), 1, MAJOR),
        StatusChange(day + timedelta(hours=11), 2, PARTIAL),
        StatusChange(day + timedelta(hours=13), 3, OK),
    ]
    now = day + timedelta(days=1, hours=12)
    found = uptime.bars(uptime.intervals_from(changes, now), now, day - timedelta(days=1), days=3)
    assert [d.status for d in found.days] == [OK, MAJOR, OK]
    # One hour down, two hours at 30 %.
    assert found.days[1].down_seconds == 3600 + 0.3 * 7200
    assert found.days[2].down_seconds == 0


def test_the_projection_fills_in_before_the_history_starts(make):
    resolved = make.resolved_incident(component_status=MAJOR)
    state = make.status(recent=(resolved,))
    later = make.t0 + timedelta(days=2)
    changes = [StatusChange(later, 9, PARTIAL)]
    intervals = uptime.intervals_for(state, changes, later + timedelta(hours=1))
    assert [i.status for i in intervals] == [MAJOR, PARTIAL]
    # Without history, what the projection knows (as before).
    assert uptime.intervals_for(state, [], later) == uptime.intervals_of(state, later)


def test_the_board_keeps_the_changes_of_every_event_and_of_the_history(make):
    board = Board(config=make.config(), since=make.t0)
    stored = StatusChange(make.t0 - timedelta(days=3), 1, MAJOR)
    board.apply(Reset(epoch=1, floor=0, changes={"api": [stored, stored]}))
    event = make.component(2, PARTIAL, at=make.t0)
    board.apply(Received(event.model_dump_json().encode(), 1))
    assert board.changes["api"] == [stored, StatusChange(make.t0, 2, PARTIAL)]
    days = board.view().changes["api"]
    assert len(days) == 2


def test_the_history_page_lists_archived_incidents_beyond_the_projection(make):
    board = Board(config=make.config(), since=make.t0)
    old = make.resolved_incident(id="inc-old", started_at=make.t0 - timedelta(days=40))
    old = old.model_copy(update={"title": "Old <b>outage</b>"})
    now = make.t0 + timedelta(hours=1)
    start, end = history.page_span(now, 0)
    assert start == datetime(2024, 3, 1, tzinfo=UTC)
    assert end == datetime(2024, 6, 1, tzinfo=UTC)
    html = render_history(board.templates, board.view(), Reader("en", now), 0, [old])
    assert 'href="/incidents/inc-old"' in html
    assert "Old &lt;b&gt;outage&lt;/b&gt;" in html
    assert ">2024-03<" in html
    unavailable = render_history(board.templates, board.view(), Reader("en", now), 0, [], True)
    assert "Older incidents cannot be read right now" in unavailable


def test_the_projection_wins_by_id(make):
    archived = make.resolved_incident(title="as archived")
    current = make.incident(title="reopened")
    assert history.merged([archived], [current]) == [current]
