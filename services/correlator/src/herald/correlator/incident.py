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
  within the window it is an HA peer's or a retry's late copy;
- a firing that reached ingest before the stored resolve of its instance, folded after it (two
  batches in flight, a redelivery), changes nothing of the alert but still makes it a resolved
  alert of the open incident when the instance ended after that incident started
  (`late_firing`, `fired_in`).
Versions continue from max(stored version + 1, now in ms), so they never go backwards after
Redis lost recent writes.
The same event applied twice changes nothing and emits nothing. An incident starts at the
earliest startsAt of its alerts and resolves at the latest endsAt of its alerts, whatever
order their events arrive in.

Incident events are bounded whatever the alerts say, so that each fits a NATS message:
title, body and per-alert texts are clipped, and an incident carries at most
`MAX_INCIDENT_ALERTS` alert summaries (with `alert_count` for the total) and the labels all
its alerts share, bounded (`common_labels`). The state keeps every alert.

Alerts from integrations with `public: false` open and join incidents like any other (so the
on-call is paged) but never change the component status; an incident made only of such
alerts has impact `none` and leaves the component `operational`.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from herald.correlator import common_labels, timeline
from herald.correlator.memo import Memo
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
from herald.shared.public_page import public_status
from herald.shared.statuses import impact_for, worst, worst_impact

RESOLVED_RETENTION = timedelta(days=7)
"""Resolved alert records are kept this long after ingest last received an event about them
(`AlertRecord.retained_from`, by `now`) to block stale replays, then pruned. The ALERTS stream
keeps messages for 7 days from their arrival, so JetStream cannot redeliver anything older."""

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
    """Set when it ended because a complete notification of its group no longer listed it, or
    none mentioned it for `alerts.stale_after`: listed again later, it fires again whatever its
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
    generator_url: str = ""
    """The alert's `generatorURL` (untrusted text, clipped)."""
    runbook_url: str = ""
    """The `runbook_url` annotation (untrusted text, clipped)."""
    labels: dict[str, str] = Field(default_factory=dict)
    public: bool = True
    """False when it came through an integration with `public: false`."""
    incident: str | None = None
    """Id of the incident it joined (it is an alert of the open incident while that is its id)."""
    published: bool = True
    """A public alert counts on the public page once it has fired `publish_after`
    (`public_at`); False until then (paging does not wait)."""
    joined: int = 0
    """Its place among that incident's alerts, in the order they joined."""
    changes: tuple[datetime, ...] = ()
    """Arrival times of its recent state changes (firing <-> resolved) within
    `alerts.flapping.window` (flap detection; at most `changes` + 1 kept)."""
    flap_told: bool = False
    """Its incident's timeline already says it is flapping (said once per flapping spell)."""
    fired: bool = True
    """Whether a firing of the instance stored was folded; False while only its resolve was
    (its firing may still come, late: `fired_in`). True for records stored before it existed."""

    @property
    def key(self) -> str:
        return alert_key(self.fingerprint)

    @property
    def retained_from(self) -> datetime:
        """When RESOLVED_RETENTION starts: the latest arrival at ingest of an event about it (a
        redelivery, an HA peer's copy or a report listing it can come until the stream drops
        that message, 7 days after its arrival). Never its endsAt: an event time may be months
        old (a backlog, Merge's earliest startsAt, a drill), and pruning by it dropped the record
        a redelivered firing needed to be known as a late copy (docs/reliability.md, bug 1)."""
        arrivals = [
            at
            for at in (self.received_at, self.resolved_received_at, self.seen_at, self.absent_since)
            if at is not None
        ]
        return max(arrivals) if arrivals else self.ends_at or self.starts_at

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


class ServiceHead(BaseModel):
    """What one step needs of a service besides the records of the alerts it folds: the open
    incident, its counters, the component status and the version. Small and bounded whatever
    the size of the incident (the store keeps the alert records beside it, one per alert)."""

    model_config = ConfigDict(frozen=True)

    service: str
    version: int = 0
    """Incremented by every emitted event; each event carries the version after it."""
    incident: Incident | None = None
    """The open incident; its `alert_count` counts the alerts that joined it."""
    firing: int = 0
    """How many alerts of the open incident are firing (it resolves when none is)."""
    public_firing: dict[str, int] = Field(default_factory=dict)
    """Firing public alerts by severity label value ("" for none): the component status."""
    last_end: datetime | None = None
    """The latest endsAt of the open incident's resolved alerts (its `resolved_at`)."""
    worst_status: ComponentStatus = ComponentStatus.OPERATIONAL
    """The worst component status since the open incident opened."""
    component_status: ComponentStatus = ComponentStatus.OPERATIONAL
    recent: tuple[Incident, ...] = ()
    """Resolved incidents, newest first, at most `page.history_size`."""
    updated_at: datetime | None = None
    due_at: datetime | None = None
    """The earliest time the public page may change without an alert event (an alert reaching
    `publish_after`, a `recovery_hold` ending): a sweep (`Correlator.tick_due`) steps the
    service then. May be early (the sweep then finds nothing and sets the next one), never late."""
    hold_until: datetime | None = None
    """While the public incident shows `monitoring`: when its recovery hold ends."""
    flap_status: ComponentStatus | None = None
    """While an alert flaps: the worst component status of the flapping window, which the
    component holds instead of toggling (until `flap_until`)."""
    flap_until: datetime | None = None

    def member(self, record: AlertRecord | None) -> bool:
        """Whether `record` is an alert of the open incident."""
        return (
            record is not None and self.incident is not None and record.incident == self.incident.id
        )


