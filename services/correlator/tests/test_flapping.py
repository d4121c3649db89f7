"""Flap detection (alerts.flapping): pure rules on plain data."""

from datetime import timedelta

from herald.correlator.incident import ServiceState, apply, fold
from herald.shared.config import parse_config
from herald.shared.events import AlertReceived, ComponentStatus
from services.correlator.tests.alerts import T0, make_alert

SVC = "payments-api"
CONFIG = parse_config(
    """
integrations:
  alertmanager: {token: t1}
services:
  payments-api: {name: Payments API}
alerts:
  flapping: {changes: 3, window: 10m}
"""
)


def flip(n: int) -> AlertReceived:
    """The n-th state of one alert (even: firing, odd: resolved), a minute apart, each a new
    instance (Prometheus re-fires with a new startsAt)."""
    start = T0 + timedelta(minutes=2 * (n // 2))
    if n % 2 == 0:
        event = make_alert("fp1", "firing", start)
    else:
        event = make_alert("fp1", "resolved", start, ends_at=start + timedelta(minutes=1))
    return event.model_copy(update={"received_at": T0 + timedelta(minutes=n)})


def run(events: list[AlertReceived]) -> tuple[ServiceState, list[object]]:
    state = ServiceState(service=SVC)
    out: list[object] = []
    for event in events:
        state, emitted = apply(state, event, SVC, CONFIG, event.received_at)
        out.extend(emitted)
    return state, out


def test_a_flapping_alert_holds_its_components_worst_status_and_says_so_once() -> None:
    state, events = run([flip(n) for n in range(8)])  # fire, resolve, ... ends resolved
    assert state.alerts["fp1"].status.value == "resolved"
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE  # held, not operational
    bodies = [
        entry.body
        for e in events
        if getattr(e, "incident", None) is not None
        for entry in e.incident.timeline  # type: ignore[attr-defined]
        if "flapping" in entry.body
    ]
    assert len(set(bodies)) == 1, "the timeline says it flaps once"
    statuses = [e.status for e in events if getattr(e, "kind", "") == "component.status_changed"]
    major, ok = ComponentStatus.MAJOR_OUTAGE, ComponentStatus.OPERATIONAL
    # it toggles until it changed more than 3 times in the window (the 4th change), then holds
    assert statuses == [major, ok, major, ok, major], statuses


def test_the_hold_ends_when_the_window_passes_without_a_change() -> None:
    state, _ = run([flip(n) for n in range(8)])
    assert state.flap_until is not None
    assert state.due_at is not None
    assert state.due_at <= state.flap_until  # the sweep comes when the hold ends
    later = state.flap_until + timedelta(seconds=1)
    step = fold(state, {}, [], [], SVC, CONFIG, later, tick=[])
    assert step.head.component_status is ComponentStatus.OPERATIONAL
    assert [e.kind for e in step.events] == ["component.status_changed"]
    assert step.head.flap_until is None


def test_an_alert_that_changes_rarely_does_not_flap() -> None:
    state, _ = run([flip(0), flip(1)])
    assert state.component_status is ComponentStatus.OPERATIONAL
    assert state.flap_until is None
