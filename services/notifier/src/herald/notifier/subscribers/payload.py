"""Subscriber webhook bodies in Atlassian Statuspage's format (pure), so receivers written for
Statuspage's subscriber webhooks work: `meta` (unsubscribe link, documentation, generated_at),
`page` (id, status_indicator, status_description), then either `incident` (with its
`incident_updates`, newest first, and `components`) or `component` + `component_update`. A
maintenance window is an `incident` too, as on Statuspage: impact `maintenance`, the
maintenance statuses (scheduled, in_progress, verifying, completed), `scheduled_for` and
`scheduled_until` set.

Ids match the status page's JSON API: both take the page id, update ids, times and words from
herald.shared.public_page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from herald.shared.config import HeraldConfig
from herald.shared.events import (
    ComponentStatus,
    ComponentStatusChanged,
    Incident,
    IncidentStatus,
    MaintenanceStatus,
    MaintenanceWindow,
)
from herald.shared.public_page import (
    INDICATOR_WORDS,
    MaintenanceUpdate,
    component_name,
    incident_link,
    iso,
    maintenance_updates,
    page_id,
    update_id,
)
from herald.shared.statuses import CLOSED, indicator_of
from herald.shared.subscriptions import public_base

JSON = dict[str, Any]


def _meta(config: HeraldConfig, unsubscribe_url: str, now: datetime) -> JSON:
    """`documentation` is the page's own sign-up page (it says what the payloads are)."""
    return {
        "unsubscribe": unsubscribe_url,
        "documentation": f"{public_base(config)}/subscribe",
        "generated_at": iso(now),
    }


def _page(config: HeraldConfig, indicator: str) -> JSON:
    return {
        "id": page_id(config),
        "status_indicator": indicator,
        "status_description": INDICATOR_WORDS[indicator],
    }


def component(config: HeraldConfig, service: str, status: ComponentStatus, at: datetime) -> JSON:
    svc = config.services.get(service)
    return {
        "id": service,
        "name": component_name(config, service),
        "status": str(status),
        "created_at": iso(at),
        "updated_at": iso(at),
        "position": list(config.services).index(service) + 1 if svc is not None else 0,
        "description": (svc.description or None) if svc is not None else None,
        "showcase": True,
        "page_id": page_id(config),
        "group_id": svc.group if svc is not None else None,
    }


def incident_updates(config: HeraldConfig, incident: Incident) -> list[JSON]:
    """The incident's timeline as Statuspage `incident_updates`, newest first."""
    name = component_name(config, incident.service)
    current = ComponentStatus.OPERATIONAL
    out: list[JSON] = []
    entries = incident.timeline
    if not entries:  # an event from before timelines: one update saying where it stands
        entries = ()
        out.append(
            _update(
                incident,
                incident.status,
                incident.body or incident.title,
                incident.updated_at,
                name,
                current,
                incident.component_status,
                update_id(incident.id, incident.updated_at, incident.body),
            )
        )
    for n, told in enumerate(entries):
        body = incident.body if n == 0 and incident.body else told.body
        old = told.previous_status or current
        new = told.component_status or current
        current = new
        out.append(
            _update(
                incident,
                told.status,
                body,
                told.at,
                name,
                old,
                new,
                update_id(incident.id, told.at, told.body),
            )
        )
    return out[::-1]


