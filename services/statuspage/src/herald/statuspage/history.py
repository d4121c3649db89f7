"""The page's history: what is kept of the INCIDENTS events once the projection forgets them, and
the history page (past incidents by month, newest month first, a few months per page).

Pure: events, stored entries and `now` in; changes, archived incidents and months out. What an
event leaves in the history depends only on the event (never on what this replica folded
before), so every replica, folding every event, writes the same entries: the store (archive.py)
keys them by the service's version and the writes are idempotent.

Every month of the period is listed, empty ones too (a quiet month is news), so three months a
page covers at least 90 days per page.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from herald.shared.events import (
    ComponentStatus,
    ComponentStatusChanged,
    Incident,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentUpdated,
    ServiceStatus,
)
from herald.shared.statuses import CLOSED

MONTHS_PER_PAGE = 3
MAX_PAGES = 40
"""How far back the pages go (10 years); beyond, a 404."""


@dataclass(frozen=True, order=True)
class StatusChange:
    """The component went to `status` at `at` (the service's `version` then)."""

    at: datetime
    version: int
    status: ComponentStatus

    def member(self) -> str:
        """Its sorted-set member: one per version, so the same event written twice is one."""
        return f"{self.version}:{self.status.value}"

    @classmethod
    def parse(cls, member: str | bytes, score: float) -> StatusChange | None:
        """Back from a sorted-set member and score; None for a member that is not one."""
        text = member.decode() if isinstance(member, bytes) else member
        version, _, status = text.partition(":")
        try:
            return cls(datetime.fromtimestamp(score, UTC), int(version), ComponentStatus(status))
        except ValueError:
            return None


def status_change(event: IncidentEvent) -> StatusChange | None:
    """The component status an event leaves, as the projection sees it (projection.py): a
    status change, or a public incident opened or updated; None when the event sets none."""
    if isinstance(event, ComponentStatusChanged):
        return StatusChange(event.occurred_at, event.version, event.status)
    if isinstance(event, IncidentOpened | IncidentUpdated) and event.incident.public:
        return StatusChange(event.occurred_at, event.version, event.incident.component_status)
    return None


def snapshot_change(state: ServiceStatus) -> StatusChange | None:
    """The status a stored snapshot shows (a replica starting writes it: no gap before the
    events it folds next); None for a service with no state yet."""
    if state.version == 0 or state.updated_at is None:
        return None
    return StatusChange(state.updated_at, state.version, state.component_status)


def archived(event: IncidentEvent) -> Incident | None:
    """The incident an event closes (resolved, or its postmortem written), for the history;
    None for an open or internal incident and for other events."""
    if not isinstance(event, IncidentResolved | IncidentUpdated):
        return None
    incident = event.incident
    if not incident.public:
        return None
    if isinstance(event, IncidentResolved) or incident.status in CLOSED:
        return incident
    return None


def add_change(changes: list[StatusChange], change: StatusChange) -> bool:
    """Insert into a list kept in order; False when its version is already there."""
    if any(c.version == change.version for c in reversed(changes)):
        return False
    bisect.insort(changes, change)
    return True


def trim_changes(changes: list[StatusChange], cutoff: datetime, most: int) -> None:
    """Drop what is older than `cutoff`, except the last change before it (the status the
    retained period starts with), and keep at most `most` (the newest)."""
    older = bisect.bisect_left(changes, StatusChange(cutoff, -1, ComponentStatus.OPERATIONAL))
    if older > 1:
        del changes[: older - 1]
    if len(changes) > most:
        del changes[: len(changes) - most]


def cutoff(now: datetime, days: int) -> datetime:
    """The oldest moment the history keeps."""
    return now - timedelta(days=days)


def merged(archived_incidents: Iterable[Incident], known: Sequence[Incident]) -> list[Incident]:
    """The history's incidents with those the projection knows (open or recently resolved),
    which are newer and win by id."""
    ids = {i.id for i in known}
    return [*known, *(i for i in archived_incidents if i.id not in ids)]


@dataclass(frozen=True)
class Month:
    first_day: date
    incidents: tuple[Incident, ...]
    """Newest first."""


def _month_back(first: date, n: int) -> date:
    index = first.year * 12 + (first.month - 1) - n
    return date(index // 12, index % 12 + 1, 1)


def page_span(now: datetime, page: int) -> tuple[datetime, datetime]:
    """The start (inclusive) and end (exclusive) of what page `page` lists."""
    utc = now.astimezone(UTC)
    this_month = date(utc.year, utc.month, 1)
    oldest = _month_back(this_month, (page + 1) * MONTHS_PER_PAGE - 1)
    newest = _month_back(this_month, page * MONTHS_PER_PAGE - 1)
    return (
        datetime(oldest.year, oldest.month, 1, tzinfo=UTC),
        datetime(newest.year, newest.month, 1, tzinfo=UTC),
    )


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


Changes = Mapping[str, Sequence[StatusChange]]
"""Each service's component status changes, oldest first."""
