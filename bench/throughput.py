"""How fast a consumer worked through its backlog, from periodic readings of its progress.
Pure: the readings are plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Tick:
    """One reading: at `t` (seconds, any origin), `done` messages acknowledged so far and
    `backlog` messages stored but not yet acknowledged (pending + in flight)."""

    t: float
    done: int
    backlog: int


def crossing(ticks: Sequence[Tick], done: int) -> float | None:
    """When `done` messages had been acknowledged (interpolated between readings); None if never."""
    for before, after in pairwise(ticks):
        if after.done >= done > before.done:
            share = (done - before.done) / (after.done - before.done)
            return before.t + share * (after.t - before.t)
    if ticks and ticks[0].done >= done:
        return ticks[0].t
    return None


def done_at(ticks: Sequence[Tick], t: float) -> float:
    """Messages acknowledged at time `t` (interpolated; the nearest reading outside the range)."""
    if not ticks:
        return 0.0
    if t <= ticks[0].t:
        return float(ticks[0].done)
    for before, after in pairwise(ticks):
        if before.t <= t <= after.t:
            span = after.t - before.t
            share = (t - before.t) / span if span > 0 else 1.0
            return before.done + share * (after.done - before.done)
    return float(ticks[-1].done)


def busy_rate(
    ticks: Sequence[Tick], lo: int = 0, hi: int | None = None, min_backlog: int = 1
) -> float | None:
    """Messages per second while the consumer had work waiting (`backlog` >= `min_backlog` at
    the start of an interval), counting only the messages numbered `lo`..`hi` (by `done`).

    Intervals in which the consumer was starved (waiting for arrivals) are left out, so this is
    its capacity, not the arrival rate. None when no busy interval covers the range."""
    top = hi if hi is not None else (ticks[-1].done if ticks else 0)
    count = 0.0
    seconds = 0.0
    for before, after in pairwise(ticks):
        if before.backlog < min_backlog or after.t <= before.t:
            continue
        moved = after.done - before.done
        if moved <= 0:
            seconds += (after.t - before.t) if lo <= before.done < top else 0.0
            continue
        overlap = min(after.done, top) - max(before.done, lo)
        if overlap <= 0:
            continue
        count += overlap
        seconds += (after.t - before.t) * overlap / moved
    return count / seconds if seconds > 0 and count > 0 else None
