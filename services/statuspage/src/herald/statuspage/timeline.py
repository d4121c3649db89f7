"""An incident's timeline: what the page and the API's `incident_updates` show, newest first.

Pure. From the incident's own timeline (`Incident.timeline`, written by the correlator) when it
has one; for incidents from before the timeline existed, from what an `Incident` carries: the
opening (at `started_at`), the last change while open (at `updated_at`, when later than the
opening) and the resolution (at `resolved_at`). `entries()` is the one place that reads them;
every view (JSON, HTML, feeds) goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from herald.shared.events import ComponentStatus, Incident, IncidentStatus
from herald.shared.public_page import update_id

OPENED_BODY = ""
"""An opening entry's body is the incident's body (from the alert's description)."""
RESOLVED_BODY = "This incident has been resolved."
UPDATED_BODY = "The impact changed: {component} is now {status}."


@dataclass(frozen=True)
class Entry:
    """One update of an incident's timeline."""

    id: str
    """Stable: the same entry has the same id on every replica and every restart."""
    status: IncidentStatus
    body: str
    at: datetime
    old_status: ComponentStatus
    """The component's status before this entry."""
    new_status: ComponentStatus
    """The component's status after it."""
    kind: str
    """opened, updated or resolved (the page's wording for the entry)."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def entries(incident: Incident, component_words: str = "", status_words: str = "") -> list[Entry]:
    """The incident's timeline, newest first. `component_words`/`status_words`: the component's
    name and its status in words, for the body of a change entry (incidents without their own
    timeline)."""
    if incident.timeline:
        return _told(incident)
    opened_status = (
        IncidentStatus.INVESTIGATING
        if incident.status is IncidentStatus.RESOLVED
        else incident.status
    )
    out = [
        Entry(
            id=f"{incident.id}-opened",
            status=opened_status,
            body=incident.body,
            at=incident.started_at,
            old_status=ComponentStatus.OPERATIONAL,
            new_status=incident.component_status,
            kind="opened",
        )
    ]
    if incident.resolved_at is None and incident.updated_at > incident.started_at:
        out.append(
            Entry(
                id=f"{incident.id}-updated-{_ms(incident.updated_at)}",
                status=incident.status,
                body=UPDATED_BODY.format(
                    component=component_words or incident.service,
                    status=status_words or str(incident.component_status),
                ),
                at=incident.updated_at,
                old_status=incident.component_status,
                new_status=incident.component_status,
                kind="updated",
            )
        )
    if incident.resolved_at is not None:
        out.append(
            Entry(
                id=f"{incident.id}-resolved",
                status=IncidentStatus.RESOLVED,
                body=RESOLVED_BODY,
                at=incident.resolved_at,
                old_status=incident.component_status,
                new_status=ComponentStatus.OPERATIONAL,
                kind="resolved",
            )
        )
    return sorted(out, key=lambda e: e.at, reverse=True)


def _told(incident: Incident) -> list[Entry]:
    """The correlator's timeline entries, newest first; the first one says what the incident's
    description says, when it has one (as an opening update does on Statuspage). A component
    status that did not change stays as it was."""
    out: list[Entry] = []
    current = ComponentStatus.OPERATIONAL
    last = len(incident.timeline) - 1
    for n, told in enumerate(incident.timeline):
        body = told.body
        if n == 0 and incident.body:
            body = incident.body
        old = told.previous_status or current
        new = told.component_status or current
        current = new
        kind = (
            "opened" if n == 0 else "resolved" if n == last and incident.resolved_at else "updated"
        )
        out.append(
            Entry(
                id=update_id(incident.id, told.at, told.body),
                status=told.status,
                body=body,
                at=told.at,
                old_status=old,
                new_status=new,
                kind=kind,
            )
        )
    return out[::-1]
