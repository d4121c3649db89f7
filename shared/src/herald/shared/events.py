"""Event contracts exchanged over NATS JetStream.

Every event is a frozen pydantic model with an `event_id`, an `occurred_at` and a
`kind` literal; the union of all kinds is discriminated on `kind`. Adding a field
is fine; a breaking change is a new `kind`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Contract(BaseModel):
    """Base of every contract model: immutable, unknown fields ignored (forward compatible)."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)


class AlertState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class ComponentStatus(StrEnum):
    """Atlassian Statuspage v2 component statuses, best first."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


class IncidentStatus(StrEnum):
    """Atlassian Statuspage v2 incident statuses."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"


class Impact(StrEnum):
    """Atlassian Statuspage v2 incident impact (also the page status indicator)."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class AlertReceived(Contract):
    """One alert of an Alertmanager notification, normalized by ingest."""

    kind: Literal["alert.received"] = "alert.received"
    event_id: str
    """Identity of this alert event: derived from (integration, fingerprint, status, startsAt)."""
    occurred_at: datetime
    """Event time: `startsAt` for a firing alert, `endsAt` for a resolved one."""
    received_at: datetime
    """Arrival time at ingest (informational only; ordering uses event time)."""
    integration: str
    """Id of the inbound integration (from the config) that received it."""
    fingerprint: str
    """Alertmanager's fingerprint of the label set."""
    status: AlertState
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    """None for a firing alert without an end (Alertmanager sends 0001-01-01T00:00:00Z)."""
    generator_url: str = ""
    receiver: str = ""
    group_key: str = ""
    external_url: str = ""


class GroupReported(Contract):
    """One Alertmanager notification as a whole: every alert its aggregation group listed.

    Published by ingest after the notification's alerts were stored. Alertmanager never sends
    a resolve for an alert muted by a silence or an inhibition, but every notification lists the
    group's whole active set: an alert Herald holds as firing that a later complete report of
    the group it was last listed in does not list is no longer firing
    (docs/alert-lifecycle.md)."""

    kind: Literal["group.reported"] = "group.reported"
    event_id: str
    """Identity of this report: derived from (integration, groupKey, arrival time)."""
    occurred_at: datetime
    """Arrival time at ingest (the same as the `received_at` of its alerts)."""
    integration: str
    group_key: str
    """The notification's groupKey, as its alert events carry it (clipped the same way)."""
    fingerprints: tuple[str, ...]
    """Every alert the notification listed, firing or resolved."""
    firing: tuple[str, ...] = ()
    """Those of `fingerprints` listed as firing. An alert listed firing again with its old
    startsAt (a silence expired, an inhibition lifted, Alertmanager re-fired what it timed out)
    repeats an alert event JetStream may already hold, and de-duplicates: the report says it."""
    truncated_alerts: int = 0
    """Alerts the sender left out (receiver max_alerts): the report is then incomplete and
    says nothing about absent alerts."""

    @property
    def complete(self) -> bool:
        return self.truncated_alerts == 0


AlertStreamEvent = Annotated[AlertReceived | GroupReported, Field(discriminator="kind")]
"""Everything published on the ALERTS stream."""

ALERT_STREAM_ADAPTER: TypeAdapter[AlertStreamEvent] = TypeAdapter(AlertStreamEvent)


class TimelineEntry(Contract):
    """One update of an incident's story (Statuspage's `incident_updates`)."""

    at: datetime
    status: IncidentStatus
    """The incident's status after this update."""
    body: str
    """What happened, in words (at most 1024 characters; alert-derived parts are untrusted text)."""
    component_status: ComponentStatus | None = None
    """The component's status after this update, when it changed."""
    previous_status: ComponentStatus | None = None
    """The component's status before this update, when it changed."""
    public: bool = True
    """False for an update only the on-call may read (about an internal alert, or one not yet
    published): the public page leaves it out."""


class AlertSummary(Contract):
    """An alert as part of an incident."""

    fingerprint: str
    alertname: str
    """The `alertname` label (untrusted text, at most 300 characters)."""
    severity: str | None = None
    status: AlertState
    starts_at: datetime
    ends_at: datetime | None = None
    summary: str = ""
    """The alert's `summary` annotation (untrusted text, at most 300 characters)."""
    integration: str = ""
    """Id of the inbound integration it came through: an alert's identity is (integration,
    fingerprint), so the same label set from two integrations is two alerts. Empty in events
    from before this field existed."""
    generator_url: str = ""
    """The alert's `generatorURL` (the rule's graph in Prometheus; untrusted text)."""
    runbook_url: str = ""
    """The alert's `runbook_url` annotation, if any (untrusted text)."""


