"""The ALERTS consumer: turns one message into routing + a store step + a flush.

It holds no logic of its own: parsing is the contract's, routing and the state machine are
pure modules, atomicity and the outbox are the store's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from nats.errors import MaxPayloadError
from pydantic import ValidationError

from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.routing import RouteDecision, retirement, route, sticky_route
from herald.correlator.store import CorrelatorStore, Publish
from herald.shared.config import HeraldConfig
from herald.shared.events import AlertReceived, IncidentEvent

log = logging.getLogger("herald.correlator")


class InvalidAlert(ValueError):
    """The message is not an AlertReceived: redelivering it cannot help."""


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNROUTED = "unrouted"


def redelivery_delay(attempt: int) -> float:
    """Seconds before redelivering a message whose processing failed `attempt` times."""
    return float(min(0.25 * 2 ** max(attempt - 1, 0), 15.0))


class AlertConsumer:
    def __init__(
        self,
        store: CorrelatorStore,
        config: HeraldConfig,
        publish: Publish,
        metrics: CorrelatorMetrics,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.config = config
        self.publish = publish
        self.metrics = metrics
        self.clock = clock

    async def handle(self, body: bytes) -> Outcome:
        """Process one ALERTS message. Returns normally when it may be acked; raises
        InvalidAlert for a message to drop, anything else for one to redeliver."""
        try:
            event = AlertReceived.model_validate_json(body)
        except ValidationError as exc:
            self.metrics.alerts.labels("invalid").inc()
            raise InvalidAlert(
                f"not an alert event: {exc.error_count()} validation errors"
            ) from exc

        decision = await self.decide(event)
        service = decision.service
        if service is None:
            await self.store.record_unrouted(event)
            self.metrics.alerts.labels(Outcome.UNROUTED.value).inc()
            log.warning(
                "alert matches no service",
                extra={
                    "fingerprint": event.fingerprint,
                    "alertname": event.labels.get("alertname"),
                    "integration": event.integration,
                },
            )
            return Outcome.UNROUTED

        events = await self.apply(service, event)
        outcome = Outcome.APPLIED if events else Outcome.UNCHANGED
        self.metrics.alerts.labels(outcome.value).inc()
        return outcome

    async def decide(self, event: AlertReceived) -> RouteDecision:
        """Route the event (sticky per alert instance) and store its route before its state
        step, so a crash in between cannot leave the step without its route. An alert that
        moved to another service is first resolved in the one it left."""
        configured = route(event.labels, self.config)
        remembered = await self.store.route(event.integration, event.fingerprint)
        decision = sticky_route(remembered, event.starts_at, configured)
        if decision.retire is not None:
            await self.apply(decision.retire.service, retirement(event, decision.retire))
        while decision.remember is not None:
            stored = await self.store.remember_route(
                event.integration, event.fingerprint, decision.remember
            )
            if stored == decision.remember:
                break
            # Another replica stored a route for this or a newer instance meanwhile: follow it.
            decision = sticky_route(stored, event.starts_at, configured)
        return decision

    async def apply(self, service: str, event: AlertReceived) -> list[IncidentEvent]:
        events = await self.store.apply(service, event, self.clock())
        # Flush even when nothing changed: a redelivery after a crash between the store
        # step and the publish must still get the stored events out.
        await self.flush(service)
        if events:
            log.info(
                "alert applied",
                extra={
                    "service_id": service,
                    "fingerprint": event.fingerprint,
                    "alert_status": event.status.value,
                    "events": [e.kind for e in events],
                },
            )
        return events

    async def flush(self, service: str) -> int:
        return await self.store.flush(service, self._publish_or_drop)

    async def _publish_or_drop(self, event: IncidentEvent) -> None:
        """Publish; an event the broker can never take is dropped (returning lets the store
        remove it from the outbox) rather than blocking every later event of the service.
        With the texts and alert lists of incidents bounded this should never happen; if it
        does, the service's state and status snapshot in Redis are right regardless, and its
        next incident event carries the incident's full snapshot again."""
        try:
            await self.publish(event)
        except MaxPayloadError as exc:
            self.metrics.dropped.labels(event.kind).inc()
            log.error(
                "dropping an incident event the broker rejects for good",
                extra={
                    "service_id": event.service,
                    "event_id": event.event_id,
                    "kind": event.kind,
                    "error": repr(exc),
                },
            )
