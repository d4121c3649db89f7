"""The per-service incident state machine. Pure: no I/O, `now` is a parameter.

One `ServiceState` per status-page service holds every alert routed to it (by fingerprint),
the open incident, the component status and a version. `apply()` folds one alert event
into it and returns the incident events to publish.

Ordering follows event time (invariant 3); an alert event's identity is
(fingerprint, startsAt, status):
- a firing older than the stored alert (earlier startsAt) is ignored;
- a firing with the same startsAt as a stored *resolved* alert is a stale replay: ignored;
- a resolved for startsAt >= the stored one resolves the alert, even if its firing never
  arrived (that firing, arriving later with the same startsAt, is then ignored);
- a re-fire carries a newer startsAt and fires again.
The same event applied twice changes nothing and emits nothing.

Alerts from integrations with `public: false` open and join incidents like any other (so the
on-call is paged) but never change the component status; an incident made only of such
alerts has impact `none` and leaves the component `operational`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from herald.correlator.severity import impact_for, status_for, worst, worst_impact
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    AlertReceived,
    AlertState,
    AlertSummary,
    ComponentStatus,
    ComponentStatusChanged,
    Incident,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    ServiceStatus,
)

RESOLVED_RETENTION = timedelta(days=7)
"""Resolved alert records are kept this long (by `now`) to block stale replays, then pruned.
The ALERTS stream keeps messages for 7 days, so JetStream cannot redeliver anything older."""


class AlertRecord(BaseModel):
    """What the correlator remembers of one alert (one fingerprint)."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    status: AlertState
    starts_at: datetime
    ends_at: datetime | None = None
    severity: str | None = None
    """Value of the configured severity label, if present."""
    alertname: str
    summary: str = ""
    """The `summary` annotation (untrusted text)."""
    description: str = ""
    """The `description` annotation (untrusted text)."""
    labels: dict[str, str] = Field(default_factory=dict)
    public: bool = True
    """False when it came through an integration with `public: false`."""


class ServiceState(BaseModel):
    """Everything the correlator knows about one service; stored as JSON in Redis."""

    model_config = ConfigDict(frozen=True)

    service: str
    version: int = 0
    """Incremented by every emitted event; each event carries the version after it."""
    alerts: dict[str, AlertRecord] = Field(default_factory=dict)
    incident: Incident | None = None
    component_status: ComponentStatus = ComponentStatus.OPERATIONAL
    recent: tuple[Incident, ...] = ()
    """Resolved incidents, newest first, at most `page.history_size`."""
    updated_at: datetime | None = None


def initial_state(service: str, now: datetime) -> ServiceState:
    """The state of a service seen for the first time (or whose Redis state was lost).

    Its version starts at `now` in milliseconds rather than 0, so versions (and the event ids
    and incident ids made from them) keep growing even after the state is lost: the status
    page's "higher version wins" and JetStream's de-duplication never mistake new events for
    old ones."""
    return ServiceState(service=service, version=int(now.timestamp() * 1000))


def supersedes(
    status: AlertState, starts_at: datetime, stored_status: AlertState, stored_starts_at: datetime
) -> bool:
    """Whether an alert event (status, starts_at) replaces what is stored for its fingerprint."""
    if starts_at != stored_starts_at:
        return starts_at > stored_starts_at
    # Same startsAt: only firing -> resolved moves forward; anything else is a duplicate
    # or a stale firing replayed after its resolved.
    return stored_status is AlertState.FIRING and status is AlertState.RESOLVED


def record_of(event: AlertReceived, config: HeraldConfig) -> AlertRecord:
    integration = config.integrations.get(event.integration)
    ends_at = event.ends_at
    if event.status is AlertState.RESOLVED and ends_at is None:
        ends_at = event.occurred_at
    return AlertRecord(
        fingerprint=event.fingerprint,
        status=event.status,
        starts_at=event.starts_at,
        ends_at=ends_at if event.status is AlertState.RESOLVED else None,
        severity=event.labels.get(config.severity.label),
        alertname=event.labels.get("alertname") or event.fingerprint,
        summary=event.annotations.get("summary", ""),
        description=event.annotations.get("description", ""),
        labels=dict(event.labels),
        public=integration.public if integration is not None else True,
    )


def component_status_of(alerts: Iterable[AlertRecord], config: HeraldConfig) -> ComponentStatus:
    """Worst status among the firing public alerts; operational when none."""
    return worst(
        status_for(a.severity, config.severity)
        for a in alerts
        if a.status is AlertState.FIRING and a.public
    )


def _summary(record: AlertRecord) -> AlertSummary:
    return AlertSummary(
        fingerprint=record.fingerprint,
        alertname=record.alertname,
        severity=record.severity,
        status=record.status,
        starts_at=record.starts_at,
        ends_at=record.ends_at,
        summary=record.summary,
    )