class ServiceState(ServiceHead):
    """A service's head with every alert record: the whole state, as the in-memory store holds
    it and `apply` folds it (the Redis store keeps the records in a hash beside the head)."""

    alerts: dict[str, AlertRecord] = Field(default_factory=dict)
    """By `alert_key(fingerprint)`."""

    @property
    def head(self) -> ServiceHead:
        return ServiceHead.model_validate(self.model_dump(exclude={"alerts"}))


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
    - A firing of an alert that ended unlisted (`absent_since`) fires again when it was
      received after that, whatever its startsAt (the silence expired, the inhibition lifted).
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
        # unless it is the firing a stored resolve (with Merge's earlier startsAt) ended, which
        # reached ingest before that resolve did (a reordered or redelivered message)
        return not (
            stored.status is AlertState.RESOLVED
            and stored.resolved_received_at is not None
            and event.received_at < stored.resolved_received_at
            and stored.ends_at is not None
            and event.starts_at <= stored.ends_at
        )
    if stored.absent_since is not None and stored.status is AlertState.RESOLVED:
        return event.received_at > stored.absent_since  # listed again: the muting ended
    if stored.status is AlertState.FIRING or stored.resolved_received_at is None:
        return False
    return event.received_at - stored.resolved_received_at > replay_window


def late_firing(event: AlertReceived, stored: AlertRecord) -> bool:
    """Whether `event` is the firing of the instance a stored resolve ended, folded after that
    resolve though it reached ingest before it (two batches in flight, two replicas, a
    redelivery), while no firing of the instance was folded yet. `supersedes` takes it for a
    late copy (the alert stays resolved); `fired_in` says whether it still joins the incident."""
    return (
        event.status is AlertState.FIRING
        and stored.status is AlertState.RESOLVED
        and not stored.fired
        and stored.ends_at is not None
        and stored.starts_at <= event.starts_at <= stored.ends_at
        and stored.resolved_received_at is not None
        and event.received_at < stored.resolved_received_at
    )


def fired_in(event: AlertReceived, stored: AlertRecord, incident: Incident | None) -> bool:
    """Whether a `late_firing` makes the alert a (resolved) alert of the open `incident`: its
    instance ended after that incident started and it is not one of its alerts yet. In the
    order ingest received them, its firing joined that incident and its resolve then resolved
    it there (docs/reliability.md, bug 6). A redelivered firing whose instance's firing was
    folded (it joined an earlier incident) is no `late_firing`: it stays a copy."""
    return (
        incident is not None
        and late_firing(event, stored)
        and stored.incident != incident.id
        and stored.ends_at is not None
        and stored.ends_at >= incident.started_at
    )


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
        generator_url=clip(event.generator_url, MAX_BODY),
        runbook_url=clip(event.annotations.get("runbook_url", ""), MAX_BODY),
        labels=dict(event.labels),
        public=(integration.public if integration is not None else True)
        and config.public.admits(event.labels, config.severity.label),
    )


def status_of(public_firing: Mapping[str, int], config: HeraldConfig) -> ComponentStatus:
    """Worst status among the firing public alerts (counted by severity); operational when none."""
    return worst(
        status_for(severity or None, config.severity)
        for severity, n in public_firing.items()
        if n > 0
    )


def component_status_of(alerts: Iterable[AlertRecord], config: HeraldConfig) -> ComponentStatus:
    """Worst status among the firing public alerts; operational when none."""
    firing = AlertState.FIRING
    severities = {a.severity for a in alerts if a.status is firing and a.public}
    return worst(status_for(s, config.severity) for s in severities)


SUMMARY_CACHE = 100_000
"""Summaries kept (`summary`): about as many as the store's parsed records."""


def summary(record: AlertRecord) -> AlertSummary:
    """The alert as its incident shows it. Every step rebuilds its incident's shown alerts from
    records that are mostly the same objects as the step before (the store keeps parsed records),
    so each record's summary is made once (records are frozen)."""
    return _summaries(record)


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
        generator_url=record.generator_url,
        runbook_url=record.runbook_url,
    )


_summaries: Memo[AlertRecord, AlertSummary] = Memo(_summary, SUMMARY_CACHE)


def relevance(record: AlertRecord) -> tuple[bool, datetime, int]:
    """How relevant an alert of an incident is to show: firing ones first, then the most recent
    (by start if firing, else by end), then the first to join."""
    firing = record.status is AlertState.FIRING
    return (
        firing,
        record.starts_at if firing else (record.ends_at or record.starts_at),
        -record.joined,
    )


def most_relevant(records: Iterable[AlertRecord], n: int) -> list[AlertRecord]:
    """The `n` most relevant firing and the `n` most relevant resolved of `records` (what the
    Redis store reads from its per-incident indexes: enough to choose an incident's shown
    alerts after a step of `n - MAX_INCIDENT_ALERTS` alerts, exactly)."""
    records = list(records)
    firing = [r for r in records if r.status is AlertState.FIRING]
    ended = [r for r in records if r.status is not AlertState.FIRING]
    return heapq.nlargest(n, firing, key=relevance) + heapq.nlargest(n, ended, key=relevance)


def incident_alerts(
    incident_id: str, candidates: Iterable[AlertRecord]
) -> tuple[AlertSummary, ...]:
    """The summaries an incident carries: its MAX_INCIDENT_ALERTS most relevant alerts among
    `candidates` (firing ones first, then the most recent: by start if firing, else by end), in
    the order they joined."""
    members = [r for r in candidates if r.incident == incident_id]
    if len(members) > MAX_INCIDENT_ALERTS:
        members = heapq.nlargest(MAX_INCIDENT_ALERTS, members, key=relevance)
    members.sort(key=lambda r: r.joined)
    return tuple(summary(r) for r in members)


