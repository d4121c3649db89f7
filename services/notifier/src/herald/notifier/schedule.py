"""Who is on call for a schedule at an instant, and when that changes (pure).

A schedule has layers (rotations) and overrides. At an instant, the override listed last of
those that cover it wins; else the last layer that has someone; else nobody.

Two rules for a rotation's handoffs, by the kind of shift (`shift_length` in the config):

- calendar shifts (`daily`, `weekly`, `Nd`, `Nw`): each handoff is at the same local
  wall-clock time in the schedule's time zone, so a daily shift handing off at 09:00
  Europe/Berlin does so at 09:00 on both sides of a DST change and lasts 23 or 25 hours
  that day. A handoff time that does not exist that day (inside the spring-forward gap)
  happens when the clocks have jumped: 02:30 becomes 03:30. One that exists twice (the
  fall-back hour) happens the first time.
- elapsed shifts (anything written with hours or minutes: `12h`, `8h`, `90m`): each shift
  lasts exactly that many elapsed hours, counted from the first handoff, so a 12h
  rotation's handoffs move by one hour of local time at a DST change (08:00/20:00 UTC stays
  08:00/20:00 UTC). GoAlert's hourly rotations add wall-clock hours instead; we keep the
  length of a shift exact, as a person on a 12h shift expects.

Every instant is compared in UTC: Python compares and subtracts two datetimes with the same
`tzinfo` by their wall-clock fields, which is wrong across a DST change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from herald.shared.config import (
    WEEKDAYS,
    HeraldConfig,
    Layer,
    Restriction,
    Rotation,
    Schedule,
    shift_length,
)

DEFAULT_HORIZON = timedelta(days=366)
"""How far `next_change` looks ahead before it says there is no change."""


@dataclass(frozen=True)
class OnCall:
    """Who is on call at an instant, and why."""

    user: str | None
    """User id; None: nobody."""
    layer: int | None = None
    """Index of the layer that put them there; None for an override (or nobody)."""
    override: bool = False


@dataclass(frozen=True)
class Shift:
    """A stretch of time during which one user holds a schedule (layers and overrides applied)."""

    user: str
    start: datetime
    """UTC."""
    end: datetime
    """UTC, exclusive."""


@dataclass(frozen=True)
class NowAndNext:
    """For "who is on call now and next"."""

    user: str | None
    """On call now; None: nobody."""
    next_change: datetime | None
    """UTC instant of the next change of who is on call; None: none within the horizon."""
    next_user: str | None
    """Who is on call from `next_change` (None: nobody, or no change)."""


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an instant needs a time zone (an aware datetime)")
    return at.astimezone(UTC)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A local wall-clock time to UTC. fold=0: in the spring-forward gap the offset from before
    the change applies (02:30 becomes 03:30 local); in the fall-back hour, the first one."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A configured date (local midnight) or datetime (local unless it carries an offset), UTC."""
    if isinstance(value, datetime):
        return _utc(value) if value.tzinfo is not None else _local_to_utc(value, tz)
    return _local_to_utc(datetime.combine(value, time()), tz)


class _Rotation:
    """A layer's rotation resolved: handoff k (k = 0 is the first shift) at `handoff(k)`."""

    def __init__(self, rot: Rotation, tz: ZoneInfo, participants: tuple[str, ...]) -> None:
        self.tz = tz
        self.participants = participants
        kind, self.length = shift_length(rot.shift)
        self.calendar = kind == "calendar"
        start = rot.start
        if isinstance(start, datetime):
            local = start.astimezone(tz).replace(tzinfo=None) if start.tzinfo else start
        else:
            local = datetime.combine(start, time())
        first = datetime.combine(local.date(), rot.handoff or local.time())
        if first < local:
            first += timedelta(days=1)
        if self.calendar and self.length.days % 7 == 0:
            want = WEEKDAYS.index(rot.handoff_day) if rot.handoff_day else first.weekday()
            first += timedelta(days=(want - first.weekday()) % 7)
        self.anchor_local = first
        self.anchor = _local_to_utc(first, tz)

    def handoff(self, k: int) -> datetime:
        if self.calendar:  # naive arithmetic: same local wall-clock time, whatever DST does
            return _local_to_utc(self.anchor_local + k * self.length, self.tz)
        return self.anchor + k * self.length

    def index(self, t: datetime) -> int:
        """The k with handoff(k) <= t < handoff(k + 1) (negative before the first handoff)."""
        if self.calendar:
            local = t.astimezone(self.tz).replace(tzinfo=None)
            k = (local - self.anchor_local) // self.length
            # The local estimate can be off by one around a DST change: settle it in UTC.
            while self.handoff(k + 1) <= t:
                k += 1
            while self.handoff(k) > t:
                k -= 1
            return k
        return (t - self.anchor) // self.length

    def user(self, t: datetime) -> str | None:
        k = self.index(t)
        return self.participants[k % len(self.participants)] if k >= 0 else None

    def next_handoff(self, t: datetime) -> datetime:
        return self.handoff(max(self.index(t) + 1, 0))


