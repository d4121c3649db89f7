"""The ALERTS consumer: turns one message into routing + a store step + a flush.

It holds no logic of its own: parsing is the contract's, routing and the state machine are
pure modules, atomicity and the outbox are the store's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from pydantic import ValidationError

from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.routing import route
from herald.correlator.store import CorrelatorStore, Publish
from herald.shared.config import HeraldConfig
from herald.shared.events import AlertReceived

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

        service = route(event.labels, self.config)
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

        events = await self.store.apply(service, event, self.clock())
        # Flush even when nothing changed: a redelivery after a crash between the store
        # step and the publish must still get the stored events out.
        await self.flush(service)
        outcome = Outcome.APPLIED if events else Outcome.UNCHANGED
        self.metrics.alerts.labels(outcome.value).inc()
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
        return outcome

    async def flush(self, service: str) -> int:
        return await self.store.flush(service, self.publish)
