"""The notifier's responses as a service's step applies them (responses.py, commands.py): plain
values, `now` a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.correlator.commands import Control, control_step
from herald.correlator.incident import ServiceHead, initial_state
from herald.correlator.responses import AcknowledgeIncident, Order, order, responder_name
from herald.shared.config import parse_config
from herald.shared.events import (
    IncidentAcknowledged,
    IncidentResolved,
    IncidentResolveRequested,
    IncidentStatus,
    IncidentUpdated,
    OpenIncident,
    ResolveIncident,
    Responder,
)
from herald.shared.public_page import public_view

CONFIG = parse_config(
    """
services:
  payments-api: {name: Payments API}
users:
  alice: {name: Alice Martin}
  bob: {}
"""
)
SVC = "payments-api"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ALICE = Responder(via="link", user="alice")


class Service:
    """One service's head and control, stepped like the stores do."""

    def __init__(self) -> None:
        self.head: ServiceHead = initial_state(SVC, T0).head
        self.control = Control()

    def step(self, command: Order, now: datetime) -> list:
        step = control_step(self.head, {}, [], self.control, command, SVC, CONFIG, now)
        if step is None:
            return []
        self.head, self.control = step.head, step.control
        return step.events

    def open(self) -> str:
        self.step(
            OpenIncident(
                event_id="open-1",
                occurred_at=T0,
                idempotency_key="k1",
                actor="ops",
                service=SVC,
                title="Payments fail",
            ),
            T0,
        )
        assert self.head.incident is not None
        return self.head.incident.id


def ack(incident_id: str, n: int = 1, responder: Responder = ALICE) -> IncidentAcknowledged:
    return IncidentAcknowledged(
        event_id=f"ack:{incident_id}:{n}",
        occurred_at=T0,
        service=SVC,
        incident_id=incident_id,
        responder=responder,
    )


def resolve_request(incident_id: str, n: int = 1) -> IncidentResolveRequested:
    return IncidentResolveRequested(
        event_id=f"resolve:{incident_id}:{n}",
        occurred_at=T0,
        service=SVC,
        incident_id=incident_id,
        responder=ALICE,
    )


def test_the_responder_is_named_by_the_users_name_else_its_id_else_how_it_answered() -> None:
    assert responder_name(ALICE, CONFIG) == "Alice Martin"
    assert responder_name(Responder(via="link", user="bob"), CONFIG) == "bob"
    assert responder_name(Responder(via="link", user="gone"), CONFIG) == "gone"
    assert responder_name(Responder(via="api"), CONFIG) == "an API client"
    assert responder_name(Responder(via="api", client="oncall-bot"), CONFIG) == "oncall-bot"
    assert responder_name(Responder(via="link"), CONFIG) == "a link of a page"


def test_a_response_becomes_the_order_of_its_responder_with_its_event_id() -> None:
    acked = order(ack("payments-api-1"), CONFIG)
    assert isinstance(acked, AcknowledgeIncident)
    assert (acked.event_id, acked.actor, acked.incident_id) == (
        "ack:payments-api-1:1",
        "Alice Martin",
        "payments-api-1",
    )
    resolved = order(resolve_request("payments-api-1"), CONFIG)
    assert isinstance(resolved, ResolveIncident)
    assert (resolved.event_id, resolved.actor, resolved.service) == (
        "resolve:payments-api-1:1",
        "Alice Martin",
        SVC,
    )


def test_an_acknowledgement_is_one_internal_entry_on_the_open_incident() -> None:
    s = Service()
    iid = s.open()
    at = T0 + timedelta(minutes=3)
    (event,) = s.step(order(ack(iid), CONFIG), at)
    assert isinstance(event, IncidentUpdated)
    last = event.incident.timeline[-1]
    assert (last.body, last.public, last.at) == ("Acknowledged by Alice Martin.", False, at)
    assert event.incident.status is IncidentStatus.INVESTIGATING
    assert public_view(event.incident).timeline == event.incident.timeline[:-1]  # never shown
    assert s.head.incident == event.incident
    entry = s.control.entry(f"ack:{iid}:1")
    assert entry is not None
    assert (entry.outcome, entry.actor, entry.target) == ("applied", "Alice Martin", iid)


def test_an_acknowledgement_delivered_twice_adds_one_entry() -> None:
    s = Service()
    iid = s.open()
    s.step(order(ack(iid), CONFIG), T0 + timedelta(minutes=1))
    assert s.step(order(ack(iid), CONFIG), T0 + timedelta(minutes=2)) == []
    assert s.head.incident is not None
    bodies = [e.body for e in s.head.incident.timeline]
    assert bodies.count("Acknowledged by Alice Martin.") == 1
    # another acknowledgement (another event) is another entry
    s.step(order(ack(iid, 2), CONFIG), T0 + timedelta(minutes=3))
    assert [e.body for e in s.head.incident.timeline].count("Acknowledged by Alice Martin.") == 2


def test_a_resolve_request_resolves_the_open_incident_by_its_responder() -> None:
    s = Service()
    iid = s.open()
    at = T0 + timedelta(minutes=5)
    (event,) = s.step(order(resolve_request(iid), CONFIG), at)
    assert isinstance(event, IncidentResolved)
    assert (event.incident.status, event.incident.resolved_at) == (IncidentStatus.RESOLVED, at)
    assert event.incident.timeline[-1].body == "Resolved by Alice Martin."
    assert s.head.incident is None
    entry = s.control.entry(f"resolve:{iid}:1")
    assert entry is not None
    assert (entry.outcome, entry.actor, entry.kind) == (
        "applied",
        "Alice Martin",
        "command.incident.resolve",
    )


def test_a_response_for_an_incident_that_is_not_the_open_one_changes_no_incident() -> None:
    s = Service()
    iid = s.open()
    s.step(order(resolve_request(iid), CONFIG), T0 + timedelta(minutes=1))
    head = s.head
    for response in (ack(iid, 2), resolve_request(iid, 2), ack("payments-api-999")):
        assert s.step(order(response, CONFIG), T0 + timedelta(minutes=2)) == []
        entry = s.control.entry(response.event_id)
        assert entry is not None, response
        assert entry.outcome == "rejected", response
    assert s.head.incident is None
    assert s.head.recent == head.recent


def test_an_acknowledgement_of_an_earlier_incident_leaves_the_open_one_alone() -> None:
    s = Service()
    first = s.open()
    s.step(order(resolve_request(first), CONFIG), T0 + timedelta(minutes=1))
    s.step(
        OpenIncident(
            event_id="open-2",
            occurred_at=T0,
            idempotency_key="k2",
            actor="ops",
            service=SVC,
            title="Again",
        ),
        T0 + timedelta(minutes=2),
    )
    opened = s.head.incident
    assert s.step(order(ack(first, 3), CONFIG), T0 + timedelta(minutes=3)) == []
    assert s.head.incident == opened
