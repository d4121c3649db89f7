"""Maintenance windows of one service: when they start and end, and what they hide. Pure.

A window is `scheduled` until its `starts_at`, then `in_progress` until its `ends_at`, then
`completed` (by itself, or earlier by `herald maintenance complete` / `cancel`). `verifying` is
Statuspage's state between the two, set by hand (`herald maintenance verify`, only from
`in_progress`): the work is done and being checked. A verifying window is as active as one in
progress (the component shows `under_maintenance`, pages stay held) and completes the same way,
at its `ends_at` or by `complete` / `cancel`. The correlator's sweep (`Recheck`, every second) ticks every service: the step is atomic per
service, so with several replicas each change happens once, and after a restart the first
sweep catches up on what fell due meanwhile.

The rule that keeps a real outage visible (docs/operations.md): while a window is in progress
the component shows `under_maintenance` and the incidents of its alerts page nobody (unless
the window says `page: true`), EXCEPT when one of the service's firing public alerts has a
severity listed in `maintenance.breakthrough_severities` (default `critical`): then the
component shows what its alerts say and the incident pages, as without a window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from herald.correlator.incident import ServiceHead
from herald.shared.config import HeraldConfig
from herald.shared.events import MaintenanceStatus, MaintenanceWindow

KEEP_COMPLETED = 10
"""Completed windows a service keeps (the newest): what scheduled-maintenances.json lists."""

ACTIVE = frozenset({MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING})


def completed(window: MaintenanceWindow, now: datetime, *, cancelled: bool) -> MaintenanceWindow:
    return window.model_copy(
        update={
            "status": MaintenanceStatus.COMPLETED,
            "completed_at": now,
            "updated_at": now,
            "cancelled": cancelled,
        }
    )


def verifying(window: MaintenanceWindow, now: datetime, body: str) -> MaintenanceWindow:
    return window.model_copy(
        update={
            "status": MaintenanceStatus.VERIFYING,
            "verifying_at": now,
            "verifying_body": body,
            "updated_at": now,
        }
    )


def advance(
    windows: Sequence[MaintenanceWindow], now: datetime
) -> tuple[tuple[MaintenanceWindow, ...], list[MaintenanceWindow]]:
    """The windows at `now`, and those that changed: a scheduled one whose start passed is in
    progress (or completed at once when its end passed too); one in progress whose end passed is
    completed."""
    out: list[MaintenanceWindow] = []
    changed: list[MaintenanceWindow] = []
    for w in windows:
        new = w
        if w.status is MaintenanceStatus.SCHEDULED and w.starts_at <= now:
            new = w.model_copy(
                update={
                    "status": MaintenanceStatus.IN_PROGRESS,
                    "started_at": now,
                    "updated_at": now,
                }
            )
        if new.status in ACTIVE and new.ends_at <= now:
            new = completed(new, now, cancelled=False)
        out.append(new)
        if new is not w:
            changed.append(new)
    return kept(out), changed


def kept(windows: Iterable[MaintenanceWindow]) -> tuple[MaintenanceWindow, ...]:
    """Every window not completed, and the KEEP_COMPLETED most recently completed."""
    windows = list(windows)
    done = sorted(
        (w for w in windows if w.status is MaintenanceStatus.COMPLETED),
        key=lambda w: w.completed_at or w.updated_at,
        reverse=True,
    )[:KEEP_COMPLETED]
    keep = {w.id for w in done}
    return tuple(w for w in windows if w.status is not MaintenanceStatus.COMPLETED or w.id in keep)


def next_change(window: MaintenanceWindow) -> datetime | None:
    if window.status is MaintenanceStatus.SCHEDULED:
        return window.starts_at
    if window.status in ACTIVE:
        return window.ends_at
    return None


def active(windows: Iterable[MaintenanceWindow]) -> list[MaintenanceWindow]:
    return [w for w in windows if w.status in ACTIVE]


def breakthrough(head: ServiceHead, config: HeraldConfig) -> bool:
    """Whether a firing public alert of the service has a breakthrough severity."""
    severities = set(config.maintenance.breakthrough_severities)
    return any(n > 0 and s in severities for s, n in head.public_firing.items())


def hides(windows: Iterable[MaintenanceWindow], head: ServiceHead, config: HeraldConfig) -> bool:
    """Whether the component shows `under_maintenance`."""
    return bool(active(windows)) and not breakthrough(head, config)


def holds_pages(
    windows: Iterable[MaintenanceWindow], head: ServiceHead, config: HeraldConfig
) -> bool:
    """Whether the open incident's pages are held: a window in progress that does not page,
    and no breakthrough alert."""
    running = active(windows)
    return bool(running) and not any(w.page for w in running) and not breakthrough(head, config)
