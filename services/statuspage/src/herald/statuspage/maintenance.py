"""Scheduled maintenance windows as the page and the Statuspage API show them.

Pure. The correlator publishes every change of a window (`maintenance.changed`, a
MaintenanceWindow per service it covers) and keeps them in each service's snapshot; the
projection folds them into ServiceStatus.maintenances and `windows()` joins the services' copies
into one `Window` each: `upcoming()` is what `scheduled-maintenances/upcoming.json` lists,
`active()` what `scheduled-maintenances/active.json` and the summary list, `completed()` the
windows over that a window's own page still follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from herald.shared.events import MaintenanceStatus, MaintenanceWindow, ServiceStatus
from herald.shared.public_page import MaintenanceUpdate, maintenance_updates


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
    updates: tuple[MaintenanceUpdate, ...] = field(default_factory=tuple)
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


def completed(windows: Iterable[Window]) -> list[Window]:
    """Windows that are over (completed by their end, by hand, or cancelled), the most recently
    scheduled first."""
    return [w for w in recent(windows) if w.status is MaintenanceStatus.COMPLETED]


def recent(windows: Iterable[Window], limit: int = 50) -> list[Window]:
    """Every window, the most recently scheduled first (scheduled-maintenances.json)."""
    return sorted(windows, key=lambda w: w.scheduled_for, reverse=True)[:limit]


def windows(services: Mapping[str, ServiceStatus]) -> tuple[Window, ...]:
    """Every window the services hold, one per id (the most recently updated copy), covering
    the configured services it names. Its updates: what the correlator says of each state it
    reached (the body when scheduled, then one per start and completion)."""
    latest: dict[str, MaintenanceWindow] = {}
    for status in services.values():
        for w in status.maintenances:
            held = latest.get(w.id)
            if held is None or w.updated_at > held.updated_at:
                latest[w.id] = w
    out = []
    for w in latest.values():
        out.append(
            Window(
                id=w.id,
                name=w.title,
                status=w.status,
                scheduled_for=w.starts_at,
                scheduled_until=w.ends_at,
                created_at=w.created_at,
                updated_at=w.updated_at,
                services=tuple(s for s in w.services if s in services),
                updates=maintenance_updates(w),
            )
        )
    return tuple(sorted(out, key=lambda x: x.scheduled_for))
