"""Uptime bars: a bar a day, coloured by the worst status of that day, and an uptime percentage.

Pure: status intervals in, days out. The rule for the percentage (Atlassian Statuspage's): a
major outage counts as down for all of its time, a partial outage for 30 % of it; degraded
performance and maintenance count as up. Days before the component existed have no data and
do not count.

The intervals come from the stored history of the component's status (history.py,
`intervals_from`: each change lasts until the next one), for the retention (`page.history_days`,
90 days by default). Before the first change the history holds (a page upgraded from a version
without history, or a history lost with Redis), what the page's projection knows fills in
(`intervals_of`: the recently resolved incidents, each at the worst status it brought the
component to): `intervals_for` joins both.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from herald.shared.events import ComponentStatus, ServiceStatus
from herald.shared.statuses import STATUS_RANK, worst
from herald.statuspage.history import StatusChange

DAYS = 90
DOWN_WEIGHT: dict[ComponentStatus, float] = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
}
"""Share of an interval's time counted as downtime, by status (others: 0)."""


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    status: ComponentStatus


@dataclass(frozen=True)
class Day:
    day: date
    status: ComponentStatus | None
    """The worst status of the day; None before the component existed (no data)."""
    down_seconds: float


@dataclass(frozen=True)
class Bars:
    days: tuple[Day, ...]
    """Oldest first, the last one today."""
    uptime: float | None
    """0..1 over the days with data; None when no day has data."""


def intervals_of(state: ServiceStatus, now: datetime) -> list[Interval]:
    """What the projection knows of a service's bad times: its public incidents."""
    found = [
        Interval(i.started_at, i.resolved_at or i.updated_at, i.component_status)
        for i in state.recent
        if i.public
    ]
    if state.incident is not None and state.incident.public:
        found.append(Interval(state.incident.started_at, now, state.component_status))
    return found


def intervals_from(changes: Sequence[StatusChange], now: datetime) -> list[Interval]:
    """Each change's status, from it until the next change (the last one until `now`)."""
    ordered = sorted(changes)
    ends = [c.at for c in ordered[1:]] + [now]
    return [Interval(c.at, end, c.status) for c, end in zip(ordered, ends, strict=True)]


def intervals_for(
    state: ServiceStatus, changes: Sequence[StatusChange], now: datetime
) -> list[Interval]:
    """The history's intervals, and before its first change what the projection knows."""
    if not changes:
        return intervals_of(state, now)
    first = min(c.at for c in changes)
    earlier = [i for i in intervals_of(state, now) if _utc(i.end) <= _utc(first)]
    return [*earlier, *intervals_from(changes, now)]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Past:
    """The days before today of a component's bars, with what they were computed from: they
    change only when an interval that starts before today does, or with the day. A component's
    intervals today (an incident under way, a storm's updates) leave them as they are."""

    spans: tuple[Interval, ...]
    """The intervals that start before today, in UTC, sorted by start, ended at today's start at
    the latest (what the days before today can see of them)."""
    today: date
    created: datetime
    count: int
    """How many days the bars have, today included."""
    days: tuple[Day, ...]
    """Oldest first, without today."""
    total: float
    """Seconds with data over `days`."""
    down: float
    """Downtime seconds over `days`."""


def bars(intervals: Iterable[Interval], now: datetime, created: datetime, days: int = DAYS) -> Bars:
    """`days` UTC days ending today (`bars_since` without a known past)."""
    return bars_since(intervals, now, created, days)[0]


