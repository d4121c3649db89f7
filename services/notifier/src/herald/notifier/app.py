"""The notifier process: a durable pull consumer of INCIDENTS inside a Starlette app.

Wiring, in the shape every Herald service has: build the adapters (NATS and Redis through
herald.shared.runtime, the HTTP client and channels), build the use case with its collaborators
as arguments (`Pager`), and a lifespan that opens the adapters and yields the typed state.

The durable pull consumer `notifier` reads the INCIDENTS stream with explicit acks: a message is
acked only once every channel's notification is recorded in Redis, nak'ed with a growing delay
while some channel is pending, and terminated (loudly) on its last delivery.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypedDict

import httpx
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware

from herald.notifier.ack_link import Links
from herald.notifier.api_tokens import api_tokens_for
from herald.notifier.channels import MAX_SEND_SECONDS, Channel, open_channels, plan_channels
from herald.notifier.channels.secrecy import keep_urls_out_of_logs
from herald.notifier.dispatch import Dispatcher
from herald.notifier.escalation_store import LEASE_SECONDS, EscalationStore
from herald.notifier.escalator import Escalator, Handling, NoticeRun, StepRun
from herald.notifier.ledger import Ledger
from herald.notifier.metrics import NotifierMetrics
from herald.notifier.pager import Handled, Pager
from herald.notifier.redelivery import Decision, RetryPolicy, Verdict, decide
from herald.notifier.routes import notifier_routes
from herald.notifier.send_window import SendWindow
from herald.notifier.subscribers.courier import Told
from herald.notifier.subscribers.wiring import subscriber_desk
from herald.notifier.timer_loop import TimerLoop
from herald.shared.config import ConfigError, HeraldConfig
from herald.shared.events import INCIDENT_EVENT_ADAPTER, RESPONSE_EVENT_NAMES, ResponseEvent
from herald.shared.probes import ReadinessCheck, probe_app
from herald.shared.replication import NotReplicated, Replication
from herald.shared.runtime import Clock, NatsConnection, PullConsumer, open_redis, utc_now
from herald.shared.security import SMALL_PAGE_POLICY, SecurityHeaders
from herald.shared.settings import Settings
from herald.shared.streams import ensure_streams
from herald.shared.subjects import (
    INCIDENTS_STREAM,
    INCIDENTS_SUBJECTS,
    NOTIFIER_DURABLE,
    response_subject,
)

log = logging.getLogger("herald.notifier")

ACK_WAIT_SECONDS = MAX_SEND_SECONDS + 30.0
"""Longer than the slowest handling: channels are sent concurrently and each send is cut off after
MAX_SEND_SECONDS; the rest is a few ledger steps."""

CLAIM_TTL_SECONDS = int(ACK_WAIT_SECONDS + 30.0)
"""A notification's claim outlasts its whole handling (longer than ack_wait, so longer than the
send): no other worker takes it over and sends again while it is being sent."""

FIRST_START_LOOKBACK = timedelta(minutes=15)
"""A brand-new durable starts this far back: events published just before the notifier's first
start are still paged, a month of history is not. An existing durable keeps its position."""

Observer = Callable[[Handled], None]


def pending_page_ttl(policy: RetryPolicy) -> int:
    """How long a pending page holds its incident's resolve back without a new attempt: longer
    than the gap between two attempts (the longest nak delay, plus one handling, plus as much
    again for a busy consumer). Past it the page is taken as lost and the resolve goes."""
    return math.ceil(policy.max_delay + 2 * ACK_WAIT_SECONDS)


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


def policy_in_force(policy: RetryPolicy, durable_max_deliver: int) -> RetryPolicy:
    """`policy` bounded by the durable's own `max_deliver` (JetStream makes no delivery past it):
    the last delivery it makes is then the one given up loudly."""
    if 0 < durable_max_deliver < policy.max_deliver:
        return replace(policy, max_deliver=durable_max_deliver)
    return policy


async def update_durable(js: JetStreamContext, policy: RetryPolicy) -> RetryPolicy:
    """Bring an existing durable's retry bounds (`max_deliver`, `ack_wait`) up to date; return
    the retry policy in force.

    The subscriber only creates a missing durable; an existing one keeps the config it was created
    with, so without this a new retry policy would never reach a running deployment. Both fields
    may be edited on a live consumer, its position is kept. Servers before nats-server 2.10 refuse
    to edit a consumer with a start time: then the durable's bounds stay, said loudly, and the
    policy is bounded by them."""
    try:
        info = await js.consumer_info(INCIDENTS_STREAM, NOTIFIER_DURABLE)
    except NotFoundError:
        return policy
    current = info.config
    if current.max_deliver == policy.max_deliver and current.ack_wait == ACK_WAIT_SECONDS:
        return policy
    wanted = current.evolve(max_deliver=policy.max_deliver, ack_wait=ACK_WAIT_SECONDS)
    try:
        await js.add_consumer(INCIDENTS_STREAM, config=wanted)
    except APIError as exc:
        in_force = policy_in_force(policy, current.max_deliver or 0)
        log.warning(
            "cannot update durable %s (%s): it keeps max_deliver %s and ack_wait %s s, retries "
            "last %.0f s; delete the durable (or upgrade NATS) to get max_deliver %s",
            NOTIFIER_DURABLE,
            exc.description,
            current.max_deliver,
            current.ack_wait,
            in_force.horizon,
            policy.max_deliver,
        )
        return in_force
    log.info(
        "durable %s updated: max_deliver %s -> %s, ack_wait %s -> %s s",
        NOTIFIER_DURABLE,
        current.max_deliver,
        policy.max_deliver,
        current.ack_wait,
        ACK_WAIT_SECONDS,
    )
    return policy


class State(TypedDict):
    pager: Pager
    escalator: Escalator


def links_for(config: HeraldConfig, env: Mapping[str, str]) -> Links | None:
    """The acknowledge links of this deployment: `notifier.ack_secret` (else HERALD_ACK_SECRET)
    signs them, `notifier.public_url` (else HERALD_NOTIFIER_URL) is their base; None (pages
    carry no links) when either is missing. ConfigError when the secret cannot be read."""
    cfg = config.notifier
    try:
        secret = cfg.ack_secret.resolve(dict(env)) if cfg.ack_secret is not None else None
    except ValueError as exc:
        raise ConfigError(f"notifier.ack_secret: {exc}") from None
    secret = secret or env.get("HERALD_ACK_SECRET") or None
    base = cfg.public_url or env.get("HERALD_NOTIFIER_URL", "")
    if not secret or not base:
        return None
    return Links(
        key=secret.encode(),
        base_url=base,
        valid_for=timedelta(minutes=cfg.ack_link_minutes),
        resolve_links=cfg.resolve_links,
    )


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
    clock: Clock = utc_now,
    on_step: Callable[[StepRun], None] | None = None,
    lease_seconds: float = LEASE_SECONDS,
    on_told: Callable[[Told], None] | None = None,
    on_notice: Callable[[NoticeRun], None] | None = None,
) -> Starlette:
    """Wire the notifier. `channels` replaces the configured ones (tests); `observe` is told
    about every handled delivery, after its ack or nak; `on_step` about every escalation step
    run; `on_notice` about every acknowledgement, resolve or worsening notice told; `on_told`
    about every message to a subscriber. ConfigError when a secret is missing."""
    env = dict(os.environ if environ is None else environ)
    policy = retry or RetryPolicy()
    registry = registry if registry is not None else CollectorRegistry()
    metrics = NotifierMetrics(registry)
    keep_urls_out_of_logs()
    plan = plan_channels(config, environ)
    nats = NatsConnection(settings.nats_url, "herald-notifier")
    redis = open_redis(settings.redis_url)
    http = httpx.AsyncClient()
    opened = channels if channels is not None else open_channels(plan, http)

    def in_force() -> RetryPolicy:
        """The policy bounded by the durable's max_deliver as last seen (`update_durable`)."""
        seen = consumer.keeper.config
        return policy_in_force(policy, (seen.max_deliver or 0) if seen is not None else 0)

    ledger = Ledger(redis, claim_ttl=CLAIM_TTL_SECONDS, pending_ttl=pending_page_ttl(policy))
    pager = Pager(config, opened, ledger, metrics, in_force)
    links = links_for(config, env)
    api_tokens = api_tokens_for(config, env)
    desk = subscriber_desk(
        config,
        env,
        nats,
        redis,
        http,
        clock,
        api_tokens,
        replicas=settings.stream_replicas,
        on_told=on_told,
    )

    async def publish_response(event: ResponseEvent) -> None:
        subject = response_subject(event.service, RESPONSE_EVENT_NAMES[event.kind])
        await nats.js.publish(
            subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
        )

    dispatcher = Dispatcher(
        opened,
        ledger,
        redis,
        metrics,
        clock,
        concurrency={cid: ch.concurrency for cid, ch in config.channels.items()},
        rate_limits={
            cid: ch.rate_limit for cid, ch in config.channels.items() if ch.rate_limit is not None
        },
        throttle=config.notifier.throttle,
        window=SendWindow(redis, clock),
        # as long as the escalation lease, renewed as it is: a dead replica's claims end with
        # its leases (a live one's outlast them: its sends are not repeated)
        claim_seconds=lease_seconds,
    )
    # the escalation records an INCIDENTS message is acknowledged after wait for a replica
    # where one may be promoted (a Sentinel, a Cluster: docs/reliability.md, bug 8)
    replication = Replication(settings.redis_wait_ms) if settings.redis_wait_ms else None
    store = EscalationStore(redis, lease_seconds=lease_seconds, replication=replication)
    timers: list[TimerLoop] = []
    escalator = Escalator(
        config,
        store,
        dispatcher,
        metrics,
        clock,
        links=links,
        publish=publish_response,
        wake=lambda: timers[0].wake() if timers else None,
        on_step=on_step,
        on_notice=on_notice,
    )
    timers.append(TimerLoop(escalator.fire, escalator.next_due, clock))

    async def on_incident_event(msgs: Sequence[Msg]) -> None:
        (msg,) = msgs  # one message per fetch (batch 1): each is handled on its own
        num_delivered = msg.metadata.num_delivered or 1
        try:
            event = INCIDENT_EVENT_ADAPTER.validate_json(msg.data)
        except ValidationError as exc:
            log.error(
                "not an incident event, dropped: %s",
                exc.errors(include_input=False, include_url=False)[:3],
                extra={"subject": msg.subject},
            )
            metrics.events.labels("unknown", "invalid").inc()
            await msg.term()
            return
        try:
            escalated = await escalator.on_event(event, num_delivered)
            if escalated is None:
                handled = await pager.handle(event, num_delivered)
            else:
                if escalated is Handling.ACK:
                    decision = Decision(Verdict.ACK)
                else:
                    decision = decide(("escalation",), num_delivered, in_force())
                metrics.events.labels(event.kind, decision.verdict.value).inc()
                handled = Handled(
                    event.event_id, event.kind, num_delivered, decision, reason="escalation"
                )
        except NotReplicated as exc:
            # stored on the master, not yet on a replica: redelivered, not acknowledged (a
            # failover now would lose it); the redelivery confirms or redoes it
            decision = decide(("replica",), num_delivered, in_force())
            log.warning(
                "%s not confirmed by a Redis replica (%s): %s",
                event.event_id,
                decision.verdict.value,
                exc,
                extra={"event_id": event.event_id, "num_delivered": num_delivered},
            )
            metrics.events.labels(event.kind, decision.verdict.value).inc()
            handled = Handled(event.event_id, event.kind, num_delivered, decision, reason="replica")
        except Exception:
            # Not expected (channel and ledger failures are results), but never lose the event.
            decision = decide(("*",), num_delivered, in_force())
            log.exception(
                "handling %s failed (%s)",
                event.event_id,
                decision.verdict.value,
                extra={"event_id": event.event_id, "num_delivered": num_delivered},
            )
            metrics.events.labels(event.kind, decision.verdict.value).inc()
            handled = Handled(event.event_id, event.kind, num_delivered, decision, reason="error")
        await settle(msg, handled.decision)
        if observe is not None:
            observe(handled)

    consumer = PullConsumer(
        nats,
        stream=INCIDENTS_STREAM,
        subjects=INCIDENTS_SUBJECTS,
        config=consumer_config(policy, clock()),
        handle=on_incident_event,
        batch=1,
        concurrency=max_workers,
        replicas=settings.stream_replicas,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[State]:
        try:
            for cid, why in plan.disabled.items():
                log.warning("channel %s is disabled: %s", cid, why, extra={"channel": cid})
            for cid, which in plan.skipped.items():
                log.info("channel %s: %s, skipped", cid, which, extra={"channel": cid})
            await nats.connect()
            await ensure_streams(nats.js, settings.stream_replicas)
            await update_durable(nats.js, policy)
            await consumer.start()
            log.info("consuming %s as durable %s", INCIDENTS_STREAM, NOTIFIER_DURABLE)
            if links is None:
                log.warning(
                    "pages carry no acknowledge links: set notifier.ack_secret (or "
                    "HERALD_ACK_SECRET) and notifier.public_url (or HERALD_NOTIFIER_URL)"
                )
            timers[0].start()
            if desk is not None:
                await desk.start()
            yield {"pager": pager, "escalator": escalator}
        finally:
            if desk is not None:
                await desk.stop()
            await timers[0].stop()
            await consumer.stop(grace=ACK_WAIT_SECONDS)
            await escalator.drain(grace=lease_seconds)
            await nats.close()
            await http.aclose()
            await redis.aclose()

    async def nats_ready() -> bool:
        return nats.is_connected

    async def redis_ready() -> bool:
        return bool(await redis.ping())

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": nats_ready, "redis": redis_ready}

    routes = notifier_routes(config, escalator, links, api_tokens, clock, redis)
    if desk is not None:
        routes = [*routes, *desk.routes]
    # the ack page is HTML reached from a message: the browser headers, its style inline
    middleware = [Middleware(SecurityHeaders, policy=SMALL_PAGE_POLICY)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.keeper = consumer.keeper
    app.state.registry = registry
    app.state.probes = probe_app(checks, registry)  # the internal port
    return app


async def settle(msg: Msg, decision: Decision) -> None:
    """Ack, nak with the decision's delay, or terminate the message."""
    if decision.verdict is Verdict.ACK:
        await msg.ack()
    elif decision.verdict is Verdict.RETRY:
        await msg.nak(delay=decision.delay)
    else:
        await msg.term()