MAX_INCIDENT_LABELS = 32
"""Labels an incident snapshot carries at most (`Incident.labels`)."""
MAX_INCIDENT_LABEL_CHARS = 4096
"""Characters of an incident's labels, names and values together, at most: with the other
bounds of an incident (title, body, 50 alert summaries, 20 timeline entries) an incident event
stays far below the INCIDENTS stream's `max_msg_size`."""


class Incident(Contract):
    """Snapshot of one incident of one status-page service."""

    id: str
    service: str
    """Id of the status-page service (the config's key)."""
    title: str
    """From the `summary` annotation of the opening alert, else its alertname (untrusted text,
    at most 300 characters)."""
    body: str
    """From the `description` annotation (untrusted text, at most 8192 characters)."""
    status: IncidentStatus
    impact: Impact
    """The worst impact seen while the incident was open."""
    component_status: ComponentStatus
    """While the incident is open: the component's current status. Once resolved: the worst
    status the component had while the incident was open (the component itself is back to
    whatever its remaining alerts say, usually `operational`; see ComponentStatusChanged)."""
    started_at: datetime
    """The earliest `startsAt` of its alerts (event time, whatever the arrival order)."""
    updated_at: datetime
    resolved_at: datetime | None = None
    """Once resolved: the latest `endsAt` of its alerts (event time, whatever the arrival order)."""
    alerts: tuple[AlertSummary, ...] = ()
    """At most 50 of its alerts (firing ones first, then the most recent), in the order they
    joined; `alert_count` says how many it has in all. Bounded so that an incident event always
    fits a NATS message."""
    alert_count: int = 0
    """How many alerts (firing and resolved) the incident has in all, `alerts` carrying at most
    50 of them. 0 in events from before this field existed: count `alerts` then."""
    public: bool = True
    """False while every alert of the incident came through a `public: false` integration:
    on-call is paged, but the public page neither shows it nor changes for it."""
    timeline: tuple[TimelineEntry, ...] = ()
    """The incident's updates, oldest first: the first one and the latest 19 (bounded, so
    that an incident event always fits a NATS message)."""
    public_status: IncidentStatus | None = None
    """The incident's status on the public page, from its public alerts only: `resolved` once
    none of them fires (the incident may stay open, and paged, for internal alerts),
    `monitoring` during `recovery_hold`. None: the same as `status` (events from before this
    field)."""
    public_resolved_at: datetime | None = None
    """When it resolved on the public page (set with `public_status` = resolved)."""
    paging: bool = True
    """False while a maintenance window of its service holds its pages (the window's `page`
    is false and none of its firing alerts has a breakthrough severity): the notifier pages
    nobody for it until an update says True again (docs/operations.md)."""
    opened_by: str | None = None
    """The admin token that opened it by hand (`herald incident open`); None: an alert did."""
    postmortem_body: str = ""
    """The post-incident summary (`herald incident postmortem`, at most 8192 characters)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """The labels every alert of the incident carries, with the same value (untrusted text):
    what a team label selects the escalation policy by (`escalation.by_label`). Bounded: at most
    `MAX_INCIDENT_LABELS` labels of at most `MAX_INCIDENT_LABEL_CHARS` characters in all (names
    and values), the rest left out by name order (never clipped: a clipped value would select
    by a value no alert has). Empty for an incident opened by hand and in events from before
    this field existed."""


class MaintenanceStatus(StrEnum):
    """Atlassian Statuspage v2 scheduled-maintenance statuses."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


class MaintenanceWindow(Contract):
    """One scheduled maintenance of one or several services (as one service holds it)."""

    id: str
    title: str
    body: str = ""
    services: tuple[str, ...]
    """Every service it covers (each holds its own copy)."""
    status: MaintenanceStatus = MaintenanceStatus.SCHEDULED
    starts_at: datetime
    """Statuspage's `scheduled_for`: it starts by itself then."""
    ends_at: datetime
    """Statuspage's `scheduled_until`: it completes by itself then."""
    page: bool = False
    """Whether alerts of its services page while it is in progress (breakthrough severities
    always do)."""
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    verifying_at: datetime | None = None
    """When `herald maintenance verify` marked it verifying (Statuspage's state after
    in_progress: the work is done and being checked). It still shows `under_maintenance`, still
    holds pages, and completes at its end or by `complete`."""
    verifying_body: str = ""
    """What the verify said (its update on the page); empty: a default sentence."""
    completed_at: datetime | None = None
    cancelled: bool = False
    """Completed by `cancel` (before or while it ran) rather than by its end or `complete`."""
    created_by: str = ""
    """The admin token that scheduled it."""