def prunable(record: AlertRecord, head: ServiceHead, now: datetime) -> bool:
    """Whether a stored record may go: resolved, last received more than RESOLVED_RETENTION ago
    (by `now`), and not an alert of the open incident."""
    return (
        record.status is not AlertState.FIRING
        and not head.member(record)
        and record.retained_from < now - RESOLVED_RETENTION
    )


def merge(
    stored: AlertRecord | None, event: AlertReceived, config: HeraldConfig, absent: bool = False
) -> tuple[AlertRecord, bool] | None:
    """The alert's record after `event`, and whether the change can touch the incident (a new
    instance, a resolve, or the alert becoming public); None when the event changes nothing
    (a duplicate). The rules of `supersedes` decide which event wins. `absent`: the event is
    the resolve of an alert no longer reported (`absent_event`, `stale_events`)."""
    record = record_of(event, config)
    if event.status is AlertState.RESOLVED and (
        stored is None or stored.status is AlertState.RESOLVED
    ):
        # its firing was not folded (yet): a late one joins the incident it fired in
        record = record.model_copy(update={"fired": False})
    if stored is None:
        return record, True
    if absent:
        record = record.model_copy(
            update={
                "absent_since": event.received_at,
                "group": stored.group,
                "seen_at": stored.seen_at,
            }
        )
    if supersedes(event, stored, config.alerts.replay_window):
        for integration in stored.integrations:
            record = record.through(integration, stored.public)
        if stored.status is AlertState.FIRING and record.starts_at < stored.starts_at:
            # A resolve with an earlier startsAt (Merge keeps the earliest) ends the instance
            # stored: keep its startsAt, so a late copy of that firing (an HA peer's, a retry)
            # is not taken for a newer instance (found by tests/test_order.py).
            record = record.model_copy(update={"starts_at": stored.starts_at})
        return record.model_copy(
            update={
                "incident": stored.incident,
                "joined": stored.joined,
                **changed(stored, record.status, event.received_at, config),
            }
        ), True
    # The same alert event, maybe through another integration: it is one alert, public while
    # any of its integrations is.
    merged = stored.through(event.integration, record.public).seen(event)
    if merged == stored:
        return None
    return merged, merged.public != stored.public


def changed(
    stored: AlertRecord, status: AlertState, at: datetime, config: HeraldConfig
) -> dict[str, object]:
    """The flap-detection fields of an alert after an event of `status` arriving at `at`."""
    flapping = config.alerts.flapping
    if flapping is None:
        return {}
    recent = tuple(c for c in stored.changes if c > at - flapping.window)
    if status is not stored.status:
        recent = (*recent, at)[-(flapping.changes + 1) :]
    told = stored.flap_told and len(recent) > flapping.changes
    return {"changes": recent, "flap_told": told}


def flapping(record: AlertRecord, config: HeraldConfig) -> bool:
    """Whether the alert changed state more than `alerts.flapping.changes` times in its window."""
    spec = config.alerts.flapping
    return spec is not None and len(record.changes) > spec.changes


def _severity(record: AlertRecord) -> str:
    return record.severity or ""


@dataclass
class Step:
    """What folding a batch of alert events into one service produced."""

    head: ServiceHead
    records: dict[str, AlertRecord]
    """The alert records the batch changed, by key (nothing to store when empty)."""
    events: list[IncidentEvent]
    """The incident events to publish, in order: one per incident change kind per batch
    (opened / updated / resolved), each followed by a ComponentStatusChanged when the status
    moved."""
    applied: list[bool]
    """Per alert event of the batch: whether it changed anything."""
    changed: bool = True
    """Whether there is anything to store (records, events, or the head itself)."""


