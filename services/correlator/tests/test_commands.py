"""The pure command rules (commands.py, maintenance.py): plain values, `now` a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.correlator.commands import Control, control_step, overlay, shown_status
from herald.correlator.incident import ServiceHead, fold, initial_state
from herald.shared.config import HeraldConfig, parse_config
from herald.shared.events import (
    AlertState,
    CancelMaintenance,
    ClearComponentOverride,
    Command,
    CompleteMaintenance,
    ComponentStatus,
    ComponentStatusChanged,
    Incident,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    MaintenanceChanged,
    MaintenanceStatus,
    OpenIncident,
    PostmortemIncident,
    ResolveIncident,
    ScheduleMaintenance,
    SetComponentOverride,
    UpdateIncident,
    VerifyMaintenance,
)
from herald.shared.public_page import public_view
from services.correlator.tests.alerts import make_alert

CONFIG = parse_config(
    """
services:
  payments-api: {name: Payments API}
"""
)
SVC = "payments-api"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def base(n: int, at: datetime = T0) -> dict[str, object]:
    return {
        "event_id": f"cmd-{n}",
        "occurred_at": at,
        "idempotency_key": f"k{n}",
        "actor": "ops",
        "service": SVC,
    }


class Service:
    """One service's head and control, stepped like the stores do."""

    def __init__(self, config: HeraldConfig = CONFIG) -> None:
        self.config = config
        self.head: ServiceHead = initial_state(SVC, T0).head
        self.control = Control()
        self.records: dict = {}

    def command(self, command: Command | None, now: datetime = T0) -> list:
        step = control_step(self.head, {}, [], self.control, command, SVC, self.config, now)
        if step is None:
            return []
        self.head, self.control = step.head, step.control
        return step.events

    def alert(self, now: datetime, **kw: object) -> list:
        event = make_alert(**{"starts_at": now, **kw})  # type: ignore[arg-type]
        return self.fold([event], now)

    def tick(self, now: datetime) -> list:
        """Time passes to `now` (a recovery hold may end), as the stores' sweep steps it."""
        firing = [r for r in self.records.values() if r.status is AlertState.FIRING]
        return self.fold([], now, tick=firing)

    def fold(self, events: list, now: datetime, **kw: object) -> list:
        step = fold(self.head, self.records, [], events, SVC, self.config, now, **kw)  # type: ignore[arg-type]
        self.records.update(step.records)
        head, shown = overlay(
            self.head, self.control, step.head, self.control, step.events, self.config, now
        )
        self.head = head
        return shown


def test_an_incident_by_hand_opens_updates_resolves_and_gets_its_postmortem() -> None:
    s = Service()
    (opened,) = s.command(OpenIncident(**base(1), title="Checkout errors", body="Looking."))
    assert isinstance(opened, IncidentOpened)
    assert opened.incident.opened_by == "ops"
    inc = opened.incident.id
    (updated,) = s.command(
        UpdateIncident(**base(2), incident_id=inc, status="identified", body="Found it.")
    )
    assert isinstance(updated, IncidentUpdated)
    assert updated.incident.status is IncidentStatus.IDENTIFIED
    assert updated.incident.timeline[-1].body == "Found it."
    (resolved,) = s.command(ResolveIncident(**base(3), incident_id=inc))
    assert isinstance(resolved, IncidentResolved)
    assert s.head.incident is None
    (summary,) = s.command(PostmortemIncident(**base(4), incident_id=inc, body="Why."))
    assert isinstance(summary, IncidentResolved)
    assert summary.incident.status is IncidentStatus.POSTMORTEM
    assert summary.incident.postmortem_body == "Why."
    assert s.head.recent[0].status is IncidentStatus.POSTMORTEM
    assert [e.outcome for e in s.control.audit] == ["applied"] * 4


def test_a_retried_command_changes_nothing() -> None:
    s = Service()
    command = OpenIncident(**base(1), title="x")
    assert len(s.command(command)) == 1
    head, control = s.head, s.control
    assert s.command(command) == []
    assert (s.head, s.control) == (head, control)


def test_a_command_that_cannot_apply_is_audited_as_rejected() -> None:
    s = Service()
    s.command(OpenIncident(**base(1), title="x"))
    assert s.command(OpenIncident(**base(2), title="y")) == []
    entry = s.control.audit[-1]
    assert entry.outcome == "rejected"
    assert "is open" in entry.detail
    assert s.command(UpdateIncident(**base(3), incident_id="payments-api-1", body="?")) == []
    assert s.control.audit[-1].outcome == "rejected"


