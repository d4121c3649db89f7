"""The notifier's wiring: a Starlette app whose lifespan runs a FastStream NATS consumer.

The durable pull consumer `notifier` reads the INCIDENTS stream with a manual ack policy:
a message is acked only once every channel's notification is recorded in Redis, nak'ed with a
growing delay while some channel is pending, and terminated (loudly) on its last delivery.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import redis.asyncio as aioredis
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from starlette.applications import Starlette

from herald.notifier.channels import Channel, open_channels, plan_channels
from herald.notifier.ledger import Ledger
from herald.notifier.metrics import NotifierMetrics
from herald.notifier.pager import Handled, Pager
from herald.notifier.redelivery import Decision, RetryPolicy, Verdict, decide
from herald.shared.config import HeraldConfig
from herald.shared.events import INCIDENT_EVENT_ADAPTER
from herald.shared.probes import ReadinessCheck, probe_routes
from herald.shared.settings import Settings
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, INCIDENTS_SUBJECTS, NOTIFIER_DURABLE

log = logging.getLogger("herald.notifier")

ACK_WAIT_SECONDS = 90.0
"""Longer than the slowest channel (webhook timeouts are at most 60 s; channels run concurrently)."""

FIRST_START_LOOKBACK = timedelta(minutes=15)
"""A brand-new durable starts this far back: events published just before the notifier's first
start are still paged, a month of history is not. An existing durable keeps its position."""

Observer = Callable[[Handled], None]


def consumer_config(policy: RetryPolicy, now: datetime) -> ConsumerConfig:
    """The durable's config; `opt_start_time` is rounded to the minute so that replicas starting
    together create identical configs (JetStream accepts an identical re-create)."""
    start = (now - FIRST_START_LOOKBACK).replace(second=0, microsecond=0)
    return ConsumerConfig(
        durable_name=NOTIFIER_DURABLE,
        ack_policy=JsAckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT_SECONDS,
        max_deliver=policy.max_deliver,
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=start,
        max_ack_pending=1000,
    )


@dataclass
class Runtime:
    """What the lifespan opens and the handler uses."""

    pager: Pager | None = None
    redis: aioredis.Redis | None = None


def create_app(
    config: HeraldConfig,
    settings: Settings,
    *,
    channels: Mapping[str, Channel] | None = None,
    retry: RetryPolicy | None = None,
    registry: CollectorRegistry | None = None,
    observe: Observer | None = None,
    max_workers: int = 16,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Starlette:
    """Wire the notifier. `channels` replaces the configured ones (tests); `observe` is told
    about every handled delivery, after its ack or nak. ConfigError when a secret is missing."""
    policy = retry or RetryPolicy()
    registry = registry if registry is not None else CollectorRegistry()
    metrics = NotifierMetrics(registry)
    plan = plan_channels(config, environ)
    runtime = Runtime()

    # FastStream's own logger writes coloured text to stdout; ours goes through the JSON handler.
    broker = NatsBroker(
        settings.nats_url,
        logger=logging.getLogger("herald.notifier.broker"),
        log_level=logging.DEBUG,  # per-message access logs
        graceful_timeout=30.0,
    )
    subscriber = broker.subscriber(
        INCIDENTS_SUBJECTS,
        stream=JStream(INCIDENTS_STREAM, declare=False),
        durable=NOTIFIER_DURABLE,
        config=consumer_config(policy, now()),
        # One message per fetch: an empty multi-message fetch in nats-py 2.15+ raises a bare
        # asyncio.TimeoutError that FastStream 0.7 logs as an ERROR; workers still run in parallel.
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        max_workers=max_workers,
        ack_policy=AckPolicy.MANUAL,
    )

    async def apply(msg: NatsMessage, decision: Decision) -> None:
        if decision.verdict is Verdict.ACK:
            await msg.ack()
        elif decision.verdict is Verdict.RETRY:
            await msg.nack(delay=decision.delay)
        else:
            await msg.reject()

    @subscriber
    async def on_incident_event(msg: NatsMessage) -> None:
        num_delivered = msg.raw_message.metadata.num_delivered
        try:
            event = INCIDENT_EVENT_ADAPTER.validate_json(msg.body)
        except ValidationError as exc:
            log.error(
                "not an incident event, dropped: %s",
                exc.errors(include_input=False, include_url=False)[:3],
                extra={"subject": msg.raw_message.subject},
            )
            metrics.events.labels("unknown", "invalid").inc()
            await msg.reject()
            return
        assert runtime.pager is not None, "the broker starts after the pager is built"
        try:
            handled = await runtime.pager.handle(event, num_delivered)
        except Exception:
            # Not expected (channel and ledger failures are results), but never lose the event.
            decision = decide(("*",), num_delivered, policy)
            log.exception(
                "handling %s failed (%s)",
                event.event_id,
                decision.verdict.value,
                extra={"event_id": event.event_id, "num_delivered": num_delivered},
            )
            metrics.events.labels(event.kind, decision.verdict.value).inc()
            handled = Handled(event.event_id, event.kind, num_delivered, decision, reason="error")
        await apply(msg, handled.decision)
        if observe is not None:
            observe(handled)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        redis = aioredis.from_url(settings.redis_url)
        http = httpx.AsyncClient()
        try:
            for cid, why in plan.disabled.items():
                log.warning("channel %s is disabled: %s", cid, why, extra={"channel": cid})
            opened = channels if channels is not None else open_channels(plan, http)
            runtime.pager = Pager(config, opened, Ledger(redis), metrics, policy)
            runtime.redis = redis
            connection = await broker.connect()
            await ensure_streams(connection.jetstream(), settings.stream_replicas)
            await broker.start()
            log.info("consuming %s as durable %s", INCIDENTS_STREAM, NOTIFIER_DURABLE)
            yield
        finally:
            await broker.stop()
            await http.aclose()
            await redis.aclose()

    async def nats_ready() -> bool:
        return bool(await broker.ping(timeout=1.0))

    async def redis_ready() -> bool:
        return runtime.redis is not None and bool(await runtime.redis.ping())

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": nats_ready, "redis": redis_ready}

    app = Starlette(routes=probe_routes(checks, registry), lifespan=lifespan)
    app.state.broker = broker
    app.state.metrics = metrics
    app.state.registry = registry
    return app
