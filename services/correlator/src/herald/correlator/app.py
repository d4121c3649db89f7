"""The correlator process: durable pull consumers of ALERTS, COMMANDS (the admin API) and
RESPONSES (the notifier's acknowledgements and resolve requests) inside a Starlette app.

Wiring, in the shape every Herald service has: build the adapters (NATS and Redis through
herald.shared.runtime), build the use case with its collaborators as arguments (`Correlator`:
the store, the publisher, the clock), and a lifespan that opens the adapters and yields the
typed state the handlers read. The lifespan republishes whatever a previous run left in the
outboxes, then starts the consumer. The message handler only translates.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TypedDict

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.correlator.consumer import REDELIVERY, Correlator, InvalidAlert
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.publisher import IncidentPublisher
from herald.correlator.reads import read_routes
from herald.correlator.store import CorrelatorStore
from herald.shared.batch_budget import BatchBudget
from herald.shared.config import HeraldConfig
from herald.shared.probes import ReadinessCheck, probe_app
from herald.shared.replication import Replication
from herald.shared.runtime import (
    Clock,
    NatsConnection,
    PullConsumer,
    Recheck,
    open_redis,
    utc_now,
)
from herald.shared.settings import Settings
from herald.shared.subjects import (
    ALERTS_STREAM,
    ALERTS_SUBJECTS,
    COMMANDS_STREAM,
    COMMANDS_SUBJECTS,
    CORRELATOR_COMMANDS_DURABLE,
    CORRELATOR_DURABLE,
    CORRELATOR_RESPONSES_DURABLE,
    RESPONSES_STREAM,
    RESPONSES_SUBJECTS,
)

log = logging.getLogger("herald.correlator")

ACK_WAIT_SECONDS = 30.0
"""A message neither acked nor nacked within this time is redelivered (e.g. a crashed replica)."""

EXPIRY_SECONDS = 60.0
"""How often the alerts no notification mentioned for `alerts.stale_after` are looked for."""

PUBLIC_CLOCK_SECONDS = 1.0
"""How often the services whose due time has come are stepped (`publish_after`,
`recovery_hold`): the public page changes at most this late."""

BATCH = 4096
"""Alert messages fetched and handled together at most, while nothing is known of the rate. A
fetch returns what is pending (a lone alert at once); only a backlog fills a batch. Most of a
step's cost is per service (its head, its most relevant alerts, the shown list and timeline
text, one IncidentUpdated): with 500 services a batch of 1,024 was ~2 alerts per step, 4,096 ~8,
and half the CPU per alert (bench.correlation). One batch is in hand at a time: what arrives
meanwhile comes as the next batch, whole (several partial batches in hand were each ~1 alert
per service, waiting for each other's service locks). 4,096 at the slowest rate measured on a
loaded 2-core machine, ~200 alerts/s, take 20 s: within ACK_WAIT_SECONDS."""

MAX_BATCH = 16384
"""The largest batch (`BATCH_SECONDS` at the rate measured decides, from BATCH up to this): at 500
services 16,384 handled 6,319 firing alerts/s where 4,096 handled 2,711 (bench.correlation)."""

BATCH_SECONDS = ACK_WAIT_SECONDS / 3
"""How long a batch should take at the rate the last ones were handled: its last message is
acked well within `ack_wait` even when the next batch is slower than the last."""

MAX_ACK_PENDING = 16 * BATCH
"""Messages the durable hands out unacknowledged at most, to all replicas together. It must be
well above what the replicas hold (up to MAX_BATCH each: 65,536 is four of those): a fetch
asking for more than the durable may still hand out is answered only up to that, and then waits
for its whole timeout."""

ORDER_BATCH = 16
"""COMMANDS or RESPONSES messages fetched together at most (applied one at a time, in order)."""

SWEEP_SECONDS = 1.0
"""How often what is due by time is looked for (maintenance windows start and end, overrides
expire): a window starts within this of its time."""


class State(TypedDict):
    correlator: Correlator


def create_app(
    config: HeraldConfig,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    batch_size: int | None = None,
) -> Starlette:
    """The correlator app; NATS and Redis are opened by its lifespan. `batch_size`: alert
    batches of that many at most (tests); None: from BATCH to MAX_BATCH, by the rate measured."""
    registry = CollectorRegistry()
    metrics = CorrelatorMetrics(registry)
    nats = NatsConnection(settings.nats_url, "herald-correlator")
    redis = open_redis(settings.redis_url)
    replication = Replication(settings.redis_wait_ms) if settings.redis_wait_ms else None
    store = CorrelatorStore(redis, config, replication)
    publisher = IncidentPublisher(nats, metrics, encode=store.event_json)
    correlator = Correlator(store, config, publisher, metrics, clock)

    async def on_alerts(msgs: Sequence[Msg]) -> None:
        # The batch at once: one store step per service. Ack a message only after its effects
        # are stored and published; a failure means redelivery (of that message).
        results = await correlator.handle_batch([msg.data for msg in msgs])
        with metrics.phase("acks"):
            await _settle(msgs, results)

    async def _settle(msgs: Sequence[Msg], results: Sequence[object]) -> None:
        for msg, result in zip(msgs, results, strict=True):
            if isinstance(result, InvalidAlert):
                log.error(
                    "dropping a message that is not an alert event", extra={"error": str(result)}
                )
                await msg.term()
            elif isinstance(result, Exception):
                attempt = msg.metadata.num_delivered or 1
                delay = REDELIVERY.delay(attempt)
                metrics.failures.inc()
                log.warning(
                    "alert processing failed; it will be redelivered",
                    extra={"error": repr(result), "attempt": attempt, "retry_in_seconds": delay},
                )
                await msg.nak(delay=delay)
            else:
                await msg.ack()

    budget = BatchBudget(batch_size or BATCH, batch_size or MAX_BATCH, BATCH_SECONDS)
    consumer = PullConsumer(
        nats,
        stream=ALERTS_STREAM,
        subjects=ALERTS_SUBJECTS,
        config=ConsumerConfig(
            durable_name=CORRELATOR_DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            max_ack_pending=max(MAX_ACK_PENDING, 4 * budget.most),
        ),
        handle=on_alerts,
        batch=budget.least,
        budget=budget,
        concurrency=budget.most,
        max_batches=1,
        replicas=settings.stream_replicas,
        observe=lambda phase, seconds: metrics.phase_seconds.labels(phase).observe(seconds),
    )

    expiry = Recheck("stale-alerts", correlator.expire_stale, interval=EXPIRY_SECONDS)
    public_clock = Recheck("public-clock", correlator.tick_due, interval=PUBLIC_CLOCK_SECONDS)

    def one_at_a_time(
        handle: Callable[[bytes], Awaitable[object]], what: str
    ) -> Callable[[Sequence[Msg]], Awaitable[None]]:
        """The handler of a stream of orders (commands, responses): one at a time, in order, a
        message is acked once every service it concerns stored it (and published what it
        made); a failure redelivers it, and the services that had it already find its id
        remembered."""

        async def on_orders(msgs: Sequence[Msg]) -> None:
            for msg in msgs:
                try:
                    await handle(msg.data)
                except InvalidAlert as exc:
                    log.error(f"dropping a message that is not a {what}", extra={"error": str(exc)})
                    await msg.term()
                except Exception as exc:
                    attempt = msg.metadata.num_delivered or 1
                    metrics.failures.inc()
                    log.warning(
                        f"{what} processing failed; it will be redelivered",
                        extra={"error": repr(exc), "attempt": attempt},
                    )
                    await msg.nak(delay=REDELIVERY.delay(attempt))
                else:
                    await msg.ack()

        return on_orders

    def order_consumer(
        stream: str, subjects: str, durable: str, handle: Callable[[Sequence[Msg]], Awaitable[None]]
    ) -> PullConsumer:
        return PullConsumer(
            nats,
            stream=stream,
            subjects=subjects,
            config=ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_SECONDS,
            ),
            handle=handle,
            batch=ORDER_BATCH,
            concurrency=ORDER_BATCH,
            replicas=settings.stream_replicas,
        )

    command_consumer = order_consumer(
        COMMANDS_STREAM,
        COMMANDS_SUBJECTS,
        CORRELATOR_COMMANDS_DURABLE,
        one_at_a_time(correlator.handle_command, "command"),
    )
    response_consumer = order_consumer(
        RESPONSES_STREAM,
        RESPONSES_SUBJECTS,
        CORRELATOR_RESPONSES_DURABLE,
        one_at_a_time(correlator.handle_response, "response"),
    )
    sweep = Recheck("due-by-time", correlator.sweep, interval=SWEEP_SECONDS)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[State]:
        try:
            await nats.connect()
            await correlator.recover()
            await consumer.start()
            await command_consumer.start()
            await response_consumer.start()
            expiry.start()
            public_clock.start()
            sweep.start()
            log.info("correlator started", extra={"services": list(config.services)})
            yield {"correlator": correlator}
        finally:
            await sweep.stop()
            await public_clock.stop()
            await expiry.stop()
            await response_consumer.stop()
            await command_consumer.stop()
            await consumer.stop()
            await nats.close()
            await redis.aclose()

    async def nats_ready() -> bool:
        return nats.is_connected

    async def redis_ready() -> bool:
        return bool(await redis.ping())

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": nats_ready, "redis": redis_ready}

    async def unrouted(request: Request) -> Response:
        use: Correlator = request.state.correlator
        events = await use.store.unrouted()
        return JSONResponse([e.model_dump(mode="json") for e in events])

    app = Starlette(
        routes=[
            Route("/api/unrouted", unrouted, methods=["GET"]),
            *read_routes(),
        ],
        lifespan=lifespan,
    )
    app.state.keeper = consumer.keeper
    app.state.probes = probe_app(checks, registry)  # the internal port
    return app