class ComponentOverride(Contract):
    """A component status set by hand: automation never overwrites it until it is cleared or
    `until` passes; alerts keep paging."""

    status: ComponentStatus
    reason: str = ""
    until: datetime | None = None
    set_by: str
    set_at: datetime


class ServiceStatus(Contract):
    """What the public page knows about one service: the correlator's projection, also in Redis."""

    service: str
    version: int = 0
    """Incremented on every change; an event or snapshot with a lower version is stale."""
    component_status: ComponentStatus = ComponentStatus.OPERATIONAL
    incident: Incident | None = None
    """The open incident, if any."""
    recent: tuple[Incident, ...] = ()
    """Recently resolved incidents, newest first."""
    updated_at: datetime | None = None
    override: ComponentOverride | None = None
    """The component status set by hand, while it holds (`component_status` shows it)."""
    maintenances: tuple[MaintenanceWindow, ...] = ()
    """The service's maintenance windows: scheduled, in progress, and the latest completed."""


class _ServiceEvent(Contract):
    event_id: str
    occurred_at: datetime
    service: str
    version: int
    """The service's version after this event (see ServiceStatus.version)."""


class IncidentOpened(_ServiceEvent):
    kind: Literal["incident.opened"] = "incident.opened"
    incident: Incident
    received_at: datetime | None = None
    """When ingest received the alert that opened it (for the paging latency); None in events
    from before this field existed."""


class IncidentUpdated(_ServiceEvent):
    kind: Literal["incident.updated"] = "incident.updated"
    incident: Incident


class IncidentResolved(_ServiceEvent):
    kind: Literal["incident.resolved"] = "incident.resolved"
    incident: Incident


class ComponentStatusChanged(_ServiceEvent):
    kind: Literal["component.status_changed"] = "component.status_changed"
    status: ComponentStatus
    previous_status: ComponentStatus


class MaintenanceChanged(_ServiceEvent):
    """A maintenance window of the service was scheduled, started, completed or cancelled."""

    kind: Literal["maintenance.changed"] = "maintenance.changed"
    maintenance: MaintenanceWindow


IncidentEvent = Annotated[
    IncidentOpened
    | IncidentUpdated
    | IncidentResolved
    | ComponentStatusChanged
    | MaintenanceChanged,
    Field(discriminator="kind"),
]
"""Everything published on the INCIDENTS stream."""

INCIDENT_EVENT_ADAPTER: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)

INCIDENT_EVENT_NAMES: dict[str, str] = {
    "incident.opened": "opened",
    "incident.updated": "updated",
    "incident.resolved": "resolved",
    "component.status_changed": "component",
    "maintenance.changed": "maintenance",
}
"""The last subject token for each incident-event kind."""


class Responder(Contract):
    """Who acted on an incident from the notifier (an acknowledge link, the API, the CLI)."""

    via: Literal["link", "api"]
    """How: a signed link from a page, or the API with a token (`herald ack`)."""
    user: str | None = None
    """The user id the link was sent to (None for the API or a channel target's link)."""
    client: str | None = None
    """The name of the API token it came with (`notifier.api_tokens`), for the API; None for a
    link or an unnamed token."""


class IncidentAcknowledged(Contract):
    """Someone acknowledged an incident: its escalation stopped (until its ack timeout).
    Published by the notifier on `responses.{service}.acknowledged`; the correlator, which owns
    the incident, puts it on the incident's internal timeline ("Acknowledged by <name>.", never
    on the public page) when it is the service's open incident."""

    kind: Literal["incident.acknowledged"] = "incident.acknowledged"
    event_id: str
    occurred_at: datetime
    service: str
    incident_id: str
    responder: Responder


