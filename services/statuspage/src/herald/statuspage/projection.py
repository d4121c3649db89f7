"""The status page's view of every service, folded from incident events and Redis snapshots.

Pure: no I/O. Incidents that are not `public` are kept (so the versions stay exact) but never
change the component status; the views (status.py) do not show them. Each service carries a monotonically increasing `version`; an event or a
snapshot whose version is not higher than what we hold is stale and changes nothing, so
applying the same event twice, or a snapshot and the event it already contains, is harmless.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping

from herald.shared.events import (
    ComponentStatusChanged,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentUpdated,
    MaintenanceChanged,
    ServiceStatus,
)
from herald.statuspage.standing import Standing


def apply_event(
    current: ServiceStatus | None, event: IncidentEvent, history_size: int
) -> ServiceStatus | None:
    """The service's state after `event`, or None when the event is stale (version not higher)."""
    base = current if current is not None else ServiceStatus(service=event.service)
    if event.version <= base.version:
        return None
    changes: dict[str, object] = {"version": event.version, "updated_at": event.occurred_at}
    if isinstance(event, IncidentOpened | IncidentUpdated):
        changes["incident"] = event.incident
        if any(i.id == event.incident.id for i in base.recent):  # reopened (reopen_window)
            changes["recent"] = tuple(i for i in base.recent if i.id != event.incident.id)
        if event.incident.public:  # an internal incident never changes the public page
            changes["component_status"] = event.incident.component_status
    elif isinstance(event, IncidentResolved):
        older = tuple(i for i in base.recent if i.id != event.incident.id)
        changes["incident"] = None
        changes["recent"] = ((event.incident, *older))[:history_size]
    elif isinstance(event, ComponentStatusChanged):
        changes["component_status"] = event.status
    elif isinstance(event, MaintenanceChanged):
        others = tuple(w for w in base.maintenances if w.id != event.maintenance.id)
        changes["maintenances"] = (*others, event.maintenance)
    return base.model_copy(update=changes)


def newer_snapshot(current: ServiceStatus | None, snapshot: ServiceStatus) -> bool:
    """True when `snapshot` should replace `current` (it is strictly newer)."""
    return current is None or snapshot.version > current.version


class Projection(Mapping[str, ServiceStatus]):
    """service id -> ServiceStatus, changed only by newer events or snapshots.

    `shown`: the services whose part of the page roll-up it counts as their states change
    (`standing`: the page's services, so that a view reads the roll-up without looking at every
    service). `maintenance_version` counts the changes of any service's maintenance windows."""

    def __init__(self, history_size: int, shown: Collection[str] = ()) -> None:
        self.history_size = history_size
        self._services: dict[str, ServiceStatus] = {}
        self.standing = Standing(shown)
        self.maintenance_version = 0

    def _set(self, state: ServiceStatus) -> None:
        held = self._services.get(state.service)
        if held is None or held.maintenances is not state.maintenances:
            self.maintenance_version += 1
        self._services[state.service] = state
        self.standing.set(state)

    def apply(self, event: IncidentEvent) -> bool:
        """Fold one event in; False when it was stale (nothing changed)."""
        after = apply_event(self._services.get(event.service), event, self.history_size)
        if after is None:
            return False
        self._set(after)
        return True

    def load(self, snapshot: ServiceStatus) -> bool:
        """Take a stored snapshot when it is newer than what we hold; False otherwise."""
        if not newer_snapshot(self._services.get(snapshot.service), snapshot):
            return False
        recent = snapshot.recent[: self.history_size]
        self._set(
            snapshot
            if recent == snapshot.recent
            else snapshot.model_copy(update={"recent": recent})
        )
        return True

    def get_or_default(self, service: str) -> ServiceStatus:
        """The service's state; an operational, version-0 state when nothing is known yet."""
        return self._services.get(service) or ServiceStatus(service=service)

    def __getitem__(self, service: str) -> ServiceStatus:
        return self._services[service]

    def __iter__(self) -> Iterator[str]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)
