"""The correlator's use case: one alert event becomes routing + a store step + a publish.

It holds no logic of its own: parsing is the contract's, routing and the state machine are
pure modules, atomicity and the outbox are the store's. The store only records what is to be
published (the outbox, in the same atomic step as the state); the correlator then publishes it
through the publisher it is given and tells the store what went out.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from pydantic import ValidationError

from herald.correlator.incident import group_id
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.publisher import IncidentPublisher
from herald.correlator.routing import RouteDecision, retirement, route, sticky_route
from herald.correlator.store import CorrelatorStore
from herald.shared.backoff import Backoff
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    ALERT_STREAM_ADAPTER,
    AlertReceived,
    GroupReported,
    IncidentEvent,
)
from herald.shared.runtime import Clock

log = logging.getLogger("herald.correlator")


class InvalidAlert(ValueError):
    """The message is not an AlertReceived: redelivering it cannot help."""


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNROUTED = "unrouted"
    REPORTED = "reported"
    """A group report (not an alert)."""


REDELIVERY = Backoff(base=0.25, cap=15.0)
"""How soon a message whose processing failed is redelivered (by its number of deliveries)."""


class Correlator:
    def __init__(
        self,
        store: CorrelatorStore,
        config: HeraldConfig,
        publisher: IncidentPublisher,
        metrics: CorrelatorMetrics,
        clock: Clock,
    ) -> None:
        self.store = store
        self.config = config
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock

    async def handle(self, body: bytes) -> Outcome:
        """Process one ALERTS message. Returns normally when it may be acked; raises
        InvalidAlert for a message to drop, anything else for one to redeliver."""
        try:
            event = ALERT_STREAM_ADAPTER.validate_json(body)
        except ValidationError as exc:
            self.metrics.alerts.labels("invalid").inc()
            raise InvalidAlert(
                f"not an alert event: {exc.error_count()} validation errors"
            ) from exc
        if isinstance(event, GroupReported):
            return await self.reported(event)

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

    async def reported(self, report: GroupReported) -> Outcome:
        """A whole notification. The firing alerts its group listed before and no longer lists
        have ended (silenced, inhibited or expired); ended ones it lists firing again fire again.
        An incomplete report says nothing of what it does not list."""
        group = group_id(report.integration, report.group_key)
        listed, firing = set(report.fingerprints), set(report.firing)
        now = self.clock()
        for fingerprint, (service, ended) in (await self.store.group_members(group)).items():
            if not ended and fingerprint not in listed and report.complete:
                still = await self.store.absent(
                    service, fingerprint, group, report.occurred_at, now
                )
                changed = not still
            elif ended and fingerprint in firing:
                changed = await self.store.relisted(service, fingerprint, report, now)
            else:
                continue
            if changed:
                await self.store.index_group(group, fingerprint, service, ended=not ended)
            await self.flush(service)
        self.metrics.alerts.labels(Outcome.REPORTED.value).inc()
        return Outcome.REPORTED

    async def decide(self, event: AlertReceived) -> RouteDecision:
        """Route the event (sticky per alert instance) and store its route before its state
        step, so a crash in between cannot leave the step without its route. An alert that
        moved to another service is first resolved in the one it left."""
        configured = route(event.labels, self.config)
        remembered = await self.store.route(event.fingerprint)
        decision = sticky_route(remembered, event.starts_at, configured)
        if decision.retire is not None:
            await self.apply(decision.retire.service, retirement(event, decision.retire))
        while decision.remember is not None:
            stored = await self.store.remember_route(event.fingerprint, decision.remember)
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
        """Publish the service's pending events in order, then drop them from the outbox.
        Returns how many were published (some may be JetStream duplicates)."""
        pending = await self.store.pending(service)
        if pending:
            await self.publisher.publish(pending)
            await self.store.published(service, pending)
        return len(pending)

    async def expire_stale(self) -> int:
        """End the firing alerts no notification mentioned for `alerts.stale_after`, in every
        configured service (each an atomic step: replicas doing it at once change nothing
        twice); returns how many events that made."""
        made = 0
        for service in self.config.services:
            made += len(await self.store.expire(service, self.clock()))
            await self.flush(service)
        return made

    async def recover(self) -> None:
        """Publish what a previous run stored but did not get acknowledged, for the configured
        services and for any other one with pending events (removed from the config since)."""
        services = dict.fromkeys(self.config.services)
        try:
            services |= dict.fromkeys(await self.store.outbox_services())
        except Exception as exc:
            log.warning("could not list outboxes", extra={"error": repr(exc)})
        for service in services:
            try:
                if n := await self.flush(service):
                    log.info(
                        "republished pending events", extra={"service_id": service, "count": n}
                    )
            except Exception as exc:  # the next alert for that service flushes again
                log.warning(
                    "could not flush outbox", extra={"service_id": service, "error": repr(exc)}
                )