def _windows(r: Restriction, tz: ZoneInfo, t: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The restriction's windows (UTC) starting on the local days from the one before t to a
    week after it: enough to contain t and find the next edge."""
    today = t.astimezone(tz).date()
    for offset in range(-1, 9):
        day = today + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in r.days:
            continue
        start = datetime.combine(day, r.start)
        end = datetime.combine(day if r.end > r.start else day + timedelta(days=1), r.end)
        yield _local_to_utc(start, tz), _local_to_utc(end, tz)


class _Layer:
    def __init__(self, layer: Layer, tz: ZoneInfo) -> None:
        self.rotation = _Rotation(layer.rotation, tz, layer.participants)
        self.restrictions = layer.restrictions
        self.tz = tz

    def applies(self, t: datetime) -> bool:
        if not self.restrictions:
            return True
        return any(a <= t < b for r in self.restrictions for a, b in _windows(r, self.tz, t))

    def user(self, t: datetime) -> str | None:
        return self.rotation.user(t) if self.applies(t) else None

    def edges_after(self, t: datetime) -> Iterator[datetime]:
        yield self.rotation.next_handoff(t)
        for r in self.restrictions:
            for a, b in _windows(r, self.tz, t):
                yield from (e for e in (a, b) if e > t)


class _Resolved:
    """A schedule with its time zone, anchors and override instants worked out once."""

    def __init__(self, schedule: Schedule) -> None:
        tz = _zone(schedule.time_zone)
        self.layers = [_Layer(layer, tz) for layer in schedule.layers]
        self.overrides = [
            (o.user, _instant(o.from_, tz), _instant(o.until, tz)) for o in schedule.overrides
        ]
        lengths = [layer.rotation.length for layer in self.layers]
        self.longest = max(lengths, default=timedelta(0))

    def on_call(self, t: datetime) -> OnCall:
        for taker, a, b in reversed(self.overrides):
            if a <= t < b:
                return OnCall(taker, override=True)
        for i in range(len(self.layers) - 1, -1, -1):
            user = self.layers[i].user(t)
            if user is not None:
                return OnCall(user, layer=i)
        return OnCall(None)

    def next_edge(self, t: datetime) -> datetime | None:
        """The earliest instant after t at which a layer or an override may change hands."""
        edges = [e for layer in self.layers for e in layer.edges_after(t)]
        edges += [e for _, a, b in self.overrides for e in (a, b) if e > t]
        return min(edges, default=None)

    def next_change(self, t: datetime, horizon: timedelta) -> datetime | None:
        current = self.on_call(t).user
        limit = t + horizon
        edge = self.next_edge(t)
        while edge is not None and edge <= limit:
            if self.on_call(edge).user != current:
                return edge
            edge = self.next_edge(edge)
        return None


def who_is_on_call(schedule: Schedule, at: datetime) -> OnCall:
    """Who is on call for `schedule` at `at` (an aware datetime), and through which layer."""
    return _Resolved(schedule).on_call(_utc(at))


def on_call(schedule: Schedule, at: datetime) -> str | None:
    """The user id on call for `schedule` at `at` (an aware datetime); None: nobody."""
    return who_is_on_call(schedule, at).user


def next_change(
    schedule: Schedule, after: datetime, horizon: timedelta = DEFAULT_HORIZON
) -> datetime | None:
    """The first instant (UTC) after `after` at which someone else (or nobody) is on call;
    None when nothing changes within `horizon`."""
    return _Resolved(schedule).next_change(_utc(after), horizon)


def now_and_next(
    schedule: Schedule, now: datetime, horizon: timedelta = DEFAULT_HORIZON
) -> NowAndNext:
    """Who is on call at `now`, when that changes and who comes next."""
    res = _Resolved(schedule)
    t = _utc(now)
    change = res.next_change(t, horizon)
    nxt = res.on_call(change).user if change is not None else None
    return NowAndNext(user=res.on_call(t).user, next_change=change, next_user=nxt)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> tuple[Shift, ...]:
    """The shifts (layers and overrides applied, nobody's time left out) overlapping
    [start, end), each whole: from the change that began it to the change that ends it.

    A shift is cut at `start` when it began more than one longest shift length before it,
    and at `end` when it goes on for more than one longest shift length after it (a rotation
    of one person, a long override): a calendar needs bounds."""
    res = _Resolved(schedule)
    a, b = _utc(start), _utc(end)
    if b <= a:
        return ()
    reach = res.longest + timedelta(days=1)
    t = a - reach
    user = res.on_call(t).user
    began = a  # the first stretch's real start is unknown: cut it at `start`
    out: list[Shift] = []
    while t < b:
        change = res.next_change(t, (b - t) + reach)
        stop = change if change is not None else b
        if user is not None and stop > a:
            out.append(Shift(user=user, start=began, end=stop))
        if change is None:
            break
        t, began = change, change
        user = res.on_call(change).user
    return tuple(out)


def user_shifts(
    config: HeraldConfig, user_id: str, start: datetime, end: datetime
) -> tuple[tuple[str, Shift], ...]:
    """Every (schedule id, shift) of `user_id` overlapping [start, end), by start time."""
    found = [
        (sid, s)
        for sid, schedule in config.schedules.items()
        for s in shifts(schedule, start, end)
        if s.user == user_id
    ]
    return tuple(sorted(found, key=lambda item: (item[1].start, item[0])))