def bars_since(
    intervals: Iterable[Interval],
    now: datetime,
    created: datetime,
    days: int = DAYS,
    known: Past | None = None,
) -> tuple[Bars, Past]:
    """`days` UTC days ending today, and the days before today (`Past`) to give back as `known`
    next time: when they were computed from the same intervals, on the same day, they are
    taken as they are and only today's bar is computed (a component's bars on every one of
    its events cost one day, not 90).

    One sweep: the intervals sorted by start, each day looks only at those that can overlap it
    (started before the day ends, not ended before it starts), so a flapping component's
    thousands of changes cost once each, not once per day (2,000 changes: 445 ms -> 21 ms,
    docs/performance.md)."""
    spans = sorted(
        (Interval(_utc(i.start), _utc(i.end), i.status) for i in intervals),
        key=lambda i: i.start,
    )
    now, created = _utc(now), _utc(created)
    today = now.date()
    midnight = datetime.combine(today, time(), UTC)
    before = tuple(
        Interval(s.start, min(s.end, midnight), s.status) for s in spans if s.start < midnight
    )
    past = known
    if past is None or (past.spans, past.today, past.created, past.count) != (
        before,
        today,
        created,
        days,
    ):
        past = _past(before, today, created, days)
    if days < 1:
        return Bars((), None), past
    tomorrow = midnight + timedelta(days=1)
    start = max(midnight, created)
    current = [s for s in spans if s.start < tomorrow and (s.end > start or s.start >= start)]
    found, seconds = _day(today, midnight, now, created, current)
    total = past.total + seconds
    down = past.down + found.down_seconds
    return Bars((*past.days, found), (1 - down / total) if total > 0 else None), past


def _past(spans: tuple[Interval, ...], today: date, created: datetime, days: int) -> Past:
    """The `days - 1` days before today, from `spans` (sorted by start, none after today's
    start)."""
    out: list[Day] = []
    total = 0.0
    down = 0.0
    upcoming = 0
    current: list[Interval] = []
    for n in range(days - 1, 0, -1):
        day = today - timedelta(days=n)
        start = datetime.combine(day, time(), UTC)
        end = start + timedelta(days=1)
        while upcoming < len(spans) and spans[upcoming].start < end:
            current.append(spans[upcoming])
            upcoming += 1
        # An interval over before this day starts can overlap no later day either.
        current = [s for s in current if s.end > max(start, created) or s.start >= start]
        found, seconds = _day(day, start, end, created, current)
        total += seconds
        down += found.down_seconds
        out.append(found)
    return Past(spans, today, created, days, tuple(out), total, down)


def _day(
    day: date, start: datetime, end: datetime, created: datetime, spans: Iterable[Interval]
) -> tuple[Day, float]:
    """The bar of `day` (from `start` to `end`, at most a day) and its seconds with data; `spans`
    are the intervals that can overlap it."""
    if end <= created:
        return Day(day, None, 0.0), 0.0
    start = max(start, created)
    statuses: list[ComponentStatus] = [ComponentStatus.OPERATIONAL]
    lost = 0.0
    for span in spans:
        overlap = (min(end, span.end) - max(start, span.start)).total_seconds()
        if overlap > 0 or (span.start == span.end and start <= span.start < end):
            statuses.append(span.status)
            lost += max(overlap, 0.0) * DOWN_WEIGHT.get(span.status, 0.0)
    seconds = max((end - start).total_seconds(), 0.0)
    return Day(day, worst(statuses), min(lost, seconds)), seconds


def _at(change: StatusChange) -> datetime:
    return _utc(change.at)