class _Fold:
    """The working state of one `fold` (local to it: the rules below are its steps)."""

    def __init__(
        self,
        head: ServiceHead,
        records: Mapping[str, AlertRecord],
        ranked: Iterable[AlertRecord],
        service: str,
        config: HeraldConfig,
        now: datetime,
        absent: bool = False,
    ) -> None:
        self.service = service
        self.config = config
        self.now = now
        self.absent = absent
        self.version = head.version
        self.incident = head.incident
        self.firing = head.firing
        self.public_firing = dict(head.public_firing)
        self.last_end = head.last_end
        self.worst_status = head.worst_status
        self.status = head.component_status
        self.recent = head.recent
        self.updated_at = head.updated_at
        self.records = dict(records)
        self.ranked = {r.key: r for r in ranked}
        self.changed: dict[str, AlertRecord] = {}
        self.events: list[IncidentEvent] = []
        self.pending: tuple[type[IncidentOpened] | type[IncidentUpdated], int | None] | None = None
        self.pending_at: datetime | None = None
        self.opened_received_at: datetime | None = None
        """When ingest received the alert that opened the pending incident (paging latency)."""
        self.emitted_status = head.component_status
        self.last_at: datetime | None = None
        self.due_at = head.due_at
        self.hold_until = head.hold_until
        self.flap_status = head.flap_status
        self.flap_until = head.flap_until
        self.publish_after = config.publish_after(service)
        self.texts = config.timeline

    # -- versions, membership, counters ------------------------------------------------------

    def next_id(self) -> tuple[int, str]:
        # Never backwards, even when Redis lost recent writes (a restore, a failover): the
        # status page's "higher version wins" and JetStream's de-duplication would drop new
        # events that reuse old versions.
        self.version = max(self.version + 1, epoch_ms(self.now))
        return self.version, f"{self.service}:{self.version}"

    def member(self, record: AlertRecord | None) -> bool:
        return (
            record is not None and self.incident is not None and record.incident == self.incident.id
        )

    def count(self, record: AlertRecord, member: bool, sign: int) -> None:
        if record.status is not AlertState.FIRING:
            return
        if member:
            self.firing += sign
        if record.public and record.published:
            severity = _severity(record)
            n = self.public_firing.get(severity, 0) + sign
            if n:
                self.public_firing[severity] = n
            else:
                self.public_firing.pop(severity, None)

    def put(self, record: AlertRecord) -> None:
        self.records[record.key] = record
        self.changed[record.key] = record

    def shown(self, incident: Incident) -> tuple[AlertSummary, ...]:
        return incident_alerts(incident.id, {**self.ranked, **self.changed}.values())

    def body(self, incident: Incident) -> str:
        """The incident's body (the `timeline.body` template): it speaks for all its shown alerts,
        the public ones only once it is public (customers never read an internal alert's words)."""
        members = [
            r
            for r in {**self.ranked, **self.changed}.values()
            if r.incident == incident.id and (not incident.public or (r.public and r.published))
        ]
        if not members:
            return incident.body
        if len(members) > MAX_INCIDENT_ALERTS:
            members = heapq.nlargest(MAX_INCIDENT_ALERTS, members, key=relevance)
        members.sort(key=lambda r: r.joined)
        alerts = [
            {
                "alertname": r.alertname,
                "summary": r.summary,
                "severity": r.severity,
                "status": r.status.value,
            }
            for r in members
        ]
        return clip(timeline.body(members[0].description, alerts, self.texts), MAX_BODY)

    def component(self) -> ComponentStatus:
        """The component's status: its firing public alerts', held at the flapping window's
        worst while an alert flaps."""
        status = status_of(self.public_firing, self.config)
        if self.flap_status is not None and self.flap_until is not None:
            if self.flap_until > self.now:
                return worst((status, self.flap_status))
            self.flap_status = self.flap_until = None  # the spell is over
        return status

    def flap(self, record: AlertRecord, before: ComponentStatus, at: datetime) -> AlertRecord:
        """`record` changed state: while it flaps the component holds the window's worst status
        and the incident's timeline says so, once."""
        spec = self.config.alerts.flapping
        if spec is None or not flapping(record, self.config) or not record.public:
            return record
        status = status_of(self.public_firing, self.config)
        self.flap_status = worst((self.flap_status or before, before, status))
        until = record.changes[-1] + spec.window
        self.flap_until = until if self.flap_until is None else max(self.flap_until, until)
        self.due(self.flap_until)
        if record.flap_told or self.incident is None:
            return record
        self.incident = timeline.told(
            self.incident,
            at,
            timeline.flapping(record.alertname, len(record.changes), spec.window, self.texts),
            public=self.visible(record),
        )
        self.mark(at)
        told = record.model_copy(update={"flap_told": True})
        self.put(told)
        return told

    def due(self, at: datetime) -> None:
        """Something on the public page changes at `at` without an alert event."""
        self.due_at = at if self.due_at is None else min(self.due_at, at)

    def visible(self, record: AlertRecord) -> bool:
        """Whether `record` counts on the public page (public and published)."""
        return record.public and record.published

    def publishing(self, record: AlertRecord) -> AlertRecord:
        """`record` with `published` as `publish_after` decides (a firing public alert that has
        not fired that long yet waits; the sweep publishes it at `starts_at + publish_after`)."""
        if record.status is not AlertState.FIRING or not record.public or not self.publish_after:
            return record if record.published else record.model_copy(update={"published": True})
        at = record.starts_at + self.publish_after
        if at <= self.now:
            return record if record.published else record.model_copy(update={"published": True})
        self.due(at)
        return record.model_copy(update={"published": False})

    # -- emitting ---------------------------------------------------------------------------

    def touch(self, at: datetime) -> None:
        self.updated_at = at if self.updated_at is None else max(self.updated_at, at)
        self.last_at = at

    def mark(self, at: datetime) -> None:
        """The open incident changed: one IncidentUpdated for the batch (unless it opened in it)."""
        if self.pending is None:
            self.pending = (IncidentUpdated, None)
        self.pending_at = at

    def status_changed(self, status: ComponentStatus, at: datetime) -> None:
        if status != self.emitted_status:
            v, eid = self.next_id()
            self.events.append(
                ComponentStatusChanged(
                    event_id=eid,
                    occurred_at=at,
                    service=self.service,
                    version=v,
                    status=status,
                    previous_status=self.emitted_status,
                )
            )
            self.emitted_status = status

    def flush(self, status: ComponentStatus) -> None:
        """Emit the pending IncidentOpened/IncidentUpdated of the open incident, then the
        component status it goes with."""
        if self.pending is not None and self.incident is not None and self.pending_at is not None:
            kind, version = self.pending
            v, eid = (
                (version, f"{self.service}:{version}") if version is not None else self.next_id()
            )
            incident = self.incident.model_copy(
                update={"alerts": self.shown(self.incident), "body": self.body(self.incident)}
            )
            self.incident = incident
            if kind is IncidentOpened:
                event: IncidentEvent = IncidentOpened(
                    event_id=eid,
                    occurred_at=self.pending_at,
                    service=self.service,
                    version=v,
                    incident=incident,
                    received_at=self.opened_received_at,
                )
            else:
                event = kind(
                    event_id=eid,
                    occurred_at=self.pending_at,
                    service=self.service,
                    version=v,
                    incident=incident,
                )
            self.events.append(event)
            self.status_changed(status, self.pending_at)
        self.pending = None

    # -- the rules, one per lifecycle case (docs/alert-lifecycle.md) --------------------------

    def open_incident(self, record: AlertRecord, status: ComponentStatus, at: datetime) -> None:
        """A firing alert while no incident is open: an incident opens (the on-call is paged)."""
        v, _ = self.next_id()
        self.incident = Incident(
            id=f"{self.service}-{v}",
            service=self.service,
            title=clip(record.summary or record.alertname, MAX_TITLE),
            body=clip(record.description, MAX_BODY),
            status=IncidentStatus.INVESTIGATING,
            impact=impact_for(status),
            component_status=status,
            started_at=record.starts_at,
            updated_at=at,
            alert_count=0,
            public=self.visible(record),
            labels=common_labels.bounded(record.labels),
        )
        self.firing = 0
        self.last_end = None
        self.worst_status = status
        self.pending = (IncidentOpened, v)
        self.pending_at = at
        self.opened_received_at = record.received_at

    def join_incident(
        self, record: AlertRecord, stored: AlertRecord | None, at: datetime
    ) -> AlertRecord:
        """A firing alert joins the open incident (or fires again in it)."""
        incident = self.incident
        assert incident is not None
        if self.member(stored):
            assert stored is not None
            joined = record.model_copy(update={"incident": incident.id, "joined": stored.joined})
            count = incident.alert_count
        else:
            joined = record.model_copy(
                update={"incident": incident.id, "joined": incident.alert_count}
            )
            count = incident.alert_count + 1
        self.count(joined, True, +1)
        self.put(joined)
        status = self.component()
        update: dict[str, object] = {
            "alert_count": count,
            "impact": worst_impact(incident.impact, impact_for(status)),
            "component_status": status,
            "started_at": min(incident.started_at, record.starts_at),
            "updated_at": max(incident.updated_at, at),
            "labels": common_labels.narrowed(incident.labels, record.labels),
        }
        if self.visible(record) and not incident.public:
            # The first public alert of an internal incident: the public page must show its
            # words, never the internal alert's.
            update |= {
                "title": clip(record.summary or record.alertname, MAX_TITLE),
                "body": clip(record.description, MAX_BODY),
                "public": True,
            }
        if incident.status is IncidentStatus.MONITORING:
            update["status"] = IncidentStatus.INVESTIGATING  # a re-fire during the hold
        if self.visible(record):
            # The page says `investigating` again (a re-fire during the hold, a public alert
            # after the public side resolved), unless a person said `identified`: their word
            # stands (the alert still gets its entry). A person's `monitoring` goes back to
            # `investigating`, as the automatic one does.
            kept = incident.public and public_status(incident) is IncidentStatus.IDENTIFIED
            if not kept:
                update["public_status"] = IncidentStatus.INVESTIGATING
            update["public_resolved_at"] = None
            self.hold_until = None
        self.incident = incident.model_copy(update=update)
        self.mark(at)
        return joined

    def join_resolved(self, record: AlertRecord, event: AlertReceived, at: datetime) -> None:
        """A firing folded after its own resolve (`fired_in`): the alert joins the open incident
        as the resolved alert it is, as if its firing had come first (it is counted, its
        severity counts in the incident's impact and worst status, its words and labels in the
        incident's); the component and the firing count do not change (it no longer fires)."""
        incident = self.incident
        assert incident is not None
        # The firing's startsAt, as when the firing came first (a resolve keeps the stored
        # firing's, not Merge's earlier one).
        joined = record.model_copy(
            update={
                "incident": incident.id,
                "joined": incident.alert_count,
                "starts_at": max(record.starts_at, event.starts_at),
                "published": True,
                "fired": True,
            }
        )
        self.put(joined)
        if joined.ends_at is not None:
            self.last_end = (
                joined.ends_at if self.last_end is None else max(self.last_end, joined.ends_at)
            )
        fired = status_for(joined.severity, self.config.severity)
        if self.visible(joined):
            self.worst_status = worst((self.worst_status, fired))
        count = incident.alert_count + 1
        update: dict[str, object] = {
            "alert_count": count,
            "started_at": min(incident.started_at, joined.starts_at),
            "updated_at": max(incident.updated_at, at),
            "labels": common_labels.narrowed(incident.labels, joined.labels),
        }
        if self.visible(joined):
            update["impact"] = worst_impact(incident.impact, impact_for(fired))
            if not incident.public:
                # its words, never an internal alert's; resolved on the public page already
                update |= {
                    "title": clip(joined.summary or joined.alertname, MAX_TITLE),
                    "body": clip(joined.description, MAX_BODY),
                    "public": True,
                    "public_status": IncidentStatus.RESOLVED,
                    "public_resolved_at": joined.ends_at,
                }
        self.incident = timeline.told(
            incident.model_copy(update=update),
            at,
            timeline.recovered(
                joined.alertname,
                count - self.firing,
                count,
                absent=joined.absent_since is not None,
                texts=self.texts,
            ),
            public=self.visible(joined),
        )
        self.mark(at)
        self.touch(at)

    def recover_partially(self, record: AlertRecord, status: ComponentStatus, at: datetime) -> None:
        """An alert of the open incident resolves while others still fire ("2 of 5 resolved")."""
        incident = self.incident
        assert incident is not None
        self.incident = timeline.told(
            incident.model_copy(
                update={"component_status": status, "updated_at": max(incident.updated_at, at)}
            ),
            at,
            timeline.recovered(
                record.alertname,
                incident.alert_count - self.firing,
                incident.alert_count,
                absent=self.absent,
                texts=self.texts,
            ),
            component=status,
            previous=self.status,
            public=incident.public and self.visible(record),
        )
        self.mark(at)

    def resolve_incident(self, record: AlertRecord, at: datetime) -> None:
        """The last firing alert of the open incident resolves: the incident resolves at the
        latest endsAt of its alerts, with the worst component status it had."""
        incident = self.incident
        assert incident is not None
        if self.pending is not None and self.pending[0] is IncidentOpened:
            self.flush(incident.component_status)  # it opened in this batch: page for it
        self.pending = None
        v, eid = self.next_id()
        already = incident.public_status is IncidentStatus.RESOLVED  # for the public page
        resolved_at = self.last_end or at
        resolved = incident.model_copy(
            update={
                "status": IncidentStatus.RESOLVED,
                "component_status": self.worst_status,
                "resolved_at": resolved_at,
                "updated_at": max(incident.updated_at, at),
                "public_status": IncidentStatus.RESOLVED,
                "public_resolved_at": incident.public_resolved_at if already else resolved_at,
            }
        )
        resolved = timeline.told(
            resolved.model_copy(
                update={"alerts": self.shown(resolved), "body": self.body(resolved)}
            ),
            at,
            timeline.public_resolved(self.texts)
            if record is _TICK
            else timeline.closed(
                record.alertname, incident.alert_count, absent=self.absent, texts=self.texts
            ),
            component=self.component(),
            previous=self.status,
            public=incident.public and not already,
        )
        self.hold_until = None
        self.events.append(
            IncidentResolved(
                event_id=eid, occurred_at=at, service=self.service, version=v, incident=resolved
            )
        )
        self.recent = (resolved, *self.recent)[: self.config.page.history_size]
        self.incident = None

    def reopen_incident(
        self, record: AlertRecord, stored: AlertRecord | None, at: datetime
    ) -> bool:
        """An alert of the last incident fires again while no incident is open, within
        `reopen_window` (by event time) of that incident resolving: it opens again (same id, a
        "reopened" entry; the on-call, told it resolved, is not paged again). Whether it did.
        Another alert of the service opens a new incident: it may be another problem, and its
        words, not the old incident's, must be the title."""
        window = self.config.reopen_window(self.service)
        if not window or not self.recent or stored is None:
            return False
        last = self.recent[0]
        if stored.incident != last.id:
            return False
        if last.resolved_at is None or at - last.resolved_at > window:
            return False
        public = last.public and self.visible(record)
        self.incident = timeline.told(
            last.model_copy(
                update={
                    "status": IncidentStatus.INVESTIGATING,
                    "resolved_at": None,
                    "public_status": IncidentStatus.INVESTIGATING if public else None,
                    "public_resolved_at": None if public else last.public_resolved_at,
                    "updated_at": max(last.updated_at, at),
                }
            ),
            at,
            timeline.reopened(record.alertname, self.texts),
            public=public,
            status=IncidentStatus.INVESTIGATING,
        )
        if not public and last.public:
            # still resolved on the public page: the entry is internal, its status too
            self.incident = self.incident.model_copy(
                update={"public_status": IncidentStatus.RESOLVED}
            )
        self.recent = self.recent[1:]
        self.firing = 0
        self.last_end = None
        self.worst_status = ComponentStatus.OPERATIONAL
        self.mark(at)
        return True

    def publicly_open(self, incident: Incident) -> bool:
        """Whether the page shows `incident` open with no recovery hold running: investigating,
        or a person's identified or monitoring (`herald incident update`). The automatic
        `monitoring` of a hold ends by the hold; resolved is over."""
        status = public_status(incident)
        if status is IncidentStatus.MONITORING:
            return self.hold_until is None
        return status in (IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED)

    def settle(self, record: AlertRecord, at: datetime) -> None:
        """After a change of the open incident: its public status from its public alerts only
        (resolved on the public page once none fires, `monitoring` for `recovery_hold` first),
        and the incident resolves when none of its alerts fires (after the hold, if one runs)."""
        incident = self.incident
        if incident is None:
            return
        showing = sum(self.public_firing.values()) > 0
        hold = self.config.recovery_hold(self.service)
        if not showing and incident.public and self.publicly_open(incident):
            # the last public alert resolved
            if hold:
                self.hold_until = at + hold
                self.incident = timeline.told(
                    incident.model_copy(update={"public_status": IncidentStatus.MONITORING}),
                    at,
                    timeline.monitoring(hold, self.texts),
                    status=IncidentStatus.MONITORING,
                )
                self.mark(at)
            elif self.firing > 0:
                self.incident = timeline.told(
                    incident.model_copy(
                        update={
                            "public_status": IncidentStatus.RESOLVED,
                            "public_resolved_at": at,
                        }
                    ),
                    at,
                    timeline.public_resolved(self.texts),
                    status=IncidentStatus.RESOLVED,
                )
                self.mark(at)
        incident = self.incident
        assert incident is not None
        if incident.public_status is IncidentStatus.MONITORING and self.hold_until is not None:
            if self.hold_until <= self.now:  # the hold is over
                end = self.hold_until
                self.hold_until = None
                if self.firing > 0:
                    self.incident = timeline.told(
                        incident.model_copy(
                            update={
                                "public_status": IncidentStatus.RESOLVED,
                                "public_resolved_at": end,
                                # internal alerts fire: not monitoring (a person's other
                                # status stays)
                                "status": IncidentStatus.INVESTIGATING
                                if incident.status is IncidentStatus.MONITORING
                                else incident.status,
                            }
                        ),
                        max(at, end),
                        timeline.public_resolved(self.texts),
                        status=IncidentStatus.RESOLVED,
                    )
                    self.mark(max(at, end))
            else:
                self.due(self.hold_until)
                if self.firing == 0 and incident.status is not IncidentStatus.MONITORING:
                    self.incident = incident.model_copy(
                        update={"status": IncidentStatus.MONITORING}
                    )
                    self.mark(at)
                return  # resolves when the hold ends
        if self.firing == 0:
            self.resolve_incident(record, at)

    def fold(self, event: AlertReceived) -> bool:
        """Fold one alert event; whether it changed anything."""
        key = alert_key(event.fingerprint)
        stored = self.records.get(key)
        merged = merge(stored, event, self.config, self.absent)
        if (
            stored is not None
            and late_firing(event, stored)
            and not supersedes(event, stored, self.config.alerts.replay_window)
        ):
            late = stored if merged is None else merged[0]
            if fired_in(event, stored, self.incident):
                self.join_resolved(late, event, event.occurred_at)
            else:  # no incident it fired in is open; its copies folded later stay copies
                self.put(late.model_copy(update={"fired": True}))
            return True
        if merged is None:
            return False
        record, relevant = merged
        if not relevant:  # another integration of a known alert: remembered, nothing to show
            if record.public and not (stored is not None and stored.public):
                record = self.publishing(record)
            self.put(record)
            return True
        record = self.publishing(record)
        at = event.occurred_at
        was_member = self.member(stored)
        if stored is not None:
            self.count(stored, was_member, -1)
        if record.status is AlertState.FIRING:
            opening = self.incident is None
            reopened = opening and self.reopen_incident(record, stored, at)
            if opening and not reopened:
                self.open_incident(record, status_of(self.public_firing, self.config), at)
                # the opening alert counts once it joined
            record = self.join_incident(record, stored if self.member(stored) else None, at)
            record = self.flap(record, self.status, at)
            status = self.component()
            self.worst_status = worst((self.worst_status, status))
            assert self.incident is not None
            if not reopened:
                self.incident = timeline.told(
                    self.incident,
                    at,
                    timeline.opened(record.alertname, self.texts)
                    if opening
                    else timeline.joined(
                        record.alertname, self.firing, self.incident.alert_count, self.texts
                    ),
                    component=status,
                    previous=self.status,
                    public=self.visible(record),
                )
            self.touch(at)
        elif was_member:
            self.put(record)
            if record.ends_at is not None:
                self.last_end = (
                    record.ends_at if self.last_end is None else max(self.last_end, record.ends_at)
                )
            record = self.flap(record, self.status, at)
            status = self.component()
            self.worst_status = worst((self.worst_status, status))
            self.touch(at)
            if self.firing > 0:
                self.recover_partially(record, status, at)
            self.settle(record, at)
        else:  # a resolve of an alert outside the open incident (or before its firing)
            self.put(record)
            status = self.component()
            if status != self.status:
                self.touch(at)
        self.status = status
        if self.incident is None:
            self.worst_status = ComponentStatus.OPERATIONAL
            self.firing = 0
            self.last_end = None
        return True

    def tick(self, firing: Iterable[AlertRecord]) -> None:
        """Time passed (`now`), with every firing alert of the service in `firing`: publish the
        public alerts that have now fired `publish_after`, end a recovery hold that is over, and
        set the next due time exactly."""
        self.due_at = None
        at = self.now
        published = False
        for stored in firing:
            if not self.member(stored) or stored.status is not AlertState.FIRING:
                continue
            if stored.published or not stored.public:
                continue
            record = self.publishing(stored)
            if not record.published:
                continue
            self.count(stored, True, -1)
            record = self.join_incident(record, stored, max(at, stored.starts_at))
            assert self.incident is not None
            self.incident = timeline.told(
                self.incident,
                at,
                timeline.joined(
                    record.alertname, self.firing, self.incident.alert_count, self.texts
                ),
                component=self.component(),
                previous=self.status,
            )
            published = True
        status = self.component()
        self.worst_status = worst((self.worst_status, status))
        if published or status != self.status:
            self.touch(at)
        if self.incident is not None and self.hold_until is not None:
            before = self.incident
            self.settle(_TICK, at)
            if self.incident != before or self.incident is None:
                self.touch(at)
        self.status = status
        if self.incident is None:
            self.worst_status = ComponentStatus.OPERATIONAL
            self.firing = 0
            self.last_end = None

    def step(self) -> Step:
        self.flush(self.status)
        if self.last_at is not None:
            self.status_changed(self.status, self.last_at)
        head = ServiceHead(
            service=self.service,
            version=self.version,
            incident=self.incident,
            firing=self.firing,
            public_firing=self.public_firing,
            last_end=self.last_end,
            worst_status=self.worst_status,
            component_status=self.status,
            recent=self.recent,
            updated_at=self.updated_at,
            due_at=self.due_at if self.incident is not None or self.flap_until else None,
            hold_until=self.hold_until if self.incident is not None else None,
            flap_status=self.flap_status,
            flap_until=self.flap_until,
        )
        return Step(head=head, records=self.changed, events=self.events, applied=[])


