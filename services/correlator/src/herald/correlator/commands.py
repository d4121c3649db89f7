"""What people ask of a service (herald.shared.events Command), folded into its state. Pure: no
I/O, `now` is a parameter.

Beside its head (incident.ServiceHead, the alerts' automaton) a service has a `Control`: the
component override, the maintenance windows, the command ids already applied (idempotency) and
the audit of who changed what. `apply_command` folds one command into (head, control) and returns
the incident events it makes; `tick` moves what is due by time (a window starts or ends, an
override expires); `overlay` turns the automatic component status of any step's events into the
one the page shows (override > maintenance > alerts), and holds the pages of incidents opened
during a window that does not page (maintenance.py decides both).

Rules for incidents by hand:
- `open` opens an incident with no alert (it stays open until resolved by hand; alerts that
  fire meanwhile join it). Refused while an incident is open: update that one.
- `update` changes the open incident's status and/or tells something: a timeline entry. Status
  `resolved` resolves it, `postmortem` resolves it and closes its timeline.
- `resolve` resolves the open incident whatever its alerts say (alerts still firing keep the
  component's automatic status and a new firing alert opens a new incident; a stuck alert is
  ended with `herald alert resolve`).
- `postmortem` writes the post-incident summary of a resolved incident (or resolves it first).

A response from the notifier (responses.py) is folded the same way: an acknowledgement adds an
internal entry to the open incident's timeline (refused for any other incident), a resolve
request is a `resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from herald.correlator import incident_template, maintenance, responses, timeline
from herald.correlator.incident import (
    MAX_BODY,
    MAX_TITLE,
    AlertRecord,
    ServiceHead,
    alert_key,
    clip,
    epoch_ms,
    fold,
    projection,
)
from herald.correlator.responses import AcknowledgeIncident, Order
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    AlertReceived,
    AlertState,
    CancelMaintenance,
    ClearComponentOverride,
    Command,
    CompleteMaintenance,
    ComponentOverride,
    ComponentStatus,
    ComponentStatusChanged,
    Incident,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    MaintenanceChanged,
    MaintenanceStatus,
    MaintenanceWindow,
    OpenIncident,
    PostmortemIncident,
    ResolveAlert,
    ResolveIncident,
    ScheduleMaintenance,
    ServiceStatus,
    SetComponentOverride,
    UpdateIncident,
    VerifyMaintenance,
)
from herald.shared.statuses import CLOSED, impact_for

MAX_SEEN = 1000
"""Command ids remembered per service: a retry after more than this many later commands of the
same service would apply again (JetStream's 10-minute de-duplication comes first)."""
MAX_AUDIT = 200
"""Audit entries kept per service (the newest)."""


class AuditEntry(BaseModel):
    """Who changed what, when (one command as one service applied it)."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    kind: str
    actor: str
    requested_at: datetime
    applied_at: datetime
    service: str
    outcome: Literal["applied", "rejected"]
    detail: str
    """What changed, or why nothing did."""
    target: str = ""
    """The incident, maintenance or alert it was about."""


class Control(BaseModel):
    """What people set on one service (stored beside its head, `herald:{svc}:control`)."""

    model_config = ConfigDict(frozen=True)

    override: ComponentOverride | None = None
    maintenances: tuple[MaintenanceWindow, ...] = ()
    seen: tuple[str, ...] = ()
    """Ids of the commands applied, oldest first (at most MAX_SEEN)."""
    audit: tuple[AuditEntry, ...] = ()
    """Oldest first (at most MAX_AUDIT)."""

    def entry(self, cmd_id: str) -> AuditEntry | None:
        return next((e for e in self.audit if e.command_id == cmd_id), None)


@dataclass
class Outcome:
    """One service's state after a command (or a tick), with what to publish."""

    head: ServiceHead
    control: Control
    events: list[IncidentEvent] = field(default_factory=list)
    entry: AuditEntry | None = None


class _Versions:
    def __init__(self, service: str, version: int, now: datetime) -> None:
        self.service = service
        self.version = version
        self.now = now

    def next(self) -> tuple[int, str]:
        self.version = max(self.version + 1, epoch_ms(self.now))
        return self.version, f"{self.service}:{self.version}"


def resolve_event(record: AlertRecord, command: ResolveAlert, now: datetime) -> AlertReceived:
    """The resolve, at `now`, of an alert a person ended by hand (its own resolve was lost)."""
    return AlertReceived(
        event_id=f"manual:{command.event_id}:{record.fingerprint}",
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


def _told(incident: Incident, at: datetime, body: str) -> Incident:
    return timeline.told(incident, at, body)


def _resolved(head: ServiceHead, incident: Incident, body: str, now: datetime) -> Incident:
    closed = incident.model_copy(
        update={
            "status": IncidentStatus.RESOLVED,
            "component_status": head.worst_status,
            "resolved_at": now,
            "updated_at": now,
        }
        | _public(incident, IncidentStatus.RESOLVED, now)
    )
    return _told(closed, now, body)


def _public(incident: Incident, status: IncidentStatus, now: datetime) -> dict[str, object]:
    """The public status of an incident closed by hand (resolved, its postmortem written):
    `status` too. An incident whose public alerts set one (`public_status`, which the public
    page and subscribers read) would otherwise keep showing it: `investigating` once resolved
    by hand, `resolved` once its postmortem is written. The public end stays when it had
    one (its public alerts resolved first)."""
    if incident.public_status is None:
        return {}
    already = incident.public_status in CLOSED
    return {
        "public_status": status,
        "public_resolved_at": incident.public_resolved_at if already else now,
    }


def _publicly(incident: Incident, status: IncidentStatus | None) -> dict[str, object]:
    """The public status of an open incident a person sets `status` on (investigating,
    identified, monitoring): `status` too while its public side is open. An incident of alerts
    carries its own (`public_status`, which the page, the API and subscribers read): without
    this they kept saying `investigating` after `--status identified`. Once its public alerts
    resolved (only internal ones fire) the public was told it is over: that stays, and the
    person's status is the internal one. The automation then treats the person's status as it
    treats its own (incident.py `settle`, `join_incident`, docs/alert-lifecycle.md P6)."""
    if status is None or incident.public_status is None:
        return {}  # no status given, or readers see `status` itself
    if incident.public_status in CLOSED:
        return {}
    return {"public_status": status}


def _without_incident(head: ServiceHead, recent: tuple[Incident, ...], v: int) -> ServiceHead:
    return head.model_copy(
        update={
            "incident": None,
            "firing": 0,
            "last_end": None,
            "worst_status": ComponentStatus.OPERATIONAL,
            "recent": recent,
            "version": v,
        }
    )


def _find(head: ServiceHead, incident_id: str) -> tuple[Incident | None, bool]:
    """The incident and whether it is the open one."""
    if head.incident is not None and head.incident.id == incident_id:
        return head.incident, True
    return next((i for i in head.recent if i.id == incident_id), None), False


class Rejected(Exception):
    """The command cannot apply (the audit says why)."""


def _templated(
    name: str,
    config: HeraldConfig,
    service: str,
    incident: Incident | None,
    title: str,
    status: IncidentStatus,
    now: datetime,
) -> str:
    """The body of the `incident_templates:` entry `name` for this incident (clipped)."""
    chosen = config.incident_templates.get(name)
    if chosen is None:
        raise Rejected(f"no incident template {name!r} (incident_templates in herald.yaml)")
    given = incident_template.values(config, service, incident, title, status, now)
    return clip(incident_template.render(chosen, **given), MAX_BODY)


def _incident_command(
    cmd: Command, head: ServiceHead, service: str, config: HeraldConfig, vs: _Versions
) -> tuple[ServiceHead, list[IncidentEvent], str, str]:
    now = vs.now
    history = config.page.history_size
    if isinstance(cmd, OpenIncident):
        if head.incident is not None:
            raise Rejected(f"incident {head.incident.id} is open: update it instead")
        if cmd.template is not None:
            text = _templated(cmd.template, config, service, None, cmd.title, cmd.status, now)
            cmd = cmd.model_copy(update={"body": text})
        v, eid = vs.next()
        opened = Incident(
            id=f"{service}-{v}",
            service=service,
            title=clip(cmd.title, MAX_TITLE),
            body=clip(cmd.body, MAX_BODY),
            status=cmd.status,
            impact=impact_for(head.component_status),
            component_status=head.component_status,
            started_at=now,
            updated_at=now,
            public=cmd.public,
            opened_by=cmd.actor,
        )
        opened = _told(opened, now, cmd.body or cmd.title)
        new = head.model_copy(
            update={
                "incident": opened,
                "firing": 0,
                "last_end": None,
                "worst_status": head.component_status,
                "version": v,
                "updated_at": now,
            }
        )
        return (
            new,
            [
                IncidentOpened(
                    event_id=eid, occurred_at=now, service=service, version=v, incident=opened
                )
            ],
            opened.id,
            f"opened {opened.id}",
        )
    assert isinstance(cmd, UpdateIncident | ResolveIncident | PostmortemIncident)
    incident, is_open = _find(head, cmd.incident_id)
    if incident is None:
        raise Rejected(f"no incident {cmd.incident_id} (open or among the recent ones)")
    if isinstance(cmd, UpdateIncident) and cmd.template is not None:
        chosen = config.incident_templates.get(cmd.template)
        given = cmd.status or (chosen.status if chosen is not None else None) or incident.status
        text = _templated(cmd.template, config, service, incident, incident.title, given, now)
        cmd = cmd.model_copy(update={"body": text, "status": given})
    status = (
        IncidentStatus.RESOLVED
        if isinstance(cmd, ResolveIncident)
        else IncidentStatus.POSTMORTEM
        if isinstance(cmd, PostmortemIncident)
        else cmd.status
    )
    events: list[IncidentEvent] = []
    if is_open and status in CLOSED:
        v, eid = vs.next()
        body = cmd.body if status is IncidentStatus.RESOLVED else ""
        done = _resolved(head, incident, body or f"Resolved by {cmd.actor}.", now)
        head = _without_incident(head, (done, *head.recent)[:history], v)
        events.append(
            IncidentResolved(
                event_id=eid, occurred_at=now, service=service, version=v, incident=done
            )
        )
        if status is IncidentStatus.RESOLVED:
            return head, events, done.id, f"resolved {done.id}"
        incident, is_open = done, False
    if is_open:
        v, eid = vs.next()
        changed = incident.model_copy(
            update={"status": status or incident.status, "updated_at": now}
            | _publicly(incident, status)
        )
        closed = changed.public_status in CLOSED
        changed = timeline.told(
            changed,
            now,
            cmd.body or f"Status: {changed.status.value}.",
            # resolved publicly (only internal alerts fire): the entry says what the public
            # was told, never an open status after "Resolved"
            status=changed.public_status if closed else None,
        )
        hold = head.hold_until
        if changed.public_status is not IncidentStatus.MONITORING:
            hold = None  # the person's word replaces the automatic `monitoring`
        head = head.model_copy(
            update={"incident": changed, "version": v, "updated_at": now, "hold_until": hold}
        )
        events.append(
            IncidentUpdated(
                event_id=eid, occurred_at=now, service=service, version=v, incident=changed
            )
        )
        return head, events, changed.id, f"updated {changed.id} ({changed.status.value})"
    if status is not IncidentStatus.POSTMORTEM:
        raise Rejected(
            f"incident {incident.id} is {incident.status.value}: only a postmortem can follow"
        )
    if incident.status is IncidentStatus.POSTMORTEM:
        raise Rejected(f"incident {incident.id} already has its postmortem")
    v, eid = vs.next()
    summary = incident.model_copy(
        update={
            "status": IncidentStatus.POSTMORTEM,
            "updated_at": now,
            "postmortem_body": clip(cmd.body, MAX_BODY),
        }
        | _public(incident, IncidentStatus.POSTMORTEM, now)
    )
    summary = _told(summary, now, cmd.body)
    recent = tuple(summary if i.id == incident.id else i for i in head.recent)
    head = head.model_copy(update={"recent": recent, "version": v, "updated_at": now})
    events.append(
        IncidentResolved(
            event_id=eid, occurred_at=now, service=service, version=v, incident=summary
        )
    )
    return head, events, summary.id, f"postmortem of {summary.id}"


def _acknowledge(
    cmd: AcknowledgeIncident, head: ServiceHead, service: str, vs: _Versions
) -> tuple[ServiceHead, list[IncidentEvent], str, str]:
    """An internal entry on the open incident (its status and public face stay as they are)."""
    incident = head.incident
    if incident is None or incident.id != cmd.incident_id:
        raise Rejected(f"incident {cmd.incident_id} is not open: nothing to acknowledge")
    v, eid = vs.next()
    told = timeline.told(incident, vs.now, responses.acknowledged(cmd.actor), public=False)
    head = head.model_copy(update={"incident": told, "version": v, "updated_at": vs.now})
    event = IncidentUpdated(
        event_id=eid, occurred_at=vs.now, service=service, version=v, incident=told
    )
    return head, [event], told.id, f"acknowledged {told.id}"


def _control_command(
    cmd: Command, control: Control, service: str, now: datetime
) -> tuple[Control, list[MaintenanceWindow], str, str]:
    """A command on the override or the windows: the new control, the windows it changed."""
    if isinstance(cmd, SetComponentOverride):
        if cmd.until is not None and cmd.until <= now:
            raise Rejected(f"--until {cmd.until.isoformat()} is already past")
        override = ComponentOverride(
            status=cmd.status, reason=cmd.reason, until=cmd.until, set_by=cmd.actor, set_at=now
        )
        until = f" until {cmd.until.isoformat()}" if cmd.until else ""
        return (
            control.model_copy(update={"override": override}),
            [],
            service,
            (f"component set to {cmd.status.value}{until}"),
        )
    if isinstance(cmd, ClearComponentOverride):
        if control.override is None:
            raise Rejected("no override is set")
        return control.model_copy(update={"override": None}), [], service, "override cleared"
    if isinstance(cmd, ScheduleMaintenance):
        if any(w.id == cmd.maintenance_id for w in control.maintenances):
            raise Rejected(f"maintenance {cmd.maintenance_id} exists")
        window = MaintenanceWindow(
            id=cmd.maintenance_id,
            title=clip(cmd.title, MAX_TITLE),
            body=clip(cmd.body, MAX_BODY),
            services=cmd.services,
            starts_at=cmd.starts_at,
            ends_at=cmd.ends_at,
            page=cmd.page,
            created_at=now,
            updated_at=now,
            created_by=cmd.actor,
        )
        windows = maintenance.kept((*control.maintenances, window))
        return (
            control.model_copy(update={"maintenances": windows}),
            [window],
            window.id,
            (f"maintenance scheduled {cmd.starts_at.isoformat()} to {cmd.ends_at.isoformat()}"),
        )
    assert isinstance(cmd, CancelMaintenance | CompleteMaintenance | VerifyMaintenance)
    window_ = next((w for w in control.maintenances if w.id == cmd.maintenance_id), None)
    if window_ is None:
        raise Rejected(f"no maintenance {cmd.maintenance_id}")
    if window_.status is MaintenanceStatus.COMPLETED:
        raise Rejected(f"maintenance {window_.id} is already completed")
    if isinstance(cmd, VerifyMaintenance):
        if window_.status is not MaintenanceStatus.IN_PROGRESS:
            raise Rejected(
                f"maintenance {window_.id} is {window_.status.value}: only a window in "
                "progress can be marked verifying"
            )
        checked = maintenance.verifying(window_, now, clip(cmd.body, MAX_BODY))
        windows = tuple(checked if w.id == checked.id else w for w in control.maintenances)
        return (
            control.model_copy(update={"maintenances": windows}),
            [checked],
            checked.id,
            "maintenance verifying",
        )
    done = maintenance.completed(window_, now, cancelled=isinstance(cmd, CancelMaintenance))
    windows = tuple(done if w.id == done.id else w for w in control.maintenances)
    what = "cancelled" if done.cancelled else "completed"
    return (
        control.model_copy(update={"maintenances": windows}),
        [done],
        done.id,
        (f"maintenance {what}"),
    )


def _remember(control: Control, entry: AuditEntry) -> Control:
    return control.model_copy(
        update={
            "seen": (*control.seen, entry.command_id)[-MAX_SEEN:],
            "audit": (*control.audit, entry)[-MAX_AUDIT:],
        }
    )


def _maintenance_events(
    windows: list[MaintenanceWindow], service: str, vs: _Versions
) -> list[IncidentEvent]:
    out: list[IncidentEvent] = []
    for w in windows:
        v, eid = vs.next()
        out.append(
            MaintenanceChanged(
                event_id=eid, occurred_at=vs.now, service=service, version=v, maintenance=w
            )
        )
    return out


def apply_command(
    head: ServiceHead,
    control: Control,
    command: Order,
    service: str,
    config: HeraldConfig,
    now: datetime,
    *,
    alert_found: bool = True,
) -> Outcome:
    """Fold one command into a service. A command whose id was seen changes nothing (its audit
    entry says what it did). A rejected one changes only the audit. `alert_found`: for
    ResolveAlert, whether the alert was firing (the store folded its resolve before)."""
    if command.event_id in control.seen:
        return Outcome(head, control, [], control.entry(command.event_id))
    vs = _Versions(service, head.version, now)
    events: list[IncidentEvent] = []
    target = ""
    try:
        if isinstance(command, ResolveAlert):
            target = command.fingerprint
            if not alert_found:
                raise Rejected(f"alert {command.fingerprint} is not firing here")
            detail = f"alert {command.fingerprint} resolved by hand"
        elif isinstance(
            command, OpenIncident | UpdateIncident | ResolveIncident | PostmortemIncident
        ):
            head, events, target, detail = _incident_command(command, head, service, config, vs)
        elif isinstance(command, AcknowledgeIncident):
            head, events, target, detail = _acknowledge(command, head, service, vs)
        else:
            control, windows, target, detail = _control_command(command, control, service, now)
            events = _maintenance_events(windows, service, vs)
        outcome: Literal["applied", "rejected"] = "applied"
    except Rejected as why:
        detail, outcome = str(why), "rejected"
        target = (
            target or getattr(command, "incident_id", "") or getattr(command, "maintenance_id", "")
        )
    entry = AuditEntry(
        command_id=command.event_id,
        kind=command.kind,
        actor=command.actor,
        requested_at=command.occurred_at,
        applied_at=now,
        service=service,
        outcome=outcome,
        detail=detail,
        target=target,
    )
    head = head.model_copy(update={"version": max(head.version, vs.version)})
    return Outcome(head, _remember(control, entry), events, entry)


def tick(head: ServiceHead, control: Control, service: str, now: datetime) -> Outcome:
    """What is due by `now`: windows start and end, an expired override goes."""
    vs = _Versions(service, head.version, now)
    windows, changed = maintenance.advance(control.maintenances, now)
    override = control.override
    if override is not None and override.until is not None and override.until <= now:
        override = None
    new = control.model_copy(update={"maintenances": windows, "override": override})
    events = _maintenance_events(changed, service, vs)
    return Outcome(head.model_copy(update={"version": vs.version}), new, events)


def due(control: Control, now: datetime) -> bool:
    """Whether `tick` would change anything now."""
    o = control.override
    return (o is not None and o.until is not None and o.until <= now) or bool(
        maintenance.advance(control.maintenances, now)[1]
    )


def next_due(control: Control) -> datetime | None:
    """When `tick` will next change something."""
    times = [t for t in (maintenance.next_change(w) for w in control.maintenances) if t]
    if control.override is not None and control.override.until is not None:
        times.append(control.override.until)
    return min(times) if times else None


# -- what the page shows -------------------------------------------------------------------


def shown_status(
    auto: ComponentStatus,
    head: ServiceHead,
    control: Control,
    config: HeraldConfig,
    now: datetime | None,
) -> ComponentStatus:
    """The component status the page shows: the override while it holds (`now` None: while it
    is set, expired or not: what was last shown), else `under_maintenance` during a window
    unless a breakthrough alert fires, else `auto`."""
    o = control.override
    if o is not None and (o.until is None or now is None or o.until > now):
        return o.status
    if maintenance.hides(control.maintenances, head, config):
        return ComponentStatus.UNDER_MAINTENANCE
    return auto


def _shown_incident(
    incident: Incident, head: ServiceHead, control: Control, config: HeraldConfig, now: datetime
) -> Incident:
    update: dict[str, object] = {}
    if incident.status not in CLOSED:
        update["component_status"] = shown_status(
            incident.component_status, head, control, config, now
        )
        update["paging"] = not maintenance.holds_pages(control.maintenances, head, config)
    return incident.model_copy(update=update) if update else incident


def overlay(
    before: ServiceHead,
    before_control: Control,
    after: ServiceHead,
    control: Control,
    events: list[IncidentEvent],
    config: HeraldConfig,
    now: datetime,
) -> tuple[ServiceHead, list[IncidentEvent]]:
    """The events of a step as the page and the notifier must see them: component statuses as
    `shown_status` makes them (a change nobody sees is dropped, one only the control made is
    added), open incidents with their `paging` held or not; an open incident whose pages were
    held and are no longer (the window ended) is sent again, so it pages now. Returns the head
    (its version covers the added events) and the events."""
    vs = _Versions(after.service, after.version, now)
    shown = shown_status(before.component_status, before, before_control, config, None)
    out: list[IncidentEvent] = []
    incident_sent = False
    for event in events:
        if isinstance(event, ComponentStatusChanged):
            status = shown_status(event.status, after, control, config, now)
            if status == shown:
                continue
            out.append(event.model_copy(update={"status": status, "previous_status": shown}))
            shown = status
        elif isinstance(event, IncidentOpened | IncidentUpdated):
            incident_sent = True
            out.append(
                event.model_copy(
                    update={
                        "incident": _shown_incident(event.incident, after, control, config, now)
                    }
                )
            )
        else:
            out.append(event)
    held_before = maintenance.holds_pages(before_control.maintenances, before, config)
    held_after = maintenance.holds_pages(control.maintenances, after, config)
    if after.incident is not None and not incident_sent and held_before and not held_after:
        v, eid = vs.next()
        out.append(
            IncidentUpdated(
                event_id=eid,
                occurred_at=now,
                service=after.service,
                version=v,
                incident=_shown_incident(after.incident, after, control, config, now),
            )
        )
    final = shown_status(after.component_status, after, control, config, now)
    if final != shown:
        v, eid = vs.next()
        out.append(
            ComponentStatusChanged(
                event_id=eid,
                occurred_at=now,
                service=after.service,
                version=v,
                status=final,
                previous_status=shown,
            )
        )
    return after.model_copy(update={"version": vs.version}), out


def shown_projection(
    head: ServiceHead, control: Control, config: HeraldConfig, now: datetime
) -> ServiceStatus:
    """The ServiceStatus snapshot the page starts from (incident.projection, as shown)."""
    o = control.override
    base = projection(head)
    return base.model_copy(
        update={
            "component_status": shown_status(head.component_status, head, control, config, now),
            "incident": None
            if head.incident is None
            else _shown_incident(head.incident, head, control, config, now),
            "override": o if o is not None and (o.until is None or o.until > now) else None,
            "maintenances": control.maintenances,
        }
    )


@dataclass
class ControlStep:
    """What one command (or tick) step of a service stores."""

    head: ServiceHead
    control: Control
    records: dict[str, AlertRecord]
    """Alert records it changed (a ResolveAlert's)."""
    events: list[IncidentEvent]
    entry: AuditEntry | None


def control_step(
    head: ServiceHead,
    records: dict[str, AlertRecord],
    ranked: list[AlertRecord],
    control: Control,
    command: Order | None,
    service: str,
    config: HeraldConfig,
    now: datetime,
) -> ControlStep | None:
    """One atomic step of a service for a command (None: a tick): the command (a ResolveAlert
    folds the alert's resolve through the alerts' own rules), then what is due by `now`, then
    the overlay. None when nothing changes (a command already applied, or nothing due)."""
    if command is not None and command.event_id in control.seen:
        return None
    before_head, before_control = head, control
    changed: dict[str, AlertRecord] = {}
    events: list[IncidentEvent] = []
    found = True
    if isinstance(command, ResolveAlert):
        record = records.get(alert_key(command.fingerprint))
        if record is None or record.status is not AlertState.FIRING:
            found = False
        else:
            step = fold(
                head, records, ranked, [resolve_event(record, command, now)], service, config, now
            )
            head, changed, events = step.head, step.records, list(step.events)
    entry = None
    if command is not None:
        applied = apply_command(head, control, command, service, config, now, alert_found=found)
        head, control, entry = applied.head, applied.control, applied.entry
        events += applied.events
    ticked = tick(head, control, service, now)  # after: a window scheduled to start now does
    head, control = ticked.head, ticked.control
    events += ticked.events
    if command is None and control == before_control and not events:
        return None
    head, shown = overlay(before_head, before_control, head, control, events, config, now)
    return ControlStep(head, control, changed, shown, entry)