def test_an_override_wins_over_alerts_until_cleared_or_expired() -> None:
    s = Service()
    until = T0 + timedelta(hours=1)
    (changed,) = s.command(SetComponentOverride(**base(1), status="partial_outage", until=until))
    assert isinstance(changed, ComponentStatusChanged)
    assert changed.status is ComponentStatus.PARTIAL_OUTAGE
    events = s.alert(T0 + timedelta(minutes=1))  # a critical alert: major_outage by itself
    opened = next(e for e in events if isinstance(e, IncidentOpened))
    assert opened.incident.component_status is ComponentStatus.PARTIAL_OUTAGE
    assert opened.incident.paging  # alerts keep paging
    assert not any(isinstance(e, ComponentStatusChanged) for e in events)
    # it expires by itself: the alerts' status comes back
    (back,) = s.command(None, until)
    assert isinstance(back, ComponentStatusChanged)
    assert back.status is ComponentStatus.MAJOR_OUTAGE
    s.command(SetComponentOverride(**base(2), status="operational"), until)
    (cleared,) = s.command(ClearComponentOverride(**base(3)), until)
    assert isinstance(cleared, ComponentStatusChanged)
    assert cleared.status is ComponentStatus.MAJOR_OUTAGE


def window(n: int, start: datetime, end: datetime, **kw: object) -> ScheduleMaintenance:
    return ScheduleMaintenance(
        **base(n),
        maintenance_id=f"mnt-{n}",
        services=(SVC,),
        title="DB upgrade",
        starts_at=start,
        ends_at=end,
        **kw,  # type: ignore[arg-type]
    )


def test_a_window_starts_and_completes_once_at_its_times() -> None:
    s = Service()
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=40)
    (scheduled,) = s.command(window(1, start, end))
    assert isinstance(scheduled, MaintenanceChanged)
    assert s.command(None, start - timedelta(seconds=1)) == []
    started = s.command(None, start)
    assert [type(e) for e in started] == [MaintenanceChanged, ComponentStatusChanged]
    assert started[0].maintenance.status is MaintenanceStatus.IN_PROGRESS
    assert started[1].status is ComponentStatus.UNDER_MAINTENANCE
    assert s.command(None, start) == []  # a second sweep (another replica): nothing
    ended = s.command(None, end)
    assert ended[0].maintenance.status is MaintenanceStatus.COMPLETED
    assert ended[1].status is ComponentStatus.OPERATIONAL


def test_a_window_holds_pages_but_a_breakthrough_severity_shows_and_pages() -> None:
    s = Service()
    start, end = T0, T0 + timedelta(hours=1)
    s.command(window(1, start, end), start)
    warn = s.alert(
        T0 + timedelta(minutes=1),
        fingerprint="w",
        labels={"alertname": "Slow", "service": SVC, "severity": "warning"},
    )
    opened = next(e for e in warn if isinstance(e, IncidentOpened))
    assert not opened.incident.paging
    assert opened.incident.component_status is ComponentStatus.UNDER_MAINTENANCE
    assert shown_status(s.head.component_status, s.head, s.control, CONFIG, T0) is (
        ComponentStatus.UNDER_MAINTENANCE
    )
    crit = s.alert(T0 + timedelta(minutes=2), fingerprint="c")
    updated = next(e for e in crit if isinstance(e, IncidentUpdated))
    assert updated.incident.paging
    assert updated.incident.component_status is ComponentStatus.MAJOR_OUTAGE
    changed = next(e for e in crit if isinstance(e, ComponentStatusChanged))
    assert changed.status is ComponentStatus.MAJOR_OUTAGE


def test_an_incident_held_by_a_window_pages_when_the_window_ends() -> None:
    s = Service()
    s.command(window(1, T0, T0 + timedelta(hours=1)), T0)
    s.alert(
        T0 + timedelta(minutes=1),
        labels={"alertname": "Slow", "service": SVC, "severity": "warning"},
    )
    events = s.command(
        CancelMaintenance(**base(2), maintenance_id="mnt-1"), T0 + timedelta(minutes=5)
    )
    released = next(e for e in events if isinstance(e, IncidentUpdated))
    assert released.incident.paging
    assert any(isinstance(e, MaintenanceChanged) and e.maintenance.cancelled for e in events)


