"""The correlator process: a FastStream durable consumer of ALERTS inside a Starlette app.

Wiring only. The lifespan opens Redis and the NATS broker, makes sure the streams exist,
republishes whatever a previous run left in the outboxes, then starts the subscriber.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from faststream.exceptions import NackMessage, RejectMessage
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js.api import ConsumerConfig
from nats.js.errors import NoStreamResponseError
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.correlator.consumer import AlertConsumer, InvalidAlert, redelivery_delay
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.store import CorrelatorStore, Publish
from herald.shared.config import HeraldConfig
from herald.shared.events import INCIDENT_EVENT_NAMES, IncidentEvent
from herald.shared.probes import ReadinessCheck, probe_routes
from herald.shared.settings import Settings
from herald.shared.streams import DurableKeeper, ensure_streams
from herald.shared.subjects import (
    ALERTS_STREAM,
    ALERTS_SUBJECTS,
    CORRELATOR_DURABLE,
    INCIDENTS_STREAM,
    incident_subject,
)

log = logging.getLogger("herald.correlator")

ACK_WAIT_SECONDS = 30.0
"""A message neither acked nor nacked within this time is redelivered (e.g. a crashed replica)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    config: HeraldConfig,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    batch_size: int = 1,
) -> Starlette:
    """The correlator app; NATS and Redis are opened by its lifespan.

    `batch_size` stays 1 by default: nats-py 2.15+ raises a bare asyncio.TimeoutError from an
    empty multi-message fetch, which FastStream 0.7 does not suppress (an ERROR traceback every
    idle poll); the one-message fetch raises the nats TimeoutError FastStream expects."""
    registry = CollectorRegistry()
    metrics = CorrelatorMetrics(registry)
    # JetStream may lose the durable (and the streams) under us: the keeper puts them back.
    keeper = DurableKeeper(ALERTS_STREAM, CORRELATOR_DURABLE, replicas=settings.stream_replicas)
    broker = NatsBroker(
        settings.nats_url,
        logger=logging.getLogger("herald.correlator.broker"),
        log_level=logging.DEBUG,  # FastStream's per-message "Received"/"Processed" lines
        max_reconnect_attempts=-1,  # a NATS outage of any length is waited out
        reconnected_cb=keeper.on_reconnected,
    )
    holder: dict[str, AlertConsumer] = {}

    @broker.subscriber(
        ALERTS_SUBJECTS,
        stream=JStream(ALERTS_STREAM, declare=False),  # ensure_streams() owns its configuration
        durable=CORRELATOR_DURABLE,
        pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
        config=ConsumerConfig(ack_wait=ACK_WAIT_SECONDS),
        # Ack only after the effects are stored and published; an exception means
        # redelivery (never FastStream's default of terminating the message).
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="correlator",
        description="Groups alert events into incidents per status-page service.",
    )
    async def on_alert(message: NatsMessage) -> None:
        try:
            await holder["consumer"].handle(message.body)
        except InvalidAlert as exc:
            log.error("dropping a message that is not an alert event", extra={"error": str(exc)})
            raise RejectMessage() from exc
        except Exception as exc:
            attempt = message.raw_message.metadata.num_delivered or 1
            delay = redelivery_delay(attempt)
            metrics.failures.inc()
            log.warning(
                "alert processing failed; it will be redelivered",
                extra={"error": repr(exc), "attempt": attempt, "retry_in_seconds": delay},
            )
            raise NackMessage(delay=delay) from exc

    def publisher(broker: NatsBroker) -> Publish:
        js = broker.connection.jetstream()

        async def publish(event: IncidentEvent) -> None:
            try:
                await js.publish(
                    incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind]),
                    event.model_dump_json().encode(),
                    stream=INCIDENTS_STREAM,
                    headers={"Nats-Msg-Id": event.event_id},
                )
            except NoStreamResponseError:
                keeper.wake()  # the stream is gone: re-create it before the redelivery
                raise
            metrics.published.labels(event.kind).inc()

        return publish

    async def recover_outboxes(consumer: AlertConsumer) -> None:
        """Publish what a previous run stored but did not get acknowledged, for the configured
        services and for any other one with pending events (removed from the config since)."""
        services = dict.fromkeys(config.services)
        try:
            services |= dict.fromkeys(await consumer.store.outbox_services())
        except Exception as exc:
            log.warning("could not list outboxes", extra={"error": repr(exc)})
        for service in services:
            try:
                if n := await consumer.flush(service):
                    log.info(
                        "republished pending events", extra={"service_id": service, "count": n}
                    )
            except Exception as exc:  # the next alert for that service flushes again
                log.warning(
                    "could not flush outbox", extra={"service_id": service, "error": repr(exc)}
                )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2.0, socket_timeout=5.0)
        try:
            store = CorrelatorStore(redis, config)
            await broker.connect()
            await ensure_streams(broker.connection.jetstream(), settings.stream_replicas)
            consumer = AlertConsumer(store, config, publisher(broker), metrics, clock)
            holder["consumer"] = consumer
            app.state.store = store
            app.state.redis = redis
            app.state.broker = broker
            await recover_outboxes(consumer)
            await broker.start()
            await keeper.start(broker.connection.jetstream())
            log.info("correlator started", extra={"services": list(config.services)})
            yield
        finally:
            await keeper.stop()
            await broker.stop()
            await redis.aclose()

    async def nats_ready() -> bool:
        try:
            return bool(broker.connection.is_connected)
        except Exception:
            return False

    async def redis_ready() -> bool:
        redis: Redis | None = getattr(app.state, "redis", None)
        return redis is not None and bool(await redis.ping())

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": nats_ready, "redis": redis_ready}

    async def unrouted(request: Request) -> Response:
        store: CorrelatorStore = request.app.state.store
        events = await store.unrouted()
        return JSONResponse([e.model_dump(mode="json") for e in events])

    app = Starlette(
        routes=[
            *probe_routes(checks, registry),
            Route("/api/unrouted", unrouted, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.keeper = keeper
    return app
