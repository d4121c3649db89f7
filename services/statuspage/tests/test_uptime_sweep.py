"""The uptime bars' sweep (each interval looked at only by the days it can overlap) against the
plain rule (every interval against every day), on generated intervals: overlapping or not,
zero-length, before the component existed, ending in the future; and bars computed from the
days before today known from an earlier moment against bars computed from nothing."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.shared.events import (
    ComponentStatus,
    Impact,
    Incident,
    IncidentStatus,
    ServiceStatus,
)
from herald.shared.statuses import worst
from herald.statuspage import uptime
from herald.statuspage.history import StatusChange

NOW = datetime(2025, 6, 10, 15, 30, tzinfo=UTC)
DAYS = 6


def plain(spans: list[uptime.Interval], now: datetime, created: datetime) -> uptime.Bars:
    """The rule as written first: every interval against every day."""
    out, total, down = [], 0.0, 0.0
    for n in range(DAYS - 1, -1, -1):
        day = now.date() - timedelta(days=n)
        start = datetime.combine(day, time(), UTC)
        end = min(start + timedelta(days=1), now)
        if end <= created:
            out.append(uptime.Day(day, None, 0.0))
            continue
        start = max(start, created)
        statuses, lost = [ComponentStatus.OPERATIONAL], 0.0
        for span in spans:
            overlap = (min(end, span.end) - max(start, span.start)).total_seconds()
            if overlap > 0 or (span.start == span.end and start <= span.start < end):
                statuses.append(span.status)
                lost += max(overlap, 0.0) * uptime.DOWN_WEIGHT.get(span.status, 0.0)
        seconds = max((end - start).total_seconds(), 0.0)
        lost = min(lost, seconds)
        total += seconds
        down += lost
        out.append(uptime.Day(day, worst(statuses), lost))
    return uptime.Bars(tuple(out), (1 - down / total) if total > 0 else None)


minutes = st.integers(min_value=-(DAYS + 1) * 1440, max_value=600)
interval = st.builds(
    lambda start, length, status: uptime.Interval(
        NOW + timedelta(minutes=start), NOW + timedelta(minutes=start + length), status
    ),
    minutes,
    st.integers(min_value=0, max_value=3 * 1440),
    st.sampled_from(list(ComponentStatus)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(interval, max_size=12), minutes)
def test_the_sweep_gives_what_the_plain_rule_gives(spans, created_at):
    created = NOW + timedelta(minutes=created_at)

    found = uptime.bars(spans, NOW, created, days=DAYS)

    expected = plain(spans, NOW, created)
    assert [(d.day, d.status) for d in found.days] == [(d.day, d.status) for d in expected.days]
    assert [round(d.down_seconds, 6) for d in found.days] == [
        round(d.down_seconds, 6) for d in expected.days
    ]
    if expected.uptime is None:
        assert found.uptime is None
    else:
        assert found.uptime is not None
        assert abs(found.uptime - expected.uptime) < 1e-12


@settings(max_examples=300, deadline=None)
@given(
    st.lists(interval, max_size=8),
    st.lists(interval, max_size=4),
    minutes,
    st.integers(min_value=0, max_value=8 * 60),
    st.booleans(),
)
def test_bars_from_a_known_past_are_the_bars_from_nothing(spans, more, created_at, later, rebase):
    # Earlier the same day (or, with `rebase`, the day before), the bars of `spans`; now, the bars
    # of `spans` and `more` (intervals under way, or new ones reaching into the past).
    created = NOW + timedelta(minutes=created_at)
    before = NOW - timedelta(days=1 if rebase else 0, minutes=later)
    ongoing = [
        uptime.Interval(s.start, before, s.status) if s.end > before else s
        for s in spans
        if s.start <= before
    ]
    _, known = uptime.bars_since(ongoing, before, created, DAYS)

    found, past = uptime.bars_since([*spans, *more], NOW, created, DAYS, known=known)

    assert found == uptime.bars([*spans, *more], NOW, created, DAYS)
    assert past == uptime.bars_since([*spans, *more], NOW, created, DAYS)[1]
    if not rebase and not more and ongoing == spans and created <= before:
        assert past is known  # nothing before today changed: taken as it was


def test_the_days_before_today_are_computed_once_a_day_while_an_outage_goes_on():
    created = NOW - timedelta(days=30)
    since = NOW - timedelta(days=2, hours=3)
    morning = datetime.combine(NOW.date(), time(8), UTC)
    outage = [uptime.Interval(since, morning, ComponentStatus.MAJOR_OUTAGE)]
    _, known = uptime.bars_since(outage, morning, created, DAYS)

    later = [uptime.Interval(since, NOW, ComponentStatus.MAJOR_OUTAGE)]  # still going on
    found, past = uptime.bars_since(later, NOW, created, DAYS, known=known)

    assert past is known
    assert found == uptime.bars(later, NOW, created, DAYS)
    assert [d.status for d in found.days[-3:]] == [ComponentStatus.MAJOR_OUTAGE] * 3
    tomorrow = NOW + timedelta(days=1)
    _, next_day = uptime.bars_since(later, tomorrow, created, DAYS, known=past)
    assert next_day is not past


def incident_state(spans: list[tuple[int, int]]) -> ServiceStatus:
    """A service whose recently resolved incidents cover `spans` (minutes from NOW)."""
    recent = tuple(
        Incident(
            id=f"i-{n}",
            service="api",
            title="t",
            body="",
            status=IncidentStatus.RESOLVED,
            impact=Impact.MAJOR,
            component_status=ComponentStatus.PARTIAL_OUTAGE,
            started_at=NOW + timedelta(minutes=a),
            updated_at=NOW + timedelta(minutes=a + b),
            resolved_at=NOW + timedelta(minutes=a + b),
        )
        for n, (a, b) in enumerate(spans)
    )
    return ServiceStatus(service="api", version=1, recent=recent)


KINDS = ["append", "append", "append", "again", "same_time", "future"]
KINDS += ["insert", "replace", "trim", "wait"]
step = st.tuples(
    st.sampled_from(KINDS),
    st.integers(min_value=0, max_value=600),  # minutes the clock moves on
    st.sampled_from(list(ComponentStatus)),
    st.integers(min_value=0, max_value=10_000),  # where an insert or a replacement goes
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(step, min_size=1, max_size=25),
    st.lists(st.tuples(minutes, st.integers(0, 600)), max_size=2),
    minutes,
    st.integers(min_value=-3000, max_value=0),
)
def test_running_bars_are_the_bars_from_nothing_after_every_event(
    steps, incidents, created_at, start_at
):
    # What the status page does: a change (mostly appended) and the bars, event after event,
    # the clock moving on (across midnights too); each time the same as from nothing.
    state = incident_state(incidents)
    created = NOW + timedelta(minutes=created_at)
    now = NOW + timedelta(minutes=start_at)
    changes: list[StatusChange] = []
    running = uptime.Running()
    for version, (kind, wait, status, where) in enumerate(steps, start=1):
        now += timedelta(minutes=wait, seconds=7)
        if kind == "again":  # a second change at the same moment as the last one
            now -= timedelta(minutes=wait, seconds=7)
        if kind in ("append", "same_time", "future", "again"):
            at = {"same_time": now, "future": now + timedelta(minutes=wait + 1)}.get(
                kind, now - timedelta(seconds=3)
            )
            changes.append(StatusChange(max([at, *(c.at for c in changes[-1:])]), version, status))
        elif kind == "replace" and changes:
            i = where % len(changes)
            changes[i] = StatusChange(changes[i].at, changes[i].version, status)
        elif kind == "insert" and changes:
            earlier = changes[where % len(changes)].at - timedelta(minutes=1)
            bisect.insort(changes, StatusChange(earlier, version, status))
        elif kind == "trim" and changes:
            del changes[0]
        since = min([created, *(c.at for c in changes[:1])])
        expected = uptime.bars(uptime.intervals_for(state, changes, now), now, since, DAYS)
        assert running.bars(state, changes, now, since, DAYS) == expected