def test_a_window_scheduled_with_page_true_lets_its_alerts_page() -> None:
    warning = {"alertname": "Slow", "service": SVC, "severity": "warning"}
    for page, paging in ((True, True), (False, False)):
        s = Service()
        s.command(window(1, T0, T0 + timedelta(hours=1), page=page), T0)
        events = s.alert(T0 + timedelta(minutes=1), labels=warning)
        opened = next(e for e in events if isinstance(e, IncidentOpened))
        assert opened.incident.paging is paging, page
        # under maintenance on the page either way: `page` decides the paging only
        assert opened.incident.component_status is ComponentStatus.UNDER_MAINTENANCE
    s = Service()
    s.command(window(1, T0, T0 + timedelta(hours=1)), T0)  # the default: page: false
    events = s.alert(T0 + timedelta(minutes=1), labels=warning)
    assert not next(e for e in events if isinstance(e, IncidentOpened)).incident.paging


def test_an_alerts_incident_closed_by_hand_shows_closed_to_the_public() -> None:
    """An incident of alerts carries its public status (from its public alerts only); closing
    it by hand sets it too, else the page and subscribers kept reading `investigating` after
    a resolve by hand, and `resolved` after the postmortem (a second "resolved" to tell)."""
    s = Service()
    opened = next(e for e in s.alert(T0) if isinstance(e, IncidentOpened)).incident
    assert opened.public_status is IncidentStatus.INVESTIGATING
    at = T0 + timedelta(minutes=5)
    (resolved,) = s.command(ResolveIncident(**base(1), incident_id=opened.id), at)
    view = public_view(resolved.incident)
    assert (view.status, view.resolved_at) == (IncidentStatus.RESOLVED, at)
    later = T0 + timedelta(hours=1)
    (summary,) = s.command(PostmortemIncident(**base(2), incident_id=opened.id, body="Why."), later)
    view = public_view(summary.incident)
    assert (view.status, view.resolved_at) == (IncidentStatus.POSTMORTEM, at)  # ended at `at`
    assert view.timeline[-1].status is IncidentStatus.POSTMORTEM

    # resolved by its alert (publicly then too), then its postmortem: the public end stays
    s = Service()
    opened = next(e for e in s.alert(T0) if isinstance(e, IncidentOpened)).incident
    done = next(
        e for e in s.alert(T0, status="resolved") if isinstance(e, IncidentResolved)
    ).incident
    assert public_view(done).status is IncidentStatus.RESOLVED
    (summary,) = s.command(PostmortemIncident(**base(3), incident_id=opened.id, body="Why."), later)
    view = public_view(summary.incident)
    assert view.status is IncidentStatus.POSTMORTEM
    assert view.resolved_at == public_view(done).resolved_at


def verify(n: int, mid: str = "mnt-1", body: str = "") -> VerifyMaintenance:
    return VerifyMaintenance(**base(n), maintenance_id=mid, body=body)


def test_a_window_is_marked_verifying_by_hand_only_while_in_progress() -> None:
    s = Service()
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=40)
    s.command(window(1, start, end))
    assert s.command(verify(2), T0) == []  # scheduled: refused, only audited
    assert s.control.audit[-1].outcome == "rejected"
    assert "only a window in progress" in s.control.audit[-1].detail
    assert s.control.maintenances[0].status is MaintenanceStatus.SCHEDULED
    s.command(None, start)
    at = start + timedelta(minutes=5)
    (checked,) = s.command(verify(3, body="Upgrade done, checking replicas."), at)
    assert isinstance(checked, MaintenanceChanged)
    assert checked.maintenance.status is MaintenanceStatus.VERIFYING
    assert checked.maintenance.verifying_at == at
    assert checked.maintenance.verifying_body == "Upgrade done, checking replicas."
    assert s.control.audit[-1].outcome == "applied"
    # no ComponentStatusChanged above: it still shows under maintenance
    assert shown_status(s.head.component_status, s.head, s.control, CONFIG, at) is (
        ComponentStatus.UNDER_MAINTENANCE
    )
    assert s.command(verify(3), at) == []  # the same command again: nothing
    assert s.command(verify(4), at) == []  # verifying already: refused
    assert s.control.audit[-1].outcome == "rejected"
    assert s.command(None, end - timedelta(seconds=1)) == []
    ended = s.command(None, end)  # it completes by itself at its end, once
    assert [type(e) for e in ended] == [MaintenanceChanged, ComponentStatusChanged]
    assert ended[0].maintenance.status is MaintenanceStatus.COMPLETED
    assert ended[0].maintenance.verifying_at == at  # its verifying update stays
    assert ended[1].status is ComponentStatus.OPERATIONAL
    assert s.command(None, end) == []
    assert s.command(verify(5), end) == []  # completed: refused
    assert "already completed" in s.control.audit[-1].detail