_TICK = AlertRecord(
    fingerprint="", status=AlertState.RESOLVED, starts_at=datetime.min, alertname="time"
)
"""What `settle` is given when time, not an alert, ended a recovery hold (its name is unused:
the texts then are `monitoring`/`public_resolved`/`closed` of the whole incident)."""


def fold(
    head: ServiceHead,
    records: Mapping[str, AlertRecord],
    ranked: Iterable[AlertRecord],
    events: Sequence[AlertReceived],
    service: str,
    config: HeraldConfig,
    now: datetime,
    absent: bool = False,
    tick: Iterable[AlertRecord] | None = None,
) -> Step:
    """Fold a batch of alert events of one service, in order, into its head and the records of
    their alerts (`records`: what is stored for the batch's fingerprints). `ranked` holds the
    open incident's most relevant alerts before the batch (`most_relevant(members,
    MAX_INCIDENT_ALERTS + len(events))`, or more): the incident's shown alerts are chosen among
    them and the batch's, which is exact. The cost is the batch's, whatever the incident's size.

    One batch emits at most one IncidentOpened/IncidentUpdated per incident (coalesced: its
    snapshot is the incident after the batch), an IncidentResolved when it resolved, and a
    ComponentStatusChanged after each when the status moved; a batch of one event emits exactly
    what folding that event alone does.

    `tick`: every firing alert record of the service (read in the same atomic step as `head`):
    after the events, time passes to `now` (`_Fold.tick`: alerts reaching `publish_after`, a
    recovery hold ending), and the head's `due_at` is set exactly."""
    run = _Fold(head, records, ranked, service, config, now, absent)
    applied = [run.fold(event) for event in events]
    if tick is not None:
        run.tick(tick)
    step = run.step()
    step.applied = applied
    before = (  # a frozen head, as read (a whole ServiceState only in the in-memory store)
        head
        if type(head) is ServiceHead
        else ServiceHead.model_validate(head.model_dump(exclude={"alerts"}))
    )
    step.changed = bool(step.records or step.events) or step.head != before
    return step


