"""Publishing incident events to the INCIDENTS stream (the correlator's one way out)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nats.errors import MaxPayloadError
from nats.js.errors import NoStreamResponseError

from herald.correlator.metrics import CorrelatorMetrics
from herald.shared.events import INCIDENT_EVENT_NAMES, IncidentEvent
from herald.shared.runtime import NatsConnection
from herald.shared.subjects import INCIDENTS_STREAM, incident_subject

log = logging.getLogger("herald.correlator")


class IncidentPublisher:
    """Publishes one service's events in order, each returning once JetStream stored it."""

    def __init__(self, nats: NatsConnection, metrics: CorrelatorMetrics) -> None:
        self.nats = nats
        self.metrics = metrics

    async def publish(self, events: Sequence[IncidentEvent]) -> None:
        """Publish `events` in order (raises when one is not stored: they stay pending).

        An event the broker can never take is dropped rather than blocking every later event of
        its service. With the texts and alert lists of incidents bounded this should never
        happen; if it does, the service's state and status snapshot in Redis are right
        regardless, and its next incident event carries the incident's full snapshot again."""
        for event in events:
            try:
                await self.nats.js.publish(
                    incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind]),
                    event.model_dump_json().encode(),
                    stream=INCIDENTS_STREAM,
                    headers={"Nats-Msg-Id": event.event_id},
                )
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
                continue
            except NoStreamResponseError:
                self.nats.report_lost()  # the stream is gone: re-create it before the retry
                raise
            self.metrics.published.labels(event.kind).inc()
