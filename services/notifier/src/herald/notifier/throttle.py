"""Sliding-window send limits: when may the next notification go (pure).

A limit is `count` notifications per `per`. With the instants of the sends so far, the next
one may go at once when every window has room, else when the oldest send that fills a window
leaves it (the latest such instant over all limits). Nothing is dropped: a throttled
notification waits its turn. `SendWindow` (Redis) applies the same rule atomically across
replicas, per channel (`rate_limit`) and per contact method (`notifier.throttle`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from herald.shared.config import SendLimit


def next_allowed(limits: Iterable[SendLimit], sent: Sequence[datetime], now: datetime) -> datetime:
    """The earliest instant at or after `now` when one more send keeps within every limit."""
    ordered = sorted(sent)
    when = now
    for limit in limits:
        in_window = [t for t in ordered if t > now - limit.per]
        if len(in_window) >= limit.count:
            # the send that must leave the window for one more to fit
            leaving = in_window[len(in_window) - limit.count]
            when = max(when, leaving + limit.per)
    return when


def horizon(limits: Iterable[SendLimit]) -> timedelta:
    """How long past sends matter (the longest window)."""
    return max((limit.per for limit in limits), default=timedelta())