@dataclass
class Running:
    """One component's bars kept from event to event (the status page computes them on each of
    the component's events). The days before today are reused while the changes before today
    are the same objects (`Past`); today's bar adds each change's interval once it is closed
    (changes are appended at the end: a busy component's thousands of changes today cost once
    each, not once per event). Anything else (a change inserted or dropped, one in the future,
    intervals from before the history that reach today) is computed from nothing, as
    `bars(intervals_for(...))` does; the result is the same either way."""

    past: Past | None = None
    before: tuple[Interval, ...] = ()
    """The projection's intervals before the history (`intervals_for`'s `earlier`) `past` saw."""
    prefix: Sequence[StatusChange] = ()
    """The changes before today that `past` was computed from."""
    day: date | None = None
    created: datetime | None = None
    first: int = 0
    """The first change whose interval can overlap today."""
    held: Sequence[StatusChange] = field(default_factory=tuple)
    """`changes[first:]` as far as today's closed intervals were added (their ends included)."""
    rank: int = 0
    """The worst status rank among today's closed intervals (operational: 0)."""
    lost: float = 0.0
    """Their downtime seconds, added in order."""

    def bars(
        self,
        state: ServiceStatus,
        changes: Sequence[StatusChange],
        now: datetime,
        created: datetime,
        days: int = DAYS,
    ) -> Bars:
        """`bars(intervals_for(state, changes, now), now, created, days)`; `changes` oldest first."""
        found = self._running(state, changes, _utc(now), _utc(created), days)
        if found is not None:
            return found
        found, self.past = bars_since(
            intervals_for(state, changes, now), now, created, days, known=self.past
        )
        self.day = None  # today's part starts over at the next event
        self.before, self.prefix = (), ()
        if changes:
            midnight = datetime.combine(_utc(now).date(), time(), UTC)
            first_at = _at(changes[0])
            self.before = tuple(
                Interval(_utc(i.start), _utc(i.end), i.status)
                for i in intervals_of(state, now)
                if _utc(i.end) <= first_at and _utc(i.start) < midnight
            )
            self.prefix = changes[: bisect.bisect_left(changes, midnight, key=_at)]
        return found

    def _running(
        self,
        state: ServiceStatus,
        changes: Sequence[StatusChange],
        now: datetime,
        created: datetime,
        days: int,
    ) -> Bars | None:
        if not changes or days < 1 or now <= created or _at(changes[-1]) >= now:
            return None
        today = now.date()
        midnight = datetime.combine(today, time(), UTC)
        start = max(midnight, created)
        first_at = _at(changes[0])
        earlier = [
            Interval(_utc(i.start), _utc(i.end), i.status)
            for i in intervals_of(state, now)
            if _utc(i.end) <= first_at
        ]
        if any(i.start > first_at or i.end > start or i.start >= start for i in earlier):
            return None  # reaches today, or not before the history: the general way
        # The days before today.
        cut = bisect.bisect_left(changes, midnight, key=_at)
        before = tuple(e for e in earlier if e.start < midnight)
        past = self.past
        if (
            past is None
            or (past.today, past.created, past.count) != (today, created, days)
            or self.before != before
            or self.prefix != changes[:cut]
        ):
            return None
        # Today: the changes' intervals from `first` on can overlap it; all but the last one
        # (which lasts until now) are closed, and end before now.
        first = min(
            bisect.bisect_left(changes, start, key=_at),
            max(bisect.bisect_right(changes, start, key=_at) - 1, 0),
        )
        held = self.held
        if (
            self.day != today
            or self.created != created
            or self.first != first
            or changes[first : first + len(held)] != held
        ):
            held, self.rank, self.lost = changes[first : first + 1], 0, 0.0
        rank, lost = self.rank, self.lost
        for i in range(first + len(held) - 1, len(changes) - 1):
            span_start, span_end = _at(changes[i]), _at(changes[i + 1])
            overlap = (span_end - max(start, span_start)).total_seconds()
            if overlap > 0 or (span_start == span_end and start <= span_start):
                status = changes[i].status
                rank = max(rank, STATUS_RANK[status])
                lost += max(overlap, 0.0) * DOWN_WEIGHT.get(status, 0.0)
        self.day, self.created, self.first = today, created, first
        self.held, self.rank, self.lost = changes[first:], rank, lost
        last = changes[-1]
        overlap = (now - max(start, _at(last))).total_seconds()
        if overlap > 0:
            rank = max(rank, STATUS_RANK[last.status])
            lost += overlap * DOWN_WEIGHT.get(last.status, 0.0)
        seconds = max((now - start).total_seconds(), 0.0)
        status = next(s for s, r in STATUS_RANK.items() if r == rank)
        bar = Day(today, status, min(lost, seconds))
        total = past.total + seconds
        down = past.down + bar.down_seconds
        return Bars((*past.days, bar), (1 - down / total) if total > 0 else None)


def percent(value: float | None, no_data: str = "-") -> str:
    """99.95 %-style, two decimals, never rounded up to 100 unless it is."""
    if value is None:
        return no_data
    hundredths = int(value * 10000) / 100
    return f"{hundredths:.2f}%"


def worst_of_days(days: Sequence[Day]) -> ComponentStatus:
    return worst(d.status for d in days if d.status is not None)
