"""What subscribers are told of an event, and when (pure).

`change_of` turns an INCIDENTS event into the change of a topic (an incident, a component, a
maintenance window), or None when subscribers never hear of it: an internal incident. At most
one message per subscriber per topic per `interval`: a change arriving sooner waits until the
interval since the last message is over, and the latest state then goes (the changes in between
are folded into it). The final state (a resolve) always goes, at once; so does every state of a
maintenance window (scheduled, in progress, verifying, completed: nothing to fold).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from herald.notifier.subscribers.payload import maintenance_services
from herald.notifier.subscribers.public import is_resolved, told_digest
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    ComponentStatusChanged,
    IncidentEvent,
    IncidentResolved,
    MaintenanceChanged,
    MaintenanceStatus,
)
from herald.shared.public_page import public_view

MAINTENANCE_STEPS: dict[MaintenanceStatus, int] = {
    MaintenanceStatus.SCHEDULED: 1,
    MaintenanceStatus.IN_PROGRESS: 2,
    MaintenanceStatus.VERIFYING: 3,
    MaintenanceStatus.COMPLETED: 4,
}
"""A maintenance topic's version: the state its window reached (a window only moves forward),
the same in every service's copy of it, unlike the services' own versions."""


@dataclass(frozen=True)
class Change:
    """A topic's new latest state."""

    topic: str
    version: int
    """Newer wins; a version at or below the kept one is stale (a redelivery, a copy)."""
    final: bool
    """Never held by coalescing."""
    seen: str
    """The digest of what subscribers are told: a change with the same one tells nobody."""


def change_of(event: IncidentEvent, config: HeraldConfig) -> Change | None:
    """What `event` changes for subscribers; None when they never hear of it (an internal
    incident, a window over no service of the page)."""
    if isinstance(event, MaintenanceChanged):
        window = event.maintenance
        if not maintenance_services(config, window):
            return None
        step = MAINTENANCE_STEPS[window.status]
        return Change(maintenance_topic(window.id), step, True, str(window.status))
    if isinstance(event, ComponentStatusChanged):
        seen = f"{event.previous_status}>{event.status}"
        return Change(component_topic(event.service), event.version, False, seen)
    if not event.incident.public:
        return None  # internal: on-call is paged, subscribers never hear of it
    view = public_view(event.incident)
    final = isinstance(event, IncidentResolved) or is_resolved(view)
    return Change(incident_topic(event.incident.id), event.version, final, told_digest(view))


def due_at(told_at: datetime | None, now: datetime, interval: timedelta, final: bool) -> datetime:
    """When the topic's latest state should be sent, given when it was last told."""
    if final or told_at is None:
        return now
    return max(now, told_at + interval)


def incident_topic(incident_id: str) -> str:
    return f"incident:{incident_id}"


def component_topic(service: str) -> str:
    return f"component:{service}"


def maintenance_topic(maintenance_id: str) -> str:
    return f"maintenance:{maintenance_id}"