def apply(
    state: ServiceState,
    event: AlertReceived,
    service: str,
    config: HeraldConfig,
    now: datetime,
    *,
    absent: bool = False,
) -> tuple[ServiceState, list[IncidentEvent]]:
    """Fold one alert event into a service's whole state (the in-memory store's step); returns
    the new state and the events to publish, in order. Returns `state` itself and no events when
    the event changes nothing."""
    key = alert_key(event.fingerprint)
    records = {key: state.alerts[key]} if key in state.alerts else {}
    members = (r for r in state.alerts.values() if state.member(r))
    step = fold(
        state,
        records,
        most_relevant(members, MAX_INCIDENT_ALERTS + 1),
        [event],
        service,
        config,
        now,
        absent,
    )
    if not step.records:
        return state, []
    alerts = {**state.alerts, **step.records}
    kept = {k: r for k, r in alerts.items() if k == key or not prunable(r, step.head, now)}
    return ServiceState(**dict(step.head), alerts=kept), step.events


def _ended(record: AlertRecord, at: datetime, kind: str) -> AlertReceived:
    """The resolve of `record` at `at`, for an alert no notification reports any more."""
    return AlertReceived(
        event_id=f"{kind}:{record.fingerprint}:{at.isoformat()}",
        occurred_at=at,
        received_at=at,
        integration=record.integration,
        fingerprint=record.fingerprint,
        status=AlertState.RESOLVED,
        labels=record.labels,
        annotations={"summary": record.summary, "description": record.description},
        starts_at=record.starts_at,
        ends_at=at,
    )


