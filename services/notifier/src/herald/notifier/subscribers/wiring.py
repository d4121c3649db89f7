"""The subscriber side of the notifier, wired: two durable pull consumers (sign-up requests on
SUBSCRIPTIONS, incident events on INCIDENTS as `notifier-subscribers`), the loop sending due
topics, and the admin routes. `create_app` builds it when `subscribers.enabled` and a secret is
set, starts it in its lifespan and stops it there."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.routing import Route

from herald.notifier.api_tokens import ApiTokens
from herald.notifier.channels.channel import RetryableError
from herald.notifier.channels.smtp import DEFAULT_PORTS, SmtpSender, SmtpServer
from herald.notifier.subscribers.courier import Courier, Told
from herald.notifier.subscribers.digest_store import DigestStore
from herald.notifier.subscribers.hook import Hooks
from herald.notifier.subscribers.routes import subscriber_routes
from herald.notifier.timer_loop import TimerLoop
from herald.shared.backoff import Backoff
from herald.shared.config import ConfigError, HeraldConfig
from herald.shared.events import INCIDENT_EVENT_ADAPTER
from herald.shared.runtime import Clock, NatsConnection, PullConsumer, RedisClient
from herald.shared.subjects import (
    INCIDENTS_STREAM,
    INCIDENTS_SUBJECTS,
    NOTIFIER_DURABLE,
    SUBSCRIBERS_DURABLE,
    SUBSCRIPTIONS_STREAM,
    SUBSCRIPTIONS_SUBJECTS,
)
from herald.shared.subscriber_store import SubscriberStore
from herald.shared.subscriptions import SUBSCRIPTION_EVENT_ADAPTER, subscribers_secret

log = logging.getLogger("herald.notifier.subscribers")

ACK_WAIT_SECONDS = 60.0
MAX_DELIVER = 20
REDELIVERY = Backoff(base=2.0, cap=120.0)
FIRST_START_LOOKBACK = timedelta(minutes=15)


def smtp_server(config: HeraldConfig, env: Mapping[str, str]) -> SmtpServer:
    """`subscribers.smtp` with its secrets resolved, for the notifier's one SMTP sender."""
    smtp = config.subscribers.smtp
    try:
        username = smtp.username.resolve(dict(env)) if smtp.username else None
        password = smtp.password.resolve(dict(env)) if smtp.password else None
    except ValueError as exc:
        raise ConfigError(f"subscribers.smtp: {exc}") from None
    return SmtpServer(
        host=smtp.host,
        port=smtp.port or DEFAULT_PORTS[smtp.security],
        security=smtp.security,
        username=username,
        password=password,
        ca_file=smtp.ca_file,
        timeout_seconds=smtp.timeout_seconds,
    )


class SubscriberDesk:
    def __init__(
        self,
        config: HeraldConfig,
        key: bytes,
        nats: NatsConnection,
        redis: RedisClient,
        clock: Clock,
        api_tokens: ApiTokens,
        *,
        mailer: SmtpSender | None,
        replicas: int = 1,
        on_told: Callable[[Told], None] | None = None,
    ) -> None:
        self.store = SubscriberStore(redis)
        self.hooks = Hooks(config.subscribers.private_webhooks, clock)
        self.courier = Courier(
            config,
            key,
            self.store,
            DigestStore(redis),
            mailer,
            self.hooks,
            clock,
            on_told=on_told,
        )
        self.timer = TimerLoop(self.courier.fire, self.courier.next_due, clock)
        start = (clock() - FIRST_START_LOOKBACK).replace(second=0, microsecond=0)
        self.events = PullConsumer(
            nats,
            stream=INCIDENTS_STREAM,
            subjects=INCIDENTS_SUBJECTS,
            config=self._config(SUBSCRIBERS_DURABLE, DeliverPolicy.BY_START_TIME, start),
            handle=self._on_event,
            replicas=replicas,
        )
        self.requests = PullConsumer(
            nats,
            stream=SUBSCRIPTIONS_STREAM,
            subjects=SUBSCRIPTIONS_SUBJECTS,
            config=self._config(NOTIFIER_DURABLE, DeliverPolicy.ALL, None),
            handle=self._on_request,
            concurrency=4,
            replicas=replicas,
        )
        self.routes: list[Route] = subscriber_routes(self.store, api_tokens)

    @staticmethod
    def _config(durable: str, deliver: DeliverPolicy, start: datetime | None) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=MAX_DELIVER,
            deliver_policy=deliver,
            opt_start_time=start,
            max_ack_pending=1000,
        )

    async def start(self) -> None:
        await self.events.start()
        await self.requests.start()
        self.timer.start()

    async def stop(self) -> None:
        await self.timer.stop()
        await self.requests.stop(grace=ACK_WAIT_SECONDS)
        await self.events.stop(grace=ACK_WAIT_SECONDS)
        await self.hooks.aclose()

    async def _on_event(self, msgs: Sequence[Msg]) -> None:
        (msg,) = msgs
        try:
            event = INCIDENT_EVENT_ADAPTER.validate_json(msg.data)
        except ValidationError:
            await msg.term()  # the paging consumer says so loudly
            return
        try:
            due = await self.courier.on_event(event)
        except (RedisError, OSError):
            await self._retry(msg)
            return
        await msg.ack()
        if due:
            self.timer.wake()

    async def _on_request(self, msgs: Sequence[Msg]) -> None:
        (msg,) = msgs
        try:
            request = SUBSCRIPTION_EVENT_ADAPTER.validate_json(msg.data)
        except ValidationError:
            log.error("not a sign-up request, dropped")
            await msg.term()
            return
        try:
            await self.courier.on_request(request)
        except (RetryableError, RedisError, OSError) as exc:
            log.info("sign-up request not handled yet: %s", exc)
            await self._retry(msg)
            return
        await msg.ack()

    @staticmethod
    async def _retry(msg: Msg) -> None:
        delivered = msg.metadata.num_delivered or 1
        if delivered >= MAX_DELIVER:
            log.warning("giving up on %s after %s deliveries", msg.subject, delivered)
            await msg.term()
        else:
            await msg.nak(delay=REDELIVERY.delay(delivered))


def subscriber_desk(
    config: HeraldConfig,
    env: Mapping[str, str],
    nats: NatsConnection,
    redis: RedisClient,
    clock: Clock,
    api_tokens: ApiTokens,
    *,
    replicas: int = 1,
    on_told: Callable[[Told], None] | None = None,
) -> SubscriberDesk | None:
    """The desk, or None (said once) when subscribers are off or no secret is set."""
    if not config.subscribers.enabled:
        return None
    key = subscribers_secret(config, env)
    if key is None:
        log.warning(
            "subscribers.enabled but no secret (subscribers.secret or HERALD_SUBSCRIBERS_SECRET): "
            "nobody is told"
        )
        return None
    mailer = SmtpSender(smtp_server(config, env)) if config.subscribers.email else None
    return SubscriberDesk(
        config,
        key,
        nats,
        redis,
        clock,
        api_tokens,
        mailer=mailer,
        replicas=replicas,
        on_told=on_told,
    )
