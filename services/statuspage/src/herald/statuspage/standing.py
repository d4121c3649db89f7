"""What the page roll-up is made of, counted: each shown service's component status and the
impact of its publicly open incident, kept one service at a time.

Pure. The roll-up (status.py's `rollup`) takes the worst component status and the worst open
impact of the page's services. Computed from every service on every incident event, it cost the
status page more than everything else it does per event (500 services: an incident's public
view copied 500 times per event, docs/performance.md); counted here, an event changes the
counts of its own service only. The projection keeps one (projection.py), so every change of a
service's state changes its counts too; a view over another mapping counts it once (`of`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping

from herald.shared.events import ComponentStatus, Impact, Incident, IncidentStatus, ServiceStatus
from herald.shared.public_page import public_status

Mark = tuple[ComponentStatus, Impact | None]
"""A service's part of the roll-up: its component status, its publicly open incident's impact."""

OPERATIONAL: Mark = (ComponentStatus.OPERATIONAL, None)
"""A service the page knows nothing of yet."""


def open_impact(incident: Incident | None) -> Impact | None:
    """The impact of `incident` when the public page shows it open (status.py's
    `publicly_open`), else None."""
    if incident is None or not incident.public:
        return None
    return None if public_status(incident) is IncidentStatus.RESOLVED else incident.impact


def mark(state: ServiceStatus) -> Mark:
    return (state.component_status, open_impact(state.incident))


class Standing:
    """The marks of the services in `shown` (each operational until it has a state), counted."""

    def __init__(self, shown: Collection[str]) -> None:
        self.shown = shown
        """The services counted (the configuration's, as given: views compare it by identity)."""
        self._marks: dict[str, Mark] = dict.fromkeys(shown, OPERATIONAL)
        self._statuses: Counter[ComponentStatus] = Counter(
            {ComponentStatus.OPERATIONAL: len(self._marks)}
        )
        self._impacts: Counter[Impact] = Counter()

    @classmethod
    def of(cls, shown: Collection[str], services: Mapping[str, ServiceStatus]) -> Standing:
        """The standing of `shown` in `services`, counted once."""
        standing = cls(shown)
        for service in shown:
            state = services.get(service)
            if state is not None:
                standing.set(state)
        return standing

    def set(self, state: ServiceStatus) -> None:
        """The service's state changed (a service not shown is not counted)."""
        old = self._marks.get(state.service)
        if old is None:
            return
        new = mark(state)
        if new == old:
            return
        self._marks[state.service] = new
        self._statuses[old[0]] -= 1
        self._statuses[new[0]] += 1
        if old[1] is not None:
            self._impacts[old[1]] -= 1
        if new[1] is not None:
            self._impacts[new[1]] += 1

    def statuses(self) -> list[ComponentStatus]:
        """The component statuses some shown service has."""
        return [s for s, n in self._statuses.items() if n > 0]

    def impacts(self) -> list[Impact]:
        """The impacts some publicly open incident of a shown service has."""
        return [i for i, n in self._impacts.items() if n > 0]