def _update(
    incident: Incident,
    status: IncidentStatus,
    body: str,
    at: datetime,
    name: str,
    old: ComponentStatus,
    new: ComponentStatus,
    uid: str,
) -> JSON:
    return {
        "id": uid,
        "incident_id": incident.id,
        "status": str(status),
        "body": body,
        "created_at": iso(at),
        "updated_at": iso(at),
        "display_at": iso(at),
        "affected_components": [
            {"code": incident.service, "name": name, "old_status": str(old), "new_status": str(new)}
        ],
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def shortlink(config: HeraldConfig, incident_id: str) -> str:
    return incident_link(public_base(config), incident_id)


def incident_body(
    config: HeraldConfig, incident: Incident, unsubscribe_url: str, now: datetime
) -> JSON:
    """An incident notification. The notifier sees one incident, not the whole page: the page
    indicator is the incident's impact while it is open, `none` once it is resolved."""
    resolved = incident.status in CLOSED
    status_now = ComponentStatus.OPERATIONAL if resolved else incident.component_status
    return {
        "meta": _meta(config, unsubscribe_url, now),
        "page": _page(config, "none" if resolved else str(incident.impact)),
        "incident": {
            "id": incident.id,
            "name": incident.title,
            "status": str(incident.status),
            "impact": str(incident.impact),
            "created_at": iso(incident.started_at),
            "started_at": iso(incident.started_at),
            "updated_at": iso(incident.updated_at),
            "monitoring_at": (
                iso(incident.updated_at) if incident.status is IncidentStatus.MONITORING else None
            ),
            "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
            "shortlink": shortlink(config, incident.id),
            "scheduled_for": None,
            "scheduled_until": None,
            "page_id": page_id(config),
            "incident_updates": incident_updates(config, incident),
            "components": [component(config, incident.service, status_now, incident.updated_at)],
        },
    }


def component_body(
    config: HeraldConfig, change: ComponentStatusChanged, unsubscribe_url: str, now: datetime
) -> JSON:
    """A component status change (Statuspage's `component_update`)."""
    return {
        "meta": _meta(config, unsubscribe_url, now),
        "page": _page(config, indicator_of(change.status)),
        "component": component(config, change.service, change.status, change.occurred_at),
        "component_update": {
            "id": f"{change.service}-{change.version}",
            "component_id": change.service,
            "component_type": "Component",
            "old_status": str(change.previous_status),
            "new_status": str(change.status),
            "created_at": iso(change.occurred_at),
        },
    }


MAINTENANCE_ACTIVE = frozenset({MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING})


def maintenance_services(config: HeraldConfig, window: MaintenanceWindow) -> list[str]:
    """The configured services a window covers (the components it affects)."""
    return [s for s in window.services if s in config.services]


def _maintenance_update(
    config: HeraldConfig, window: MaintenanceWindow, update: MaintenanceUpdate
) -> JSON:
    """One state the window reached; its components go under maintenance when it starts, stay
    there while it is verified, and go back to operational when it completes."""
    before, after = {
        MaintenanceStatus.IN_PROGRESS: (
            ComponentStatus.OPERATIONAL,
            ComponentStatus.UNDER_MAINTENANCE,
        ),
        MaintenanceStatus.VERIFYING: (
            ComponentStatus.UNDER_MAINTENANCE,
            ComponentStatus.UNDER_MAINTENANCE,
        ),
        MaintenanceStatus.COMPLETED: (
            ComponentStatus.UNDER_MAINTENANCE,
            ComponentStatus.OPERATIONAL,
        ),
    }.get(update.status, (ComponentStatus.OPERATIONAL, ComponentStatus.OPERATIONAL))
    return {
        "id": update.id,
        "incident_id": window.id,
        "status": str(update.status),
        "body": update.body,
        "created_at": iso(update.at),
        "updated_at": iso(update.at),
        "display_at": iso(update.at),
        "affected_components": [
            {
                "code": sid,
                "name": component_name(config, sid),
                "old_status": str(before),
                "new_status": str(after),
            }
            for sid in maintenance_services(config, window)
        ],
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def maintenance_body(
    config: HeraldConfig, window: MaintenanceWindow, unsubscribe_url: str, now: datetime
) -> JSON:
    """A maintenance window scheduled, started or completed: Statuspage's scheduled-maintenance
    incident (the same id, shortlink and update ids as the page's
    `/api/v2/scheduled-maintenances.json`). The page indicator is `maintenance` while it is in
    progress, `none` otherwise (the notifier sees the window, not the whole page)."""
    active = window.status in MAINTENANCE_ACTIVE
    completed = window.status is MaintenanceStatus.COMPLETED
    status_now = ComponentStatus.UNDER_MAINTENANCE if active else ComponentStatus.OPERATIONAL
    return {
        "meta": _meta(config, unsubscribe_url, now),
        "page": _page(config, "maintenance" if active else "none"),
        "incident": {
            "id": window.id,
            "name": window.title,
            "status": str(window.status),
            "impact": "maintenance",
            "created_at": iso(window.created_at),
            "started_at": iso(window.starts_at),
            "updated_at": iso(window.updated_at),
            "monitoring_at": None,
            "resolved_at": iso(window.completed_at or window.updated_at) if completed else None,
            "shortlink": shortlink(config, window.id),
            "scheduled_for": iso(window.starts_at),
            "scheduled_until": iso(window.ends_at),
            "scheduled_remind_prior": False,
            "scheduled_auto_in_progress": True,
            "scheduled_auto_completed": True,
            "page_id": page_id(config),
            "incident_updates": [
                _maintenance_update(config, window, u) for u in maintenance_updates(window)
            ],
            "components": [
                component(config, sid, status_now, window.updated_at)
                for sid in maintenance_services(config, window)
            ],
        },
    }


def challenge_body(
    config: HeraldConfig, challenge: str, secret: str, unsubscribe_url: str, now: datetime
) -> JSON:
    """The verification request of a new webhook subscriber: answer 2xx with
    `{"challenge": <challenge>}` to confirm; `secret` verifies every later signature."""
    return {
        "type": "challenge",
        "challenge": challenge,
        "secret": secret,
        "meta": _meta(config, unsubscribe_url, now),
        "page": _page(config, "none"),
    }
