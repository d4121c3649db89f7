"""The history page: past incidents by month, newest month first, a few months per page.

Pure: incidents and `now` in, months out. Every month of the period is listed, empty ones too
(a quiet month is news), so three months a page covers at least 90 days per page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from herald.shared.events import Incident

MONTHS_PER_PAGE = 3
MAX_PAGES = 40
"""How far back the pages go (10 years); beyond, a 404."""


@dataclass(frozen=True)
class Month:
    first_day: date
    incidents: tuple[Incident, ...]
    """Newest first."""


def _month_back(first: date, n: int) -> date:
    index = first.year * 12 + (first.month - 1) - n
    return date(index // 12, index % 12 + 1, 1)


def months(incidents: Iterable[Incident], now: datetime, page: int = 0) -> list[Month]:
    """Page `page` (0: the current month and the two before it)."""
    by_month: dict[date, list[Incident]] = {}
    for incident in incidents:
        started = incident.started_at.astimezone(UTC)
        by_month.setdefault(date(started.year, started.month, 1), []).append(incident)
    this_month = date(now.astimezone(UTC).year, now.astimezone(UTC).month, 1)
    out = []
    for n in range(page * MONTHS_PER_PAGE, (page + 1) * MONTHS_PER_PAGE):
        first = _month_back(this_month, n)
        found = sorted(by_month.get(first, []), key=lambda i: i.started_at, reverse=True)
        out.append(Month(first, tuple(found)))
    return out
