"""An incident as subscribers may see it (pure): what the public page shows. Its public status
(from its public alerts only: an incident kept open by internal alerts is resolved for the
public) and only its public timeline entries. The same rule as the status page's
`status.public_view` (services share no code but herald.shared)."""

from __future__ import annotations

import hashlib

from herald.shared.events import Incident, IncidentStatus


def public_view(incident: Incident) -> Incident:
    status = incident.public_status
    entries = tuple(e for e in incident.timeline if e.public)
    if status is None and len(entries) == len(incident.timeline):
        return incident
    changes: dict[str, object] = {"timeline": entries}
    if status is not None:
        changes["status"] = status
        changes["resolved_at"] = (
            (incident.public_resolved_at or incident.resolved_at or incident.updated_at)
            if status is IncidentStatus.RESOLVED
            else None
        )
    return incident.model_copy(update=changes)


def is_resolved(view: Incident) -> bool:
    return view.status in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM)


def told_digest(view: Incident) -> str:
    """What subscribers would be told, in brief: an event that changes only what they do not
    see (an internal update, an alert joining) has the digest of the one before and tells
    nobody anything."""
    seen = [str(view.status), str(view.component_status), view.title]
    seen += [f"{e.at.isoformat()}|{e.status}|{e.body}" for e in view.timeline]
    return hashlib.sha256("\n".join(seen).encode()).hexdigest()[:16]
