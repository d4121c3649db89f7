"""Incident templates for updates by hand: rendered by the command rule with the incident's
data (plain values, `now` a parameter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.correlator.commands import Control, control_step, overlay
from herald.correlator.incident import ServiceHead, fold, initial_state
from herald.correlator.incident_template import duration
from herald.shared.config import parse_config
from herald.shared.events import (
    Command,
    IncidentStatus,
    OpenIncident,
    UpdateIncident,
)
from services.correlator.tests.alerts import make_alert

CONFIG = parse_config(
    """
groups:
  shop: {name: Shop}
services:
  payments-api: {name: Payments API, group: shop}
incident_templates:
  investigating:
    body: "We are investigating problems with {{ components | join(', ') }} since {{ started_at }}."
  fix-deployed:
    status: monitoring
    body: >-
      A fix is deployed for {{ service }} after {{ duration }}{% if alert_summaries %}
      ({{ alert_summaries | join('; ') }}){% endif %}. We are monitoring.
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
    def __init__(self) -> None:
        self.head: ServiceHead = initial_state(SVC, T0).head
        self.control = Control()
        self.records: dict = {}

    def command(self, command: Command, now: datetime = T0) -> list:
        step = control_step(self.head, {}, [], self.control, command, SVC, CONFIG, now)
        assert step is not None
        self.head, self.control = step.head, step.control
        return step.events

    def alert(self, now: datetime, **kw: object) -> list:
        event = make_alert(starts_at=now, **kw)  # type: ignore[arg-type]
        step = fold(self.head, self.records, [], [event], SVC, CONFIG, now)
        self.records.update(step.records)
        self.head, events = overlay(
            self.head, self.control, step.head, self.control, step.events, CONFIG, now
        )
        return events


def test_an_incident_opened_from_a_template_tells_its_components_and_start() -> None:
    s = Service()
    [opened] = s.command(OpenIncident(**base(1), title="Checkout", template="investigating"))
    text = "We are investigating problems with Payments API, Shop since 2025-03-01T12:00:00Z."
    assert opened.incident.body == text
    assert opened.incident.timeline[-1].body == text


def test_an_update_from_a_template_takes_its_status_and_the_alerts() -> None:
    s = Service()
    s.alert(T0, annotations={"summary": "Card payments fail"})
    incident = s.head.incident
    assert incident is not None
    later = T0 + timedelta(minutes=65)
    [updated] = s.command(
        UpdateIncident(**base(2, later), incident_id=incident.id, template="fix-deployed"), later
    )
    assert updated.incident.status is IncidentStatus.MONITORING
    assert updated.incident.timeline[-1].body == (
        "A fix is deployed for Payments API after 1h 5m (Card payments fail). We are monitoring."
    )
    # A status given wins over the template's.
    [again] = s.command(
        UpdateIncident(
            **base(3, later),
            incident_id=incident.id,
            template="fix-deployed",
            status=IncidentStatus.IDENTIFIED,
        ),
        later,
    )
    assert again.incident.status is IncidentStatus.IDENTIFIED


def test_an_unknown_template_is_rejected_and_changes_nothing() -> None:
    s = Service()
    events = s.command(OpenIncident(**base(1), title="Checkout", template="nope"))
    assert events == []
    assert s.head.incident is None
    entry = s.control.entry("cmd-1")
    assert entry is not None
    assert entry.outcome == "rejected"
    assert "no incident template 'nope'" in entry.detail


def test_durations_read_as_people_write_them() -> None:
    assert duration(timedelta(seconds=40)) == "40s"
    assert duration(timedelta(minutes=12)) == "12m"
    assert duration(timedelta(days=1, hours=2, minutes=3)) == "1d 2h 3m"
