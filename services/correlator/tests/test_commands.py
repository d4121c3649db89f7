"""The pure command rules (commands.py, maintenance.py): plain values, `now` a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.correlator.commands import Control, control_step, shown_status
from herald.correlator.incident import ServiceHead, fold, initial_state
from herald.shared.config import parse_config
from herald.shared.events import (
    CancelMaintenance,
    ClearComponentOverride,
    Command,
    CompleteMaintenance,
    ComponentStatus,
    ComponentStatusChanged,
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

    def __init__(self) -> None:
        self.head: ServiceHead = initial_state(SVC, T0).head
        self.control = Control()
        self.records: dict = {}

    def command(self, command: Command | None, now: datetime = T0) -> list:
        step = control_step(self.head, {}, [], self.control, command, SVC, CONFIG, now)
        if step is None:
            return []
        self.head, self.control = step.head, step.control
        return step.events

    def alert(self, now: datetime, **kw: object) -> list:
        event = make_alert(starts_at=now, **kw)  # type: ignore[arg-type]
        step = fold(self.head, self.records, [], [event], SVC, CONFIG, now)
        from herald.correlator.commands import overlay

        self.records.update(step.records)
        head, events = overlay(
            self.head, self.control, step.head, self.control, step.events, CONFIG, now
        )
        self.head = head
        return events


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