class IncidentResolveRequested(Contract):
    """Someone asked, through a resolve link of a page, that an incident be resolved. Published
    by the notifier on `responses.{service}.resolve_requested`: the notifier stops the
    escalation at once; the correlator resolves the incident, when it is the service's open one,
    as `herald incident resolve` does, with the responder as the actor of its audit."""

    kind: Literal["incident.resolve_requested"] = "incident.resolve_requested"
    event_id: str
    occurred_at: datetime
    service: str
    incident_id: str
    responder: Responder


ResponseEvent = Annotated[
    IncidentAcknowledged | IncidentResolveRequested, Field(discriminator="kind")
]
"""Everything published on the RESPONSES stream (people acting on incidents)."""

RESPONSE_EVENT_ADAPTER: TypeAdapter[ResponseEvent] = TypeAdapter(ResponseEvent)

RESPONSE_EVENT_NAMES: dict[str, str] = {
    "incident.acknowledged": "acknowledged",
    "incident.resolve_requested": "resolve_requested",
}
"""The last subject token for each response-event kind."""


# -- commands: what people ask of the correlator through the admin API (COMMANDS stream) -------


class _Command(Contract):
    event_id: str
    """The command id: derived from (actor, idempotency_key), so a retried request is the same
    command (JetStream de-duplicates it; the correlator remembers it per service)."""
    occurred_at: datetime
    """When the admin API accepted it."""
    idempotency_key: str
    """The client's `Idempotency-Key` (or one the API made up when none was sent)."""
    actor: str
    """The name of the admin token that sent it (`admin.tokens`)."""
    service: str | None = None
    """The service it applies to; None: the correlator finds it (the alert's route) or applies
    it to every configured service (maintenance cancel/complete/verify)."""


class OpenIncident(_Command):
    kind: Literal["command.incident.open"] = "command.incident.open"
    title: str
    body: str = ""
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    public: bool = True
    """False: `--internal`, paged but never on the public page."""
    template: str | None = None
    """The name of an `incident_templates:` entry: the correlator renders its body (with the
    incident's data) in place of `body`."""


class UpdateIncident(_Command):
    kind: Literal["command.incident.update"] = "command.incident.update"
    incident_id: str
    status: IncidentStatus | None = None
    """None: the status stays; `resolved` resolves it."""
    body: str = ""
    template: str | None = None
    """The name of an `incident_templates:` entry: the correlator renders its body (with the
    incident's data) in place of `body`."""


class ResolveIncident(_Command):
    kind: Literal["command.incident.resolve"] = "command.incident.resolve"
    incident_id: str
    body: str = ""


class PostmortemIncident(_Command):
    """The post-incident summary: status `postmortem`, which closes the timeline."""

    kind: Literal["command.incident.postmortem"] = "command.incident.postmortem"
    incident_id: str
    body: str


class SetComponentOverride(_Command):
    kind: Literal["command.component.set"] = "command.component.set"
    status: ComponentStatus
    until: datetime | None = None
    reason: str = ""


class ClearComponentOverride(_Command):
    kind: Literal["command.component.clear"] = "command.component.clear"


class ScheduleMaintenance(_Command):
    kind: Literal["command.maintenance.schedule"] = "command.maintenance.schedule"
    maintenance_id: str
    services: tuple[str, ...]
    title: str
    body: str = ""
    starts_at: datetime
    ends_at: datetime
    page: bool = False


class CancelMaintenance(_Command):
    kind: Literal["command.maintenance.cancel"] = "command.maintenance.cancel"
    maintenance_id: str


class CompleteMaintenance(_Command):
    kind: Literal["command.maintenance.complete"] = "command.maintenance.complete"
    maintenance_id: str


class VerifyMaintenance(_Command):
    """Mark a window in progress `verifying` (Statuspage's state: the work is done, being
    checked); allowed only from in_progress."""

    kind: Literal["command.maintenance.verify"] = "command.maintenance.verify"
    maintenance_id: str
    body: str = ""


class ResolveAlert(_Command):
    """End a stuck alert (its resolve was lost) by fingerprint."""

    kind: Literal["command.alert.resolve"] = "command.alert.resolve"
    fingerprint: str


Command = Annotated[
    OpenIncident
    | UpdateIncident
    | ResolveIncident
    | PostmortemIncident
    | SetComponentOverride
    | ClearComponentOverride
    | ScheduleMaintenance
    | CancelMaintenance
    | CompleteMaintenance
    | VerifyMaintenance
    | ResolveAlert,
    Field(discriminator="kind"),
]
"""Everything published on the COMMANDS stream (by the admin API, for the correlator)."""

COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
