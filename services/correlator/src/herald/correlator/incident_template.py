"""Incident templates: the named texts of `incident_templates:` for updates by hand (`herald
incident open|update --template NAME`), rendered where the incident's data is known (the
correlator's command rule, commands.py), in the same sandbox as the timeline's texts.

Pure: the template, the incident (None while it is being opened) and `now` in, text out. What a
template may use: docs/configuration.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from herald.correlator import timeline
from herald.shared.config import HeraldConfig, IncidentTemplate
from herald.shared.events import Incident, IncidentStatus


def duration(d: timedelta) -> str:
    """`1h 5m`, `12m`, `40s`: how long, in words a status update uses."""
    seconds = max(int(d.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts) if parts else f"{seconds}s"


def values(
    config: HeraldConfig,
    service: str,
    incident: Incident | None,
    title: str,
    status: IncidentStatus,
    now: datetime,
) -> dict[str, Any]:
    """What a template may read (plain values only: the sandbox reads nothing else)."""
    svc = config.services.get(service)
    name = svc.name if svc is not None else service
    group = config.groups.get(svc.group) if svc is not None and svc.group else None
    started = incident.started_at if incident is not None else now
    ended = (incident.resolved_at if incident is not None else None) or now
    alerts = [
        {
            "alertname": a.alertname,
            "summary": a.summary,
            "severity": a.severity or "",
            "status": a.status.value,
        }
        for a in (incident.alerts if incident is not None else ())
    ]
    return {
        "service": name,
        "service_id": service,
        "components": [name] if group is None else [name, group.name],
        "title": incident.title if incident is not None else title,
        "status": status.value,
        "started_at": started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": duration(ended - started),
        "alerts": alerts,
        "alert_summaries": [a["summary"] or a["alertname"] for a in alerts],
        "firing": sum(1 for a in alerts if a["status"] == "firing"),
    }


def render(template: IncidentTemplate, **given: Any) -> str:
    """The template's body with these values (sandboxed)."""
    return timeline.render(template.body, **given).strip()