def test_a_verifying_window_holds_pages_and_complete_ends_it() -> None:
    s = Service()
    s.command(window(1, T0, T0 + timedelta(hours=1)), T0)
    s.command(verify(2), T0 + timedelta(minutes=1))
    assert s.control.maintenances[0].status is MaintenanceStatus.VERIFYING
    warn = s.alert(
        T0 + timedelta(minutes=2),
        labels={"alertname": "Slow", "service": SVC, "severity": "warning"},
    )
    opened = next(e for e in warn if isinstance(e, IncidentOpened))
    assert not opened.incident.paging
    assert opened.incident.component_status is ComponentStatus.UNDER_MAINTENANCE
    events = s.command(
        CompleteMaintenance(**base(3), maintenance_id="mnt-1"), T0 + timedelta(minutes=5)
    )
    done = next(e for e in events if isinstance(e, MaintenanceChanged))
    assert done.maintenance.status is MaintenanceStatus.COMPLETED
    assert not done.maintenance.cancelled
    released = next(e for e in events if isinstance(e, IncidentUpdated))
    assert released.incident.paging  # the window is over: the held incident pages now


# -- a person's status on an incident of alerts (its public side, docs/alert-lifecycle.md P5) --

PUBLIC = """
integrations:
  alertmanager: {token: t1}
  internal: {token: t2, public: false}
services:
  payments-api: {name: Payments API}
"""
M = timedelta(minutes=1)


def alerts_incident(extra: str = "", *, internal: bool = False) -> tuple[Service, str]:
    """A service whose incident a public alert "pub" opened at T0 (and an internal "int"
    joined, if `internal`)."""
    s = Service(parse_config(PUBLIC + extra))
    s.alert(T0, fingerprint="pub")
    if internal:
        s.alert(T0 + M, fingerprint="int", integration="internal")
    assert s.head.incident is not None
    return s, s.head.incident.id


def update(s: Service, n: int, inc: str, status: str, at: datetime) -> Incident:
    (updated,) = s.command(
        UpdateIncident(**base(n, at), incident_id=inc, status=status, body=f"{status} by hand"),
        at,
    )
    assert isinstance(updated, IncidentUpdated)
    return updated.incident


def resolve(s: Service, fp: str, at: datetime, integration: str = "alertmanager") -> list:
    started = T0 if fp == "pub" else T0 + M
    return s.alert(
        at,
        fingerprint=fp,
        status="resolved",
        starts_at=started,
        ends_at=at,
        integration=integration,
    )


def shown(s: Service) -> IncidentStatus:
    assert s.head.incident is not None
    return public_view(s.head.incident).status


def test_a_status_by_hand_shows_publicly_on_an_incident_of_alerts() -> None:
    """The page, /api/v2 and subscribers read `public_status`: they kept saying
    `investigating` after `herald incident update ID --status identified`."""
    s, inc = alerts_incident()
    for n, status in enumerate(["identified", "monitoring", "investigating", "identified"]):
        incident = update(s, n, inc, status, T0 + (n + 1) * M)
        assert incident.status is IncidentStatus(status)
        view = public_view(incident)
        assert view.status is IncidentStatus(status)
        assert view.timeline[-1].status is IncidentStatus(status)
        assert view.timeline[-1].body == f"{status} by hand"
    update_body = UpdateIncident(**base(9, T0 + 9 * M), incident_id=inc, body="Still on it.")
    (told,) = s.command(update_body, T0 + 9 * M)  # a body alone changes no status
    assert public_view(told.incident).status is IncidentStatus.IDENTIFIED


def test_a_person_s_identified_stays_when_a_public_alert_joins() -> None:
    s, inc = alerts_incident()
    update(s, 1, inc, "identified", T0 + M)
    events = s.alert(T0 + 2 * M, fingerprint="more")
    assert any(isinstance(e, IncidentUpdated) for e in events)
    incident = s.head.incident
    assert incident is not None
    assert incident.alert_count == 2
    assert "HighErrorRate" in incident.timeline[-1].body  # the alert still gets its entry
    assert shown(s) is IncidentStatus.IDENTIFIED
    assert incident.status is IncidentStatus.IDENTIFIED


def test_an_incident_opened_by_hand_as_identified_stays_so_when_a_public_alert_joins() -> None:
    s = Service(parse_config(PUBLIC))
    s.command(OpenIncident(**base(1), title="Checkout", status="identified"))
    s.alert(T0 + M, fingerprint="pub")
    assert shown(s) is IncidentStatus.IDENTIFIED
    resolve(s, "pub", T0 + 2 * M)  # its only alert resolved: it resolves, as documented
    assert s.head.incident is None
    assert public_view(s.head.recent[0]).status is IncidentStatus.RESOLVED


