"""Publishing incident events to the INCIDENTS stream (the correlator's one way out)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from nats.errors import MaxPayloadError
from nats.js.errors import NoStreamResponseError

from herald.correlator.metrics import CorrelatorMetrics
from herald.shared.events import INCIDENT_EVENT_NAMES, IncidentEvent
from herald.shared.runtime import REQUEST_TIMEOUT_SECONDS, AckInbox, NatsConnection, Outgoing
from herald.shared.subjects import INCIDENTS_STREAM, incident_subject

log = logging.getLogger("herald.correlator")


def _json(event: IncidentEvent) -> str:
    return event.model_dump_json()


class IncidentPublisher:
    """Publishes one service's events in order and returns once JetStream stored them all: the
    events of one call are all sent at once (in order, on one connection, so the stream stores
    them in order) and their acks awaited together (`AckInbox`); calls for several services run
    concurrently."""

    def __init__(
        self,
        nats: NatsConnection,
        metrics: CorrelatorMetrics,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        encode: Callable[[IncidentEvent], str] | None = None,
    ) -> None:
        self.nats = nats
        self.metrics = metrics
        self.timeout = timeout
        self.encode = encode or _json
        """An event's JSON: the store's (`CorrelatorStore.event_json`), which wrote the same
        text to the outbox in the step, so an event is serialized once."""
        self._acks: AckInbox | None = None

    async def publish(self, events: Sequence[IncidentEvent]) -> None:
        """Publish `events` in order (raises when one is not stored: they stay pending).

        An event the broker can never take is dropped rather than blocking every later event of
        its service. With the texts and alert lists of incidents bounded this should never
        happen; if it does, the service's state and status snapshot in Redis are right
        regardless, and its next incident event carries the incident's full snapshot again."""
        nc = self.nats.nc
        if self._acks is None:
            self._acks = AckInbox(nc)
        limit = nc.max_payload
        outgoing: list[tuple[IncidentEvent, Outgoing]] = []
        for event in events:
            payload = self.encode(event).encode()
            if len(payload) > limit:
                self._drop(event, MaxPayloadError())
                continue
            subject = incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind])
            outgoing.append(
                (
                    event,
                    Outgoing(
                        subject,
                        payload,
                        {"Nats-Msg-Id": event.event_id, "Nats-Expected-Stream": INCIDENTS_STREAM},
                    ),
                )
            )
        if not outgoing:
            return
        results = await self._acks.publish_all([o for _, o in outgoing], self.timeout)
        failure: BaseException | None = None
        for (event, _), result in zip(outgoing, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
            else:
                self.metrics.published.labels(event.kind).inc()
        if failure is not None:
            if isinstance(failure, NoStreamResponseError):
                self.nats.report_lost()  # the stream is gone: re-create it before the retry
            raise failure

    def _drop(self, event: IncidentEvent, exc: BaseException) -> None:
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
