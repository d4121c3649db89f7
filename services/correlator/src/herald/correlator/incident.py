"""The per-service incident state machine. Pure: no I/O, `now` is a parameter.

One `ServiceState` per status-page service holds every alert routed to it, the open
incident (and which alerts belong to it), the component status and a version. `apply()`
folds one alert event into it and returns the incident events to publish.

An alert's identity is Alertmanager's fingerprint: the same alert received through two
integrations (an internal and a public receiver, two tokens during a rotation) is one alert,
public while one of its integrations is.

Which event wins follows Alertmanager's own rules (`supersedes`, docs/alert-lifecycle.md):
- a resolve ends a stored firing whatever its startsAt (Merge keeps the earliest startsAt;
  `amtool ... --end` without `--start` sends startsAt = endsAt), unless it is a late copy of an
  older instance (it ended before the firing started and reached ingest before it);
- a resolve for a newer instance replaces a stored resolve (its firing never arrived);
- a firing with a newer startsAt is a re-fire;
- a firing repeating the startsAt of a stored resolve fires again once it arrives more than
  `alerts.replay_window` after the resolve (Alertmanager timed it out, Prometheus resumed);
  within the window it is an HA peer's or a retry's late copy.
Versions continue from max(stored version + 1, now in ms), so they never go backwards after
Redis lost recent writes.
The same event applied twice changes nothing and emits nothing. An incident starts at the
earliest startsAt of its alerts and resolves at the latest endsAt of its alerts, whatever
order their events arrive in.

Incident events are bounded whatever the alerts say, so that each fits a NATS message:
title, body and per-alert texts are clipped, and an incident carries at most
`MAX_INCIDENT_ALERTS` alert summaries (with `alert_count` for the total). The state keeps
every alert.

Alerts from integrations with `public: false` open and join incidents like any other (so the
on-call is paged) but never change the component status; an incident made only of such
alerts has impact `none` and leaves the component `operational`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from herald.correlator import timeline
from herald.correlator.severity import status_for
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    AlertReceived,
    AlertState,
    AlertSummary,
    ComponentStatus,
    ComponentStatusChanged,
    GroupReported,
    Incident,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    ServiceStatus,
)
from herald.shared.statuses import impact_for, worst, worst_impact

RESOLVED_RETENTION = timedelta(days=7)
"""Resolved alert records are kept this long (by `now`) to block stale replays, then pruned.
The ALERTS stream keeps messages for 7 days, so JetStream cannot redeliver anything older."""

MAX_TITLE = 300
"""Characters of an incident title (and of an alert's alertname and summary)."""
MAX_BODY = 8192
"""Characters of an incident body (an alert's description)."""
MAX_INCIDENT_ALERTS = 50
"""Alert summaries carried by one incident snapshot (the most relevant ones)."""
ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def group_id(integration: str, group_key: str) -> str:
    """A short, stable id of one aggregation group of one integration."""
    return hashlib.sha256(f"{integration}\x1f{group_key}".encode()).hexdigest()[:24]


def group_of(event: AlertReceived) -> str:
    """The group of the notification an alert event came in; empty without a groupKey."""
    return group_id(event.integration, event.group_key) if event.group_key else ""


def alert_key(fingerprint: str) -> str:
    """The key of one alert in `ServiceState.alerts`: its identity, Alertmanager's fingerprint
    (the same alert reaching Herald through two integrations is one alert)."""
    return fingerprint


class AlertRecord(BaseModel):
    """What the correlator remembers of one alert (one fingerprint)."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    integration: str = ""
    """The first integration it came through."""
    integrations: tuple[str, ...] = ()
    """Every integration it came through (it is public while one of them is)."""
    received_at: datetime | None = None
    """When ingest received the event that set this record (arrival time, ingest's clock)."""
    resolved_received_at: datetime | None = None
    """When ingest received its resolve (for `alerts.replay_window`)."""
    group: str = ""
    """The aggregation group (`group_id`) of the notification that last listed it."""
    seen_at: datetime | None = None
    """When ingest last received a notification listing it (any status, duplicates included)."""
    absent_since: datetime | None = None
    """Set when it ended because a complete notification of its group no longer listed it
    (silenced, inhibited or expired): listed again later, it fires again whatever its
    startsAt."""
    status: AlertState
    starts_at: datetime
    ends_at: datetime | None = None
    severity: str | None = None
    """Value of the configured severity label, if present."""
    alertname: str
    summary: str = ""
    """The `summary` annotation (untrusted text, clipped)."""
    description: str = ""
    """The `description` annotation (untrusted text, clipped)."""
    labels: dict[str, str] = Field(default_factory=dict)
    public: bool = True
    """False when it came through an integration with `public: false`."""

    @property
    def key(self) -> str:
        return alert_key(self.fingerprint)

    def seen(self, event: AlertReceived) -> AlertRecord:
        """This record, listed again by the notification of `event` (a duplicate or a repeat)."""
        if self.seen_at is not None and event.received_at <= self.seen_at:
            return self
        return self.model_copy(
            update={"seen_at": event.received_at, "group": group_of(event) or self.group}
        )

    def through(self, integration: str, public: bool) -> AlertRecord:
        """This record, also reached through `integration` (public when it or any earlier is)."""
        if integration in self.integrations:
            return self
        return self.model_copy(
            update={
                "integrations": (*self.integrations, integration),
                "public": self.public or public,
            }
        )


class ServiceState(BaseModel):
    """Everything the correlator knows about one service; stored as JSON in Redis."""

    model_config = ConfigDict(frozen=True)

    service: str
    version: int = 0
    """Incremented by every emitted event; each event carries the version after it."""
    alerts: dict[str, AlertRecord] = Field(default_factory=dict)
    """By `alert_key(fingerprint)`."""
    incident: Incident | None = None
    members: tuple[str, ...] = ()
    """Keys of every alert of the open incident, in the order they joined (the incident's
    `alerts` carries at most MAX_INCIDENT_ALERTS of them)."""
    worst_status: ComponentStatus = ComponentStatus.OPERATIONAL
    """The worst component status since the open incident opened."""
    component_status: ComponentStatus = ComponentStatus.OPERATIONAL
    recent: tuple[Incident, ...] = ()
    """Resolved incidents, newest first, at most `page.history_size`."""
    updated_at: datetime | None = None


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def initial_state(service: str, now: datetime) -> ServiceState:
    """The state of a service seen for the first time (or whose Redis state was lost).

    Its version starts at `now` in milliseconds rather than 0, so versions (and the event ids
    and incident ids made from them) keep growing even after the state is lost: the status
    page's "higher version wins" and JetStream's de-duplication never mistake new events for
    old ones."""
    return ServiceState(service=service, version=epoch_ms(now))


def supersedes(event: AlertReceived, stored: AlertRecord, replay_window: timedelta) -> bool:
    """Whether an alert event replaces what is stored for its alert (docs/alert-lifecycle.md).

    - A resolve ends a stored firing, whatever its startsAt: Alertmanager's Merge keeps the
      earliest startsAt, and `amtool ... --end` without `--start` (or an end at or before the
      firing's start) sends startsAt = endsAt, earlier than the firing's. Only a resolve that
      ended before the stored firing started AND reached ingest before that firing did is a late
      copy of an older instance (a reordered or redelivered message): ignored.
    - A resolve for a newer instance replaces a stored resolve (its firing was never seen).
    - A firing with a newer startsAt is a new instance (a re-fire).
    - A firing of an alert that ended because its group no longer listed it fires again when
      it was received after that, whatever its startsAt (the silence expired, the inhibition
      lifted).
    - A firing that repeats (or precedes) the startsAt of a stored resolve fires again when it
      reached ingest more than `replay_window` after the resolve did: Alertmanager timed the
      alert out and Prometheus resumed sending it. Within the window it is a late copy (an HA
      peer, a retry) of the firing before the resolve.
    - Anything else is a duplicate."""
    if event.status is AlertState.RESOLVED:
        if stored.status is AlertState.FIRING:
            ended = event.ends_at or event.occurred_at
            older = ended < stored.starts_at and (
                stored.received_at is not None and event.received_at < stored.received_at
            )
            return not older
        return event.starts_at > stored.starts_at
    if event.starts_at > stored.starts_at:
        return True
    if stored.absent_since is not None and stored.status is AlertState.RESOLVED:
        return event.received_at > stored.absent_since  # listed again: the muting ended
    if stored.status is AlertState.FIRING or stored.resolved_received_at is None:
        return False
    return event.received_at - stored.resolved_received_at > replay_window


def record_of(event: AlertReceived, config: HeraldConfig) -> AlertRecord:
    integration = config.integrations.get(event.integration)
    ends_at = event.ends_at
    if event.status is AlertState.RESOLVED and ends_at is None:
        ends_at = event.occurred_at
    return AlertRecord(
        fingerprint=event.fingerprint,
        integration=event.integration,
        integrations=(event.integration,),
        received_at=event.received_at,
        resolved_received_at=event.received_at if event.status is AlertState.RESOLVED else None,
        group=group_of(event),
        seen_at=event.received_at,
        status=event.status,
        starts_at=event.starts_at,
        ends_at=ends_at if event.status is AlertState.RESOLVED else None,
        severity=event.labels.get(config.severity.label),
        alertname=clip(event.labels.get("alertname") or event.fingerprint, MAX_TITLE),
        summary=clip(event.annotations.get("summary", ""), MAX_TITLE),
        description=clip(event.annotations.get("description", ""), MAX_BODY),
        labels=dict(event.labels),
        public=integration.public if integration is not None else True,
    )


def component_status_of(alerts: Iterable[AlertRecord], config: HeraldConfig) -> ComponentStatus:
    """Worst status among the firing public alerts; operational when none."""
    firing = AlertState.FIRING
    severities = {a.severity for a in alerts if a.status is firing and a.public}
    return worst(status_for(s, config.severity) for s in severities)


def _summary(record: AlertRecord) -> AlertSummary:
    return AlertSummary(
        fingerprint=record.fingerprint,
        integration=record.integration,
        alertname=clip(record.alertname, MAX_TITLE),
        severity=None if record.severity is None else clip(record.severity, MAX_TITLE),
        status=record.status,
        starts_at=record.starts_at,
        ends_at=record.ends_at,
        summary=clip(record.summary, MAX_TITLE),
    )


def incident_alerts(
    members: tuple[str, ...], alerts: Mapping[str, AlertRecord]
) -> tuple[AlertSummary, ...]:
    """The summaries an incident carries: its MAX_INCIDENT_ALERTS most relevant alerts (firing
    ones first, then the most recent: by start if firing, else by end), in the order they
    joined."""
    chosen: Iterable[str] = members
    if len(members) > MAX_INCIDENT_ALERTS:
        records = [alerts[k] for k in members]
        firing = AlertState.FIRING
        relevance = [
            (r.status is firing, r.starts_at if r.status is firing else (r.ends_at or r.starts_at))
            for r in records
        ]
        best = sorted(range(len(members)), key=relevance.__getitem__, reverse=True)[
            :MAX_INCIDENT_ALERTS
        ]
        chosen = [members[i] for i in sorted(best)]
    return tuple(_summary(alerts[k]) for k in chosen)


def firing_count(members: Iterable[str], alerts: Mapping[str, AlertRecord]) -> int:
    return sum(1 for k in members if alerts[k].status is AlertState.FIRING)


def _prune(alerts: dict[str, AlertRecord], keep: set[str], now: datetime) -> dict[str, AlertRecord]:
    horizon = now - RESOLVED_RETENTION
    return {
        k: a
        for k, a in alerts.items()
        if a.status is AlertState.FIRING or k in keep or (a.ends_at or a.starts_at) >= horizon
    }


def no_longer_reported(
    state: ServiceState,
    fingerprint: str,
    group: str,
    reported_at: datetime,
    service: str,
    config: HeraldConfig,
    now: datetime,
) -> tuple[ServiceState, list[IncidentEvent]]:
    """A complete notification of `group`, received at `reported_at`, did not list the alert:
    if Herald holds it as firing, last listed by that group before then, it has ended
    (Alertmanager never sends a resolve for an alert muted by a silence or an inhibition)."""
    stored = state.alerts.get(alert_key(fingerprint))
    if (
        stored is None
        or stored.status is not AlertState.FIRING
        or stored.group != group
        or (stored.seen_at or stored.received_at or reported_at) >= reported_at
    ):
        return state, []
    ended = AlertReceived(
        event_id=f"absent:{group}:{fingerprint}:{reported_at.isoformat()}",
        occurred_at=reported_at,
        received_at=reported_at,
        integration=stored.integration,
        fingerprint=fingerprint,
        status=AlertState.RESOLVED,
        labels=stored.labels,
        annotations={"summary": stored.summary, "description": stored.description},
        starts_at=stored.starts_at,
        ends_at=reported_at,
    )
    return apply(state, ended, service, config, now, absent=True)


def expire(
    state: ServiceState, service: str, config: HeraldConfig, now: datetime
) -> tuple[ServiceState, list[IncidentEvent]]:
    """The last line (`alerts.stale_after`): a firing alert no notification mentioned for that
    long has ended (its group was deleted, Alertmanager lost it, it was muted alone in its
    group). Listed again later, it fires again (`absent_since`)."""
    horizon = now - config.alerts.stale_after
    events: list[IncidentEvent] = []
    for record in list(state.alerts.values()):
        last = record.seen_at or record.received_at
        if record.status is AlertState.FIRING and last is not None and last < horizon:
            ended = AlertReceived(
                event_id=f"expired:{record.fingerprint}:{now.isoformat()}",
                occurred_at=now,
                received_at=now,
                integration=record.integration,
                fingerprint=record.fingerprint,
                status=AlertState.RESOLVED,
                labels=record.labels,
                annotations={"summary": record.summary, "description": record.description},
                starts_at=record.starts_at,
                ends_at=now,
            )
            state, more = apply(state, ended, service, config, now, absent=True)
            events.extend(more)
    return state, events


def listed_again(
    state: ServiceState,
    fingerprint: str,
    report: GroupReported,
    service: str,
    config: HeraldConfig,
    now: datetime,
) -> tuple[ServiceState, list[IncidentEvent]]:
    """A notification of `report` listed the alert firing, with the startsAt Herald holds as
    resolved (its own alert event is a JetStream duplicate of the first firing): it fires again
    when it had ended unlisted (`absent_since`) before the report, or when the report came more
    than `alerts.replay_window` after its resolve (the same rules as `supersedes`)."""
    stored = state.alerts.get(alert_key(fingerprint))
    if stored is None or stored.status is not AlertState.RESOLVED:
        return state, []
    again = AlertReceived(
        event_id=f"listed:{report.event_id}:{fingerprint}",
        occurred_at=stored.starts_at,
        received_at=report.occurred_at,
        integration=report.integration,
        fingerprint=fingerprint,
        status=AlertState.FIRING,
        labels=stored.labels,
        annotations={"summary": stored.summary, "description": stored.description},
        starts_at=stored.starts_at,
        group_key=report.group_key,
    )
    return apply(state, again, service, config, now)


def apply(
    state: ServiceState,
    event: AlertReceived,
    service: str,
    config: HeraldConfig,
    now: datetime,
    *,
    absent: bool = False,
) -> tuple[ServiceState, list[IncidentEvent]]:
    """Fold one alert event into a service's state; returns the new state and the events to
    publish, in order. Returns `state` itself and no events when the event changes nothing.
    `absent`: the event is `no_longer_reported`'s resolve."""
    key = alert_key(event.fingerprint)
    stored = state.alerts.get(key)
    record = record_of(event, config)
    if absent and stored is not None:
        record = record.model_copy(
            update={
                "absent_since": event.received_at,
                "group": stored.group,
                "seen_at": stored.seen_at,
            }
        )
    if stored is not None:
        if supersedes(event, stored, config.alerts.replay_window):
            for integration in stored.integrations:
                record = record.through(integration, stored.public)
        else:
            # The same alert event, maybe through another integration: it is one alert, public
            # while any of its integrations is.
            record = stored.through(event.integration, record.public).seen(event)
            if record == stored:
                return state, []
            if record.public == stored.public:
                return state.model_copy(update={"alerts": {**state.alerts, key: record}}), []
    alerts = {**state.alerts, key: record}
    status = component_status_of(alerts.values(), config)
    at = event.occurred_at
    version = state.version
    incident = state.incident
    members = state.members
    worst_status = worst((state.worst_status, status))
    recent = state.recent
    events: list[IncidentEvent] = []

    def next_id() -> tuple[int, str]:
        # Never backwards, even when Redis lost recent writes (a restore, a failover): the
        # status page's "higher version wins" and JetStream's de-duplication would drop new
        # events that reuse old versions.
        nonlocal version
        version = max(version + 1, epoch_ms(now))
        return version, f"{service}:{version}"

    if record.status is AlertState.FIRING:
        if key not in members:
            members = (*members, key)
        if incident is None:
            v, eid = next_id()
            worst_status = status
            incident = Incident(
                id=f"{service}-{v}",
                service=service,
                title=clip(record.summary or record.alertname, MAX_TITLE),
                body=clip(record.description, MAX_BODY),
                status=IncidentStatus.INVESTIGATING,
                impact=impact_for(status),
                component_status=status,
                started_at=record.starts_at,
                updated_at=at,
                alerts=incident_alerts(members, alerts),
                alert_count=len(members),
                public=record.public,
            )
            incident = timeline.told(
                incident,
                at,
                timeline.opened(record.alertname),
                component=status,
                previous=state.component_status,
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
                        "title": clip(record.summary or record.alertname, MAX_TITLE),
                        "body": clip(record.description, MAX_BODY),
                        "public": True,
                    }
                )
            incident = incident.model_copy(
                update={
                    "alerts": incident_alerts(members, alerts),
                    "alert_count": len(members),
                    "impact": worst_impact(incident.impact, impact_for(status)),
                    "component_status": status,
                    "started_at": min(incident.started_at, record.starts_at),
                    "updated_at": max(incident.updated_at, at),
                }
            )
            incident = timeline.told(
                incident,
                at,
                timeline.joined(record.alertname, firing_count(members, alerts), len(members)),
                component=status,
                previous=state.component_status,
            )
            events.append(
                IncidentUpdated(
                    event_id=eid, occurred_at=at, service=service, version=v, incident=incident
                )
            )
    elif incident is not None and key in members:
        v, eid = next_id()
        update: dict[str, object] = {
            "alerts": incident_alerts(members, alerts),
            "alert_count": len(members),
            "updated_at": max(incident.updated_at, at),
        }
        firing = firing_count(members, alerts)
        if not firing:
            ends = (alerts[k].ends_at for k in members)
            update |= {
                "status": IncidentStatus.RESOLVED,
                "component_status": worst_status,
                "resolved_at": max((e for e in ends if e is not None), default=at),
            }
            incident = timeline.told(
                incident.model_copy(update=update),
                at,
                timeline.closed(record.alertname, len(members), absent=absent),
                component=status,
                previous=state.component_status,
            )
            events.append(
                IncidentResolved(
                    event_id=eid, occurred_at=at, service=service, version=v, incident=incident
                )
            )
            recent = (incident, *recent)[: config.page.history_size]
            incident = None
        else:
            incident = timeline.told(
                incident.model_copy(update={**update, "component_status": status}),
                at,
                timeline.recovered(
                    record.alertname, len(members) - firing, len(members), absent=absent
                ),
                component=status,
                previous=state.component_status,
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

    if incident is None:
        members = ()
        worst_status = ComponentStatus.OPERATIONAL
    updated_at = state.updated_at
    if events:
        updated_at = at if updated_at is None else max(updated_at, at)
    new_state = ServiceState(
        service=service,
        version=version,
        alerts=_prune(alerts, {key, *members}, now),
        incident=incident,
        members=members,
        worst_status=worst_status,
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