def _merge(alerts: tuple[AlertSummary, ...], summary: AlertSummary) -> tuple[AlertSummary, ...]:
    """Replace the alert with the same fingerprint in place, else append it."""
    if any(a.fingerprint == summary.fingerprint for a in alerts):
        return tuple(summary if a.fingerprint == summary.fingerprint else a for a in alerts)
    return (*alerts, summary)


def _prune(alerts: dict[str, AlertRecord], keep: set[str], now: datetime) -> dict[str, AlertRecord]:
    horizon = now - RESOLVED_RETENTION
    return {
        fp: a
        for fp, a in alerts.items()
        if a.status is AlertState.FIRING or fp in keep or (a.ends_at or a.starts_at) >= horizon
    }


def apply(
    state: ServiceState,
    event: AlertReceived,
    service: str,
    config: HeraldConfig,
    now: datetime,
) -> tuple[ServiceState, list[IncidentEvent]]:
    """Fold one alert event into a service's state; returns the new state and the events to
    publish, in order. Returns `state` itself and no events when the event changes nothing."""
    stored = state.alerts.get(event.fingerprint)
    if stored is not None and not supersedes(
        event.status, event.starts_at, stored.status, stored.starts_at
    ):
        return state, []

    record = record_of(event, config)
    alerts = {**state.alerts, record.fingerprint: record}
    firing = [a for a in alerts.values() if a.status is AlertState.FIRING]
    status = component_status_of(alerts.values(), config)
    at = event.occurred_at
    version = state.version
    incident = state.incident
    recent = state.recent
    events: list[IncidentEvent] = []

    def next_id() -> tuple[int, str]:
        nonlocal version
        version += 1
        return version, f"{service}:{version}"

    if record.status is AlertState.FIRING:
        if incident is None:
            v, eid = next_id()
            incident = Incident(
                id=f"{service}-{v}",
                service=service,
                title=record.summary or record.alertname,
                body=record.description,
                status=IncidentStatus.INVESTIGATING,
                impact=impact_for(status),
                component_status=status,
                started_at=record.starts_at,
                updated_at=at,
                alerts=(_summary(record),),
                public=record.public,
            )
            events.append(
                IncidentOpened(
                    event_id=eid, occurred_at=at, service=service, version=v, incident=incident
                )
            )
        else:
            v, eid = next_id()
            if record.public and not incident.public:
                # The first public alert of an internal incident: the public page must show its
                # words, never the internal alert's.
                incident = incident.model_copy(
                    update={
                        "title": record.summary or record.alertname,
                        "body": record.description,
                        "public": True,
                    }
                )
            incident = incident.model_copy(
                update={
                    "alerts": _merge(incident.alerts, _summary(record)),
                    "impact": worst_impact(incident.impact, impact_for(status)),
                    "component_status": status,
                    "updated_at": max(incident.updated_at, at),
                }
            )
            events.append(
                IncidentUpdated(
                    event_id=eid, occurred_at=at, service=service, version=v, incident=incident
                )
            )
    elif incident is not None and any(a.fingerprint == record.fingerprint for a in incident.alerts):
        v, eid = next_id()
        merged = _merge(incident.alerts, _summary(record))
        if not firing:
            incident = incident.model_copy(
                update={
                    "alerts": merged,
                    "status": IncidentStatus.RESOLVED,
                    "component_status": status,
                    "updated_at": max(incident.updated_at, at),
                    "resolved_at": at,
                }
            )
            events.append(
                IncidentResolved(
                    event_id=eid, occurred_at=at, service=service, version=v, incident=incident
                )
            )
            recent = (incident, *recent)[: config.page.history_size]
            incident = None
        else:
            incident = incident.model_copy(
                update={
                    "alerts": merged,
                    "component_status": status,
                    "updated_at": max(incident.updated_at, at),
                }
            )
            events.append(
                IncidentUpdated(
                    event_id=eid, occurred_at=at, service=service, version=v, incident=incident
                )
            )

    if status != state.component_status:
        v, eid = next_id()
        events.append(
            ComponentStatusChanged(
                event_id=eid,
                occurred_at=at,
                service=service,
                version=v,
                status=status,
                previous_status=state.component_status,
            )
        )

    keep = {record.fingerprint}
    if incident is not None:
        keep |= {a.fingerprint for a in incident.alerts}
    updated_at = state.updated_at
    if events:
        updated_at = at if updated_at is None else max(updated_at, at)
    new_state = ServiceState(
        service=service,
        version=version,
        alerts=_prune(alerts, keep, now),
        incident=incident,
        component_status=status,
        recent=recent,
        updated_at=updated_at,
    )
    return new_state, events


def projection(state: ServiceState) -> ServiceStatus:
    """The public view of a service (also kept in Redis for the status page to start from)."""
    return ServiceStatus(
        service=state.service,
        version=state.version,
        component_status=state.component_status,
        incident=state.incident,
        recent=state.recent,
        updated_at=state.updated_at,
    )
