"""The public page's own clock (docs/alert-lifecycle.md, "The public page"): public alerts
only, the public label filter, publish_after, recovery_hold, reopen_window, and the texts."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from herald.correlator.consumer import Correlator
from herald.correlator.incident import ServiceState, apply, fold
from herald.correlator.memory import MemoryStore
from herald.correlator.metrics import CorrelatorMetrics
from herald.shared.config import HeraldConfig, parse_config
from herald.shared.events import (
    AlertReceived,
    ComponentStatus,
    IncidentEvent,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
)
from services.correlator.tests.alerts import T0, make_alert

SVC = "payments-api"
BASE = """
integrations:
  alertmanager: {token: t1}
  internal: {token: t2, public: false}
services:
  payments-api: {name: Payments API}
"""


def cfg(extra: str = "") -> HeraldConfig:
    return parse_config(BASE + extra)


def ev(
    fp: str,
    status: str = "firing",
    starts_at: datetime = T0,
    *,
    ends_at: datetime | None = None,
    integration: str = "alertmanager",
    severity: str = "critical",
    **labels: str,
) -> AlertReceived:
    return make_alert(
        fp,
        status,
        starts_at,
        ends_at,
        labels={"alertname": f"Alert-{fp}", "service": SVC, "severity": severity, **labels},
        annotations={"summary": f"Summary of {fp}", "description": f"Description of {fp}"},
        integration=integration,
    )


def run(
    config: HeraldConfig,
    *events: AlertReceived,
    state: ServiceState | None = None,
    now: datetime = T0 + timedelta(hours=1),
) -> tuple[ServiceState, list[Any]]:
    st = state or ServiceState(service=SVC)
    out: list[Any] = []
    for e in events:
        st, emitted = apply(st, e, SVC, config, now)
        out.extend(emitted)
    return st, out


def tick(
    config: HeraldConfig, state: ServiceState, now: datetime
) -> tuple[ServiceState, list[Any]]:
    """Time passes to `now` (the plain-data twin of a store's `step(..., tick=True)`)."""
    members = [r for r in state.alerts.values() if state.member(r)]
    step = fold(state, {}, members, [], SVC, config, now, tick=[r for r in members])
    return ServiceState(**dict(step.head), alerts={**state.alerts, **step.records}), step.events


def kinds(events: Sequence[IncidentEvent]) -> list[str]:
    return [e.kind for e in events]


# -- public alerts only -------------------------------------------------------------------


def test_an_incident_kept_open_by_internal_alerts_is_resolved_on_the_public_page() -> None:
    config = cfg()
    state, _ = run(config, ev("pub"), ev("int", integration="internal"))
    assert state.incident is not None
    assert state.incident.public
    state, events = run(config, ev("pub", "resolved"), state=state)
    # still open (and paged) internally: no IncidentResolved for the notifier
    assert kinds(events) == ["incident.updated", "component.status_changed"]
    incident = state.incident
    assert incident is not None
    assert incident.status is IncidentStatus.INVESTIGATING
    assert incident.public_status is IncidentStatus.RESOLVED
    assert incident.public_resolved_at == T0 + timedelta(minutes=5)
    assert state.component_status is ComponentStatus.OPERATIONAL
    public_entries = [e for e in incident.timeline if e.public]
    assert public_entries[-1].status is IncidentStatus.RESOLVED
    # the internal alert's entry is not for customers
    assert [e.public for e in incident.timeline][:2] == [True, False]
    # the internal alert resolving resolves the incident for real, once
    state, events = run(config, ev("int", "resolved", integration="internal"), state=state)
    assert kinds(events) == ["incident.resolved"]
    resolved = events[0].incident
    assert resolved.public_resolved_at == T0 + timedelta(minutes=5)
    assert resolved.timeline[-1].public is False  # the page said "resolved" already


def test_a_public_alert_firing_again_reopens_the_public_incident() -> None:
    config = cfg()
    state, _ = run(config, ev("pub"), ev("int", integration="internal"), ev("pub", "resolved"))
    state, _ = run(config, ev("pub", starts_at=T0 + timedelta(minutes=30)), state=state)
    assert state.incident is not None
    assert state.incident.public_status is IncidentStatus.INVESTIGATING
    assert state.incident.public_resolved_at is None
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE


def test_the_public_filter_decides_which_alerts_may_be_public() -> None:
    config = cfg("public: {matchers: ['customer_facing=\"true\"'], severities: [critical]}\n")
    state, _ = run(config, ev("a"))
    assert state.incident is not None
    assert not state.incident.public
    assert state.component_status is ComponentStatus.OPERATIONAL
    state, _ = run(config, ev("b", severity="warning", customer_facing="true"), state=state)
    assert state.incident is not None
    assert not state.incident.public
    state, _ = run(config, ev("c", customer_facing="true"), state=state)
    assert state.incident is not None
    assert state.incident.public
    assert state.incident.title == "Summary of c"
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE


# -- publish_after ------------------------------------------------------------------------


def test_publish_after_pages_at_once_and_shows_the_alert_only_once_it_fired_that_long() -> None:
    config = cfg("public: {publish_after: 2m}\n")
    now = T0 + timedelta(seconds=30)
    state, events = run(config, ev("a"), now=now)
    assert kinds(events) == ["incident.opened"]  # the on-call is paged at once
    assert state.incident is not None
    assert not state.incident.public
    assert state.component_status is ComponentStatus.OPERATIONAL
    assert state.due_at == T0 + timedelta(minutes=2)
    # not due yet: nothing
    same, events = tick(config, state, T0 + timedelta(minutes=1))
    assert events == []
    assert same.due_at == T0 + timedelta(minutes=2)
    # due: the page shows it
    state, events = tick(config, state, T0 + timedelta(minutes=2))
    assert kinds(events) == ["incident.updated", "component.status_changed"]
    assert state.incident is not None
    assert state.incident.public
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE
    assert state.due_at is None


def test_an_alert_resolving_before_publish_after_never_shows_publicly() -> None:
    config = cfg("public: {publish_after: 2m}\n")
    now = T0 + timedelta(seconds=90)
    state, events = run(
        config, ev("a"), ev("a", "resolved", ends_at=T0 + timedelta(seconds=60)), now=now
    )
    assert kinds(events) == ["incident.opened", "incident.resolved"]
    resolved = events[-1].incident
    assert resolved.public is False  # the page never shows it
    assert all(not e.public for e in resolved.timeline)
    assert state.component_status is ComponentStatus.OPERATIONAL


# -- recovery hold ------------------------------------------------------------------------


def test_recovery_hold_shows_monitoring_then_resolves() -> None:
    config = cfg("public: {recovery_hold: 5m}\n")
    end = T0 + timedelta(minutes=5)
    state, events = run(config, ev("a"), ev("a", "resolved", ends_at=end), now=end)
    assert "incident.resolved" not in kinds(events)
    assert state.incident is not None
    assert state.incident.public_status is IncidentStatus.MONITORING
    assert state.incident.status is IncidentStatus.MONITORING
    assert state.component_status is ComponentStatus.OPERATIONAL
    assert state.due_at == end + timedelta(minutes=5)
    state, events = tick(config, state, end + timedelta(minutes=5))
    assert kinds(events) == ["incident.resolved"]
    assert events[0].incident.resolved_at == end
    assert state.incident is None


def test_a_refire_during_the_recovery_hold_stays_the_same_incident() -> None:
    config = cfg("public: {recovery_hold: 5m}\nalerts: {reopen_window: 0s}\n")
    end = T0 + timedelta(minutes=5)
    state, _ = run(config, ev("a"), ev("a", "resolved", ends_at=end), now=end)
    assert state.incident is not None
    first = state.incident.id
    state, events = run(config, ev("a", starts_at=end + timedelta(minutes=1)), state=state, now=end)
    assert kinds(events) == ["incident.updated", "component.status_changed"]
    assert state.incident is not None
    assert state.incident.id == first
    assert state.incident.public_status is IncidentStatus.INVESTIGATING
    assert state.incident.status is IncidentStatus.INVESTIGATING


# -- reopen window ------------------------------------------------------------------------


def test_firing_again_within_the_reopen_window_reopens_the_incident() -> None:
    config = cfg()  # default reopen_window: 10 min
    state, events = run(config, ev("a"), ev("a", "resolved"))
    first = events[-2].incident if isinstance(events[-2], IncidentResolved) else events[-1].incident
    assert state.incident is None
    assert state.recent[0].id == first.id
    again = T0 + timedelta(minutes=5 + 9)
    state, events = run(config, ev("a", starts_at=again), state=state)
    assert kinds(events) == ["incident.updated", "component.status_changed"]
    assert isinstance(events[0], IncidentUpdated)
    assert events[0].incident.id == first.id
    assert events[0].incident.status is IncidentStatus.INVESTIGATING
    assert events[0].incident.resolved_at is None
    assert "reopened" in events[0].incident.timeline[-1].body
    assert all(i.id != first.id for i in state.recent)


def test_another_alert_within_the_reopen_window_opens_a_new_incident() -> None:
    config = cfg()
    state, _ = run(config, ev("a"), ev("a", "resolved"))
    state, events = run(config, ev("b", starts_at=T0 + timedelta(minutes=6)), state=state)
    assert kinds(events)[0] == "incident.opened"
    assert events[0].incident.title == "Summary of b"


def test_firing_after_the_reopen_window_opens_a_new_incident() -> None:
    config = cfg()
    state, _ = run(config, ev("a"), ev("a", "resolved"))
    state, events = run(config, ev("a", starts_at=T0 + timedelta(minutes=16)), state=state)
    assert kinds(events)[0] == "incident.opened"


# -- the story ----------------------------------------------------------------------------


def test_timeline_texts_come_from_the_templates() -> None:
    config = cfg(
        "timeline:\n"
        "  opened: 'Looking into {{ alertname }}.'\n"
        "  joined: '{{ firing }}/{{ total }} firing'\n"
        '  body: \'{{ alerts | length }} alerts: {{ alerts | map(attribute="alertname")'
        ' | join(", ") }}\'\n'
    )
    state, _ = run(config, ev("a"), ev("b"))
    assert state.incident is not None
    assert [e.body for e in state.incident.timeline] == ["Looking into Alert-a.", "2/2 firing"]
    assert state.incident.body == "2 alerts: Alert-a, Alert-b"


def test_a_template_cannot_reach_outside_its_sandbox() -> None:
    config = cfg("timeline: {opened: '{{ alertname.__class__.__mro__ }}'}\n")
    state, _ = run(config, ev("a"))
    assert state.incident is not None
    assert "object" not in state.incident.timeline[0].body


def test_the_default_body_speaks_for_all_its_alerts() -> None:
    config = cfg()
    state, _ = run(config, ev("a"))
    assert state.incident is not None
    assert state.incident.body == "Description of a"
    state, _ = run(config, ev("b"), ev("int", integration="internal"), state=state)
    body = state.incident.body if state.incident else ""
    assert body.startswith("Description of a")
    assert "Summary of a" in body
    assert "Summary of b" in body
    assert "Summary of int" not in body  # customers never read an internal alert's words


# -- through the use case -----------------------------------------------------------------


class Published:
    def __init__(self) -> None:
        self.events: list[IncidentEvent] = []

    async def publish(self, events: Sequence[IncidentEvent]) -> None:
        self.events.extend(events)


async def test_the_public_clock_publishes_at_the_due_time_through_the_use_case() -> None:
    config = cfg("public: {publish_after: 1m, recovery_hold: 2m}\n")
    clock = [T0 + timedelta(seconds=10)]
    published = Published()
    use = Correlator(
        MemoryStore(config),
        config,
        published,
        CorrelatorMetrics(CollectorRegistry()),
        lambda: clock[0],
    )
    await use.apply_batch(SVC, [ev("a")])
    assert kinds(published.events) == ["incident.opened"]
    assert use.due[SVC] == T0 + timedelta(minutes=1)
    assert await use.tick_due() == 0
    clock[0] = T0 + timedelta(minutes=1)
    assert await use.tick_due() == 1
    assert kinds(published.events)[1:] == ["incident.updated", "component.status_changed"]
    end = T0 + timedelta(minutes=3)
    clock[0] = end
    await use.apply_batch(SVC, [ev("a", "resolved", ends_at=end)])
    assert use.due[SVC] == end + timedelta(minutes=2)
    state = await use.store.load(SVC, clock[0])
    assert state.incident is not None
    assert state.incident.public_status is IncidentStatus.MONITORING
    clock[0] = end + timedelta(minutes=2)
    # the minute's sweep finds it too (a replica that never stepped the service)
    other = Correlator(
        use.store, config, published, CorrelatorMetrics(CollectorRegistry()), lambda: clock[0]
    )
    await other.expire_stale()
    assert published.events[-1].kind == "incident.resolved"
    assert await use.tick_due() == 1  # its own due time: nothing left to do
    assert published.events[-1].kind == "incident.resolved"
    assert SVC not in use.due