def absent_event(
    stored: AlertRecord | None, group: str, reported_at: datetime
) -> AlertReceived | None:
    """A complete notification of `group`, received at `reported_at`, did not list the alert: if
    Herald holds it as firing, last listed by that group before then, it has ended (Alertmanager
    never sends a resolve for an alert muted by a silence or an inhibition). Its resolve, to
    fold with `absent=True`; None when nothing ended."""
    if (
        stored is None
        or stored.status is not AlertState.FIRING
        or stored.group != group
        or (stored.seen_at or stored.received_at or reported_at) >= reported_at
    ):
        return None
    return _ended(stored, reported_at, "absent")


def relisted_event(stored: AlertRecord | None, report: GroupReported) -> AlertReceived | None:
    """`report` lists the alert firing while Herald holds it as resolved: its firing again, with
    the startsAt it had (its own alert event may be a JetStream duplicate of the first one).
    Folded, `supersedes` decides: after an absence it fires again, after a resolve once
    `alerts.replay_window` passed."""
    if stored is None or stored.status is not AlertState.RESOLVED:
        return None
    return AlertReceived(
        event_id=f"listed:{report.event_id}:{stored.fingerprint}",
        occurred_at=stored.starts_at,
        received_at=report.occurred_at,
        integration=report.integration,
        fingerprint=stored.fingerprint,
        status=AlertState.FIRING,
        labels=stored.labels,
        annotations={"summary": stored.summary, "description": stored.description},
        starts_at=stored.starts_at,
        group_key=report.group_key,
    )


