"""Scheduled maintenance windows as the page and the Statuspage API show them.

Pure. No maintenance event exists in the contracts yet: the page holds an empty tuple of
windows and every endpoint answers the real Statuspage shape with an empty list. When
maintenance events land, the projection folds them into `Window`s and these functions need no
change: `upcoming()` is what `scheduled-maintenances/upcoming.json` lists, `active()` what
`scheduled-maintenances/active.json` and the summary list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MaintenanceStatus(StrEnum):
    """Statuspage's scheduled-maintenance statuses."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


@dataclass(frozen=True)
class Update:
    id: str
    status: MaintenanceStatus
    body: str
    at: datetime


@dataclass(frozen=True)
class Window:
    """One maintenance window of the page."""

    id: str
    name: str
    status: MaintenanceStatus
    scheduled_for: datetime
    scheduled_until: datetime
    created_at: datetime
    updated_at: datetime
    services: tuple[str, ...] = ()
    """The components it affects (service ids of the config)."""
    updates: tuple[Update, ...] = field(default_factory=tuple)
    """Newest first."""


ACTIVE = frozenset({MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING})


def upcoming(windows: Iterable[Window]) -> list[Window]:
    """Windows not started yet, soonest first."""
    return sorted(
        (w for w in windows if w.status is MaintenanceStatus.SCHEDULED),
        key=lambda w: w.scheduled_for,
    )


def active(windows: Iterable[Window]) -> list[Window]:
    """Windows under way (in progress or verifying), soonest first."""
    return sorted((w for w in windows if w.status in ACTIVE), key=lambda w: w.scheduled_for)


def recent(windows: Iterable[Window], limit: int = 50) -> list[Window]:
    """Every window, the most recently scheduled first (scheduled-maintenances.json)."""
    return sorted(windows, key=lambda w: w.scheduled_for, reverse=True)[:limit]