def test_a_person_s_monitoring_goes_back_to_investigating_when_a_public_alert_joins() -> None:
    s, inc = alerts_incident()
    update(s, 1, inc, "monitoring", T0 + M)
    assert shown(s) is IncidentStatus.MONITORING
    s.alert(T0 + 2 * M, fingerprint="more")
    incident = s.head.incident
    assert incident is not None
    assert shown(s) is IncidentStatus.INVESTIGATING
    assert incident.status is IncidentStatus.INVESTIGATING


def test_identified_then_the_public_alerts_resolve_resolves_the_public_side() -> None:
    """A person's `identified` is open on the page as `investigating` is: once no public alert
    fires the public side resolves (the internal alert keeps the incident open and paged)."""
    s, inc = alerts_incident(internal=True)
    update(s, 1, inc, "identified", T0 + 2 * M)
    events = resolve(s, "pub", T0 + 3 * M)
    assert not any(isinstance(e, IncidentResolved) for e in events)
    incident = s.head.incident
    assert incident is not None
    view = public_view(incident)
    assert (view.status, view.resolved_at) == (IncidentStatus.RESOLVED, T0 + 3 * M)
    assert incident.status is IncidentStatus.IDENTIFIED  # the internal one follows the person
    # resolved publicly: a person's status now is the internal one only
    update(s, 2, inc, "monitoring", T0 + 4 * M)
    assert shown(s) is IncidentStatus.RESOLVED
    assert s.head.incident is not None
    assert s.head.incident.status is IncidentStatus.MONITORING
    # its entry is public but stamped as the public was told: no "Monitoring" after "Resolved"
    last = public_view(s.head.incident).timeline[-1]
    assert (last.body, last.status) == ("monitoring by hand", IncidentStatus.RESOLVED)
    (done,) = [
        e for e in resolve(s, "int", T0 + 5 * M, "internal") if isinstance(e, IncidentResolved)
    ]
    assert isinstance(done, IncidentResolved)
    assert public_view(done.incident).resolved_at == T0 + 3 * M  # the public end stays


def test_identified_then_the_public_alerts_resolve_holds_monitoring_first() -> None:
    s, inc = alerts_incident("public: {recovery_hold: 5m}\n", internal=True)
    update(s, 1, inc, "identified", T0 + 2 * M)
    resolve(s, "pub", T0 + 3 * M)
    assert shown(s) is IncidentStatus.MONITORING
    assert s.head.hold_until == T0 + 8 * M
    assert s.tick(T0 + 7 * M) == []
    s.tick(T0 + 8 * M)  # the hold is over, the internal alert still fires
    incident = s.head.incident
    assert incident is not None
    view = public_view(incident)
    assert (view.status, view.resolved_at) == (IncidentStatus.RESOLVED, T0 + 8 * M)
    assert incident.status is IncidentStatus.IDENTIFIED


def test_monitoring_by_hand_then_the_last_alert_resolves_resolves_the_incident() -> None:
    s, inc = alerts_incident("public: {recovery_hold: 5m}\n")
    update(s, 1, inc, "monitoring", T0 + M)
    assert s.head.hold_until is None  # a person's monitoring: no hold runs yet
    resolve(s, "pub", T0 + 2 * M)
    assert shown(s) is IncidentStatus.MONITORING
    assert s.head.hold_until == T0 + 7 * M  # the automation's hold from now on
    (done,) = [e for e in s.tick(T0 + 7 * M) if isinstance(e, IncidentResolved)]
    assert public_view(done.incident).status is IncidentStatus.RESOLVED
    assert s.head.incident is None


def test_identified_during_the_recovery_hold_ends_the_hold() -> None:
    """The hold's `monitoring` is the automation's guess; a person saying otherwise wins, and
    the incident waits for them (or for its alerts) instead of resolving when the hold ends."""
    s, inc = alerts_incident("public: {recovery_hold: 5m}\n")
    resolve(s, "pub", T0 + 2 * M)
    assert shown(s) is IncidentStatus.MONITORING
    update(s, 1, inc, "identified", T0 + 3 * M)
    assert s.head.hold_until is None
    assert shown(s) is IncidentStatus.IDENTIFIED
    assert s.tick(T0 + 7 * M) == []
    assert shown(s) is IncidentStatus.IDENTIFIED
    # monitoring by hand during a hold keeps the hold running
    s, inc = alerts_incident("public: {recovery_hold: 5m}\n")
    resolve(s, "pub", T0 + 2 * M)
    update(s, 1, inc, "monitoring", T0 + 3 * M)
    assert s.head.hold_until == T0 + 7 * M
    assert any(isinstance(e, IncidentResolved) for e in s.tick(T0 + 7 * M))