def stale_events(
    records: Iterable[AlertRecord], now: datetime, stale_after: timedelta
) -> list[AlertReceived]:
    """The last line (`alerts.stale_after`): the resolves, to fold with `absent=True`, of the
    firing alerts no notification mentioned for that long (their group was deleted,
    Alertmanager lost them, they were muted alone in their group)."""
    horizon = now - stale_after
    out = []
    for record in records:
        last = record.seen_at or record.received_at
        if record.status is AlertState.FIRING and last is not None and last < horizon:
            out.append(_ended(record, now, "expired"))
    return out


def no_longer_reported(
    state: ServiceState,
    fingerprint: str,
    group: str,
    reported_at: datetime,
    service: str,
    config: HeraldConfig,
    now: datetime,
) -> tuple[ServiceState, list[IncidentEvent]]:
    """`absent_event` folded into a whole state."""
    ended = absent_event(state.alerts.get(alert_key(fingerprint)), group, reported_at)
    if ended is None:
        return state, []
    return apply(state, ended, service, config, now, absent=True)


def listed_again(
    state: ServiceState,
    fingerprint: str,
    report: GroupReported,
    service: str,
    config: HeraldConfig,
    now: datetime,
) -> tuple[ServiceState, list[IncidentEvent]]:
    """`relisted_event` folded into a whole state."""
    again = relisted_event(state.alerts.get(alert_key(fingerprint)), report)
    if again is None:
        return state, []
    return apply(state, again, service, config, now)


def expire(
    state: ServiceState, service: str, config: HeraldConfig, now: datetime
) -> tuple[ServiceState, list[IncidentEvent]]:
    """`stale_events` folded into a whole state."""
    events: list[IncidentEvent] = []
    for ended in stale_events(state.alerts.values(), now, config.alerts.stale_after):
        state, more = apply(state, ended, service, config, now, absent=True)
        events.extend(more)
    return state, events


def projection(state: ServiceHead) -> ServiceStatus:
    """The public view of a service (also kept in Redis for the status page to start from)."""
    return ServiceStatus(
        service=state.service,
        version=state.version,
        component_status=state.component_status,
        incident=state.incident,
        recent=state.recent,
        updated_at=state.updated_at,
    )
