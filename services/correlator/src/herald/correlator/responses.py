"""What someone did about an incident from the notifier (herald.shared.events ResponseEvent, on
RESPONSES), as an order its service's step applies. Pure.

The correlator owns every incident, so a response is folded like a command, in the same atomic
per-service step (commands.control_step): idempotent the same way (its event id is remembered
per service) and audited with the responder as the actor.
- An acknowledgement (`AcknowledgeIncident`) adds an internal entry, "Acknowledged by <name>.",
  to the open incident's timeline: the notifier's pages may show it, the public page never.
- A resolve request is `herald incident resolve` (`ResolveIncident`) by the responder.
A response about an incident that is not the service's open one (resolved since, unknown) is
refused: its audit entry says why, and nothing else changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from herald.shared.config import HeraldConfig
from herald.shared.events import (
    Command,
    IncidentAcknowledged,
    ResolveIncident,
    Responder,
    ResponseEvent,
)


class AcknowledgeIncident(BaseModel):
    """An acknowledgement, as a service's step applies it (never on COMMANDS: only the
    notifier's IncidentAcknowledged makes one)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["incident.acknowledged"] = "incident.acknowledged"
    event_id: str
    occurred_at: datetime
    actor: str
    """Who acknowledged it, by name (`responder_name`)."""
    service: str
    incident_id: str


Order = Command | AcknowledgeIncident
"""What a service's control step applies: an admin command or a response."""


def responder_name(responder: Responder, config: HeraldConfig) -> str:
    """The responder as the timeline and the audit name them: the user's name (`users:`), its
    id when it has none or is not configured, the API token's name, else how they answered."""
    if responder.user is not None:
        user = config.users.get(responder.user)
        return (user.name if user is not None else "") or responder.user
    if responder.client is not None:
        return responder.client
    return "an API client" if responder.via == "api" else "a link of a page"


def order(event: ResponseEvent, config: HeraldConfig) -> Order:
    """The order a response makes (its event id is the order's, for idempotency)."""
    name = responder_name(event.responder, config)
    if isinstance(event, IncidentAcknowledged):
        return AcknowledgeIncident(
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            actor=name,
            service=event.service,
            incident_id=event.incident_id,
        )
    return ResolveIncident(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        idempotency_key=event.event_id,
        actor=name,
        service=event.service,
        incident_id=event.incident_id,
    )


def acknowledged(name: str) -> str:
    """The internal timeline entry of an acknowledgement."""
    return f"Acknowledged by {name}."
