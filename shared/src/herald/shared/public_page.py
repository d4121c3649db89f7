"""The public page's formulas, one copy for every place that speaks of the page: the status
page (its Statuspage v2 JSON, HTML and feeds) and the notifier (subscriber mail and webhooks).
Pure. What a reader sees of an incident (`public_view`), its link, the ids of the page and of
an update, times as Statuspage writes them, the words for statuses and indicators, and the
updates a maintenance window has had. The two services must agree on each of them (a webhook's
`incident_updates[].id` is the one the page's API lists), so they are written once, here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from herald.shared.config import HeraldConfig
from herald.shared.events import (
    ComponentStatus,
    Incident,
    IncidentStatus,
    MaintenanceStatus,
    MaintenanceWindow,
)

COMPONENT_STATUS_WORDS: dict[ComponentStatus, str] = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded Performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial Outage",
    ComponentStatus.MAJOR_OUTAGE: "Major Outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under Maintenance",
}
"""A component status in words, as the page shows it."""

INCIDENT_STATUS_WORDS: dict[IncidentStatus, str] = {
    IncidentStatus.INVESTIGATING: "Investigating",
    IncidentStatus.IDENTIFIED: "Identified",
    IncidentStatus.MONITORING: "Monitoring",
    IncidentStatus.RESOLVED: "Resolved",
    IncidentStatus.POSTMORTEM: "Postmortem",
}

MAINTENANCE_STATUS_WORDS: dict[MaintenanceStatus, str] = {
    MaintenanceStatus.SCHEDULED: "Scheduled",
    MaintenanceStatus.IN_PROGRESS: "In progress",
    MaintenanceStatus.VERIFYING: "Verifying",
    MaintenanceStatus.COMPLETED: "Completed",
}

INDICATOR_WORDS: dict[str, str] = {
    "none": "All Systems Operational",
    "maintenance": "Service Under Maintenance",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
"""Statuspage's `status.description` of each page indicator (the page says "Partially Degraded
Service" instead of the minor one when only a component's performance is degraded)."""


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a Z, as Statuspage writes times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_id(config: HeraldConfig) -> str:
    """A stable page id (Statuspage ids are 12 characters), the same on every replica."""
    seed = f"{config.page.url}|{config.page.title}".encode()
    return hashlib.sha256(seed).hexdigest()[:12]


def incident_link(base: str, incident_id: str) -> str:
    """An incident's (or a maintenance's) own page under the page's URL `base`: its
    `shortlink`, what messages link to."""
    return f"{base.rstrip('/')}/incidents/{incident_id}"


def update_id(incident_id: str, at: datetime, body: str) -> str:
    """A timeline entry's id: stable although the bounded timeline drops middle entries (not
    by position), the same on every replica and restart."""
    digest = hashlib.sha256(body.encode()).hexdigest()[:8]
    return f"{incident_id}-{int(at.timestamp() * 1000)}-{digest}"


def component_name(config: HeraldConfig, service: str) -> str:
    """A service's name on the page (its id when the configuration no longer has it)."""
    svc = config.services.get(service)
    return svc.name if svc is not None else service


def public_status(incident: Incident) -> IncidentStatus:
    """The incident's status as readers see it (`public_view(incident).status`, without the
    copy): from its public alerts only, when the correlator says it."""
    return incident.status if incident.public_status is None else incident.public_status


def public_view(incident: Incident) -> Incident:
    """The incident as readers see it: its public status (from its public alerts only; an
    incident kept open by internal alerts is resolved for them), and only its public updates."""
    status = incident.public_status
    entries = tuple(e for e in incident.timeline if e.public)
    every_entry = len(entries) == len(incident.timeline)
    if status is None and every_entry:
        return incident
    changes: dict[str, object] = {"timeline": entries}
    if status is not None:
        resolved_at = (
            (incident.public_resolved_at or incident.resolved_at or incident.updated_at)
            if status in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM)
            else None
        )
        if every_entry and status is incident.status and resolved_at is incident.resolved_at:
            return incident  # readers see it as it is (most incidents: no internal alerts)
        changes["status"] = status
        changes["resolved_at"] = resolved_at
    return incident.model_copy(update=changes)


@dataclass(frozen=True)
class MaintenanceUpdate:
    """One state a maintenance window reached, as Statuspage's `incident_updates` list it."""

    id: str
    status: MaintenanceStatus
    body: str
    at: datetime


IN_PROGRESS_BODY = "The maintenance is in progress."
VERIFYING_BODY = "The work is done and being verified."
COMPLETED_BODY = "The maintenance is completed."
CANCELLED_BODY = "The maintenance was cancelled."


def maintenance_updates(window: MaintenanceWindow) -> tuple[MaintenanceUpdate, ...]:
    """What the window's updates say, newest first: its body when scheduled, then one when it
    started, one when it was marked verifying (what the verify said), and one when it completed
    (or was cancelled)."""
    updates = [
        MaintenanceUpdate(
            f"{window.id}-scheduled",
            MaintenanceStatus.SCHEDULED,
            window.body or window.title,
            window.created_at,
        )
    ]
    if window.started_at is not None:
        updates.append(
            MaintenanceUpdate(
                f"{window.id}-in_progress",
                MaintenanceStatus.IN_PROGRESS,
                IN_PROGRESS_BODY,
                window.started_at,
            )
        )
    if window.verifying_at is not None:
        updates.append(
            MaintenanceUpdate(
                f"{window.id}-verifying",
                MaintenanceStatus.VERIFYING,
                window.verifying_body or VERIFYING_BODY,
                window.verifying_at,
            )
        )
    if window.completed_at is not None:
        updates.append(
            MaintenanceUpdate(
                f"{window.id}-completed",
                MaintenanceStatus.COMPLETED,
                CANCELLED_BODY if window.cancelled else COMPLETED_BODY,
                window.completed_at,
            )
        )
    return tuple(reversed(updates))
