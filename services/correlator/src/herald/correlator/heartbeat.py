"""The dead man's switch: Alertmanager's always-firing Watchdog alert proves the alerting
pipeline works; its absence opens an incident. Pure: `now` is a parameter.

Alerts matching `heartbeat.matchers` (default `alertname="Watchdog"`, the kube-prometheus
convention) only refresh the heartbeat: they are never routed, never join an incident and never
show on the public page. When none arrived for `heartbeat.interval` (default 5 min; counted from
the correlator's start when none ever arrived), the internal incident SILENT_TITLE opens on the
service `heartbeat.service` (paging its on-call, never on the page); it resolves when heartbeats
return. Its commands have ids derived from the silence they are about, so replicas sweeping
together open and resolve it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from herald.shared.config import HeraldConfig
from herald.shared.events import Incident, OpenIncident, ResolveIncident
from herald.shared.matchers import matches_all

SILENT_TITLE = "Alerting pipeline silent"
ACTOR = "herald"
"""The actor of the switch's commands (no admin token is called that: ids are lower-case)."""


def is_heartbeat(labels: Mapping[str, str], config: HeraldConfig) -> bool:
    hb = config.heartbeat
    return hb.service is not None and matches_all(hb.parsed_matchers(), dict(labels))


def silent(last: datetime | None, started: datetime, now: datetime, config: HeraldConfig) -> bool:
    """Whether no heartbeat arrived for `heartbeat.interval`."""
    return now - (last or started) >= config.heartbeat.interval


def is_switch_incident(incident: Incident | None) -> bool:
    return incident is not None and incident.opened_by == ACTOR and incident.title == SILENT_TITLE


def decide(
    last: datetime | None,
    started: datetime,
    open_incident: Incident | None,
    config: HeraldConfig,
    now: datetime,
) -> OpenIncident | ResolveIncident | None:
    """The command the switch needs now, if any."""
    service = config.heartbeat.service
    if service is None:
        return None
    quiet = silent(last, started, now, config)
    mine = is_switch_incident(open_incident)
    since = (last or started).isoformat()
    if quiet and open_incident is None:
        return OpenIncident(
            event_id=f"cmd-heartbeat-silent-{since}",
            occurred_at=now,
            idempotency_key=f"heartbeat-silent-{since}",
            actor=ACTOR,
            service=service,
            title=SILENT_TITLE,
            body=f"No heartbeat ({', '.join(config.heartbeat.matchers)}) since {since}: "
            "alerts may not be reaching Herald.",
            public=False,
        )
    if not quiet and mine:
        assert open_incident is not None
        return ResolveIncident(
            event_id=f"cmd-heartbeat-back-{open_incident.id}",
            occurred_at=now,
            idempotency_key=f"heartbeat-back-{open_incident.id}",
            actor=ACTOR,
            service=service,
            incident_id=open_incident.id,
            body="Heartbeats are arriving again.",
        )
    return None
