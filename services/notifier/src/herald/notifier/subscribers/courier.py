"""The subscriber use case: sign-up requests in, incident events in, messages out.

- `on_request`: a sign-up from the status page. Email: send the confirmation mail (the link
  carries the sign-up, signed and expiring; nothing is stored before it is confirmed). Webhook:
  POST a challenge; the subscriber is stored once the answer echoes it.
- `on_event`: an INCIDENTS event. Internal incidents (`public: false`) are never told. The event
  becomes its topic's latest state, due when `coalesce.due_at` says. A maintenance window's
  change (`maintenance.changed`, one per service it covers) is its topic's state too, versioned
  by the state it reached, so whichever service's copy, replica or redelivery brings a state,
  it is told once; each state goes at once (a window has at most three).
- `fire`: sends every due topic's latest state to the subscribers who follow its component,
  each once per version (recorded), then marks it told; failures retry with a backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal

from herald.notifier.channels.channel import ChannelError, PermanentError
from herald.notifier.channels.smtp import SmtpSender
from herald.notifier.subscribers import letter, payload
from herald.notifier.subscribers.coalesce import change_of, due_at
from herald.notifier.subscribers.digest_store import DigestStore, Pending
from herald.notifier.subscribers.hook import Hooks
from herald.notifier.subscribers.payload import JSON
from herald.shared.backoff import Backoff
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    ComponentStatusChanged,
    IncidentEvent,
    MaintenanceChanged,
)
from herald.shared.public_page import public_view
from herald.shared.runtime import Clock
from herald.shared.subscriber_store import SubscriberStore
from herald.shared.subscription_links import (
    confirmation_token,
    new_confirmation,
    unsubscribe_token,
    webhook_key,
)
from herald.shared.subscriptions import (
    Subscriber,
    SubscriptionRequested,
    public_base,
    subscriber_id,
)

log = logging.getLogger("herald.notifier.subscribers")

LEASE = timedelta(seconds=90)
"""A claimed topic is someone's for this long (longer than sending it to everyone takes)."""

RETRY = Backoff(base=5.0, cap=600.0)
MAX_ATTEMPTS = 12
"""A topic whose sends keep failing is given up after this many rounds (about an hour)."""

CONCURRENT_SENDS = 8

VERIFIED = "subscription"
"""The topic of the Told reported when a webhook subscriber answered its challenge."""


@dataclass(frozen=True)
class Told:
    """One message sent (or given up), for tests and metrics."""

    subscriber_id: str
    channel: str
    topic: str
    version: int
    outcome: Literal["sent", "failed", "refused"]


class Courier:
    def __init__(
        self,
        config: HeraldConfig,
        key: bytes,
        subscribers: SubscriberStore,
        digests: DigestStore,
        mailer: SmtpSender | None,
        hooks: Hooks,
        clock: Clock,
        *,
        on_told: Callable[[Told], None] | None = None,
    ) -> None:
        self.config = config
        self.key = key
        self.subscribers = subscribers
        self.digests = digests
        self.mailer = mailer
        self.hooks = hooks
        self.clock = clock
        self.on_told = on_told
        self.interval = config.subscribers.coalesce
        self.base = public_base(config)

    # -- links --------------------------------------------------------------------------

    def unsubscribe_url(self, sid: str) -> str:
        return f"{self.base}/unsubscribe?token={unsubscribe_token(self.key, sid)}"

    def envelope(self, recipient: str) -> letter.Envelope:
        sender = self.config.subscribers.sender or f"{self.config.page.title} <status@localhost>"
        return letter.Envelope(sender=sender, recipient=recipient)

    # -- sign-up ------------------------------------------------------------------------

    async def on_request(self, request: SubscriptionRequested) -> None:
        """Raises RetryableError when trying again may help; anything permanent is logged."""
        if request.channel == "email":
            await self._confirm_email(request)
        else:
            await self._challenge(request)

    async def _confirm_email(self, request: SubscriptionRequested) -> None:
        if self.mailer is None:
            log.warning("a sign-up by email, but no mail server is configured: dropped")
            return
        now = self.clock()
        confirmation = new_confirmation(
            "email",
            request.address,
            request.components,
            now,
            self.config.subscribers.confirm_within,
        )
        url = f"{self.base}/subscribe/confirm?token={confirmation_token(self.key, confirmation)}"
        message = letter.confirmation(
            self.config,
            self.envelope(request.address),
            url,
            request.components,
            confirmation.expires_at,
            now,
        )
        try:
            await self.mailer.send(message)
        except PermanentError as exc:
            log.info("confirmation mail refused: %s", exc)

    async def _challenge(self, request: SubscriptionRequested) -> None:
        sid = subscriber_id(self.key, "webhook", request.address)
        secret = webhook_key(self.key, sid)
        unsubscribe = self.unsubscribe_url(sid)

        def body_for(nonce: str) -> dict[str, Any]:
            return payload.challenge_body(self.config, nonce, secret, unsubscribe, self.clock())

        try:
            echoed = await self.hooks.challenge(request.address, body_for, secret)
        except PermanentError as exc:
            log.info("webhook challenge refused: %s", exc)
            return
        if not echoed:
            log.info("webhook challenge not echoed: not subscribed")
            return
        await self.subscribers.put(
            Subscriber(
                id=sid,
                channel="webhook",
                address=request.address,
                components=request.components,
                created_at=self.clock(),
            )
        )
        log.info("webhook subscriber %s verified", sid)
        if self.on_told is not None:
            self.on_told(Told(sid, "webhook", VERIFIED, 0, "sent"))

    # -- incident events ----------------------------------------------------------------

    async def on_event(self, event: IncidentEvent) -> bool:
        """Keep the event as its topic's latest; True when something is (or stays) due."""
        change = change_of(event, self.config)
        if change is None:
            return False
        now = self.clock()
        told_at = await self.digests.told_at(change.topic)
        due = due_at(told_at, now, self.interval, change.final)
        return await self.digests.record(
            change.topic, event.model_dump_json(), change.version, change.final, due, change.seen
        )

    # -- sending ------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        return await self.digests.next_due()

    async def fire(self) -> int:
        """Send every due topic; how many were handled."""
        topics = await self.digests.claim_due(self.clock(), LEASE)
        for topic in topics:
            await self._flush(topic)
        return len(topics)

    async def _flush(self, topic: str) -> None:
        pending = await self.digests.read(topic)
        if pending is None or pending.version <= pending.told_version:
            await self.digests.drop(topic)
            return
        await self.digests.telling(topic, self.clock())
        event = INCIDENT_EVENT_ADAPTER.validate_json(pending.event)
        covered = (
            payload.maintenance_services(self.config, event.maintenance)
            if isinstance(event, MaintenanceChanged)
            else [event.service]
        )
        audience = [s for s in await self.subscribers.all() if any(s.follows(c) for c in covered)]
        if isinstance(event, ComponentStatusChanged):
            audience = [s for s in audience if s.channel == "webhook"]
        gate = asyncio.Semaphore(CONCURRENT_SENDS)

        async def one(sub: Subscriber) -> bool:
            async with gate:
                return await self._tell(sub, event, pending)

        results: Sequence[bool] = await asyncio.gather(*(one(s) for s in audience))
        now = self.clock()
        if all(results):
            await self.digests.done(topic, pending.version, now, self.interval)
            return
        attempts = await self.digests.retry(
            topic, now + timedelta(seconds=RETRY.delay(pending.attempts + 1))
        )
        if attempts >= MAX_ATTEMPTS:
            log.warning("giving up on %s after %s rounds", topic, attempts)
            await self.digests.done(topic, pending.version, now, self.interval)

    async def _tell(self, sub: Subscriber, event: IncidentEvent, pending: Pending) -> bool:
        """Send one message; False when it may succeed later."""
        if await self.digests.was_told(sub.id, pending.topic, pending.version):
            return True
        unsubscribe = self.unsubscribe_url(sub.id)
        now = self.clock()
        try:
            if sub.channel == "email":
                message = self._mail(event, sub.address, unsubscribe, now)
                if self.mailer is None or message is None:
                    return True
                await self.mailer.send(message)
            else:
                await self.hooks.post(
                    sub.address,
                    self._webhook_body(event, unsubscribe, now),
                    webhook_key(self.key, sub.id),
                    f"{pending.topic}:{pending.version}:{sub.id}",
                )
        except PermanentError as exc:
            log.info("subscriber %s refused %s: %s", sub.id, pending.topic, exc)
            self._report(sub, pending, "refused")
            await self.digests.mark_told(sub.id, pending.topic, pending.version, self.clock())
            return True
        except ChannelError as exc:
            log.info("subscriber %s: %s failed, will retry: %s", sub.id, pending.topic, exc)
            self._report(sub, pending, "failed")
            return False
        await self.digests.mark_told(sub.id, pending.topic, pending.version, self.clock())
        self._report(sub, pending, "sent")
        return True

    def _mail(
        self, event: IncidentEvent, address: str, unsubscribe: str, now: datetime
    ) -> EmailMessage | None:
        """The mail of an event; None for a component change (webhooks only)."""
        envelope = self.envelope(address)
        if isinstance(event, ComponentStatusChanged):
            return None
        if isinstance(event, MaintenanceChanged):
            return letter.maintenance_notice(
                self.config, envelope, event.maintenance, unsubscribe, now
            )
        return letter.incident_notice(
            self.config, envelope, public_view(event.incident), unsubscribe, now
        )

    def _webhook_body(self, event: IncidentEvent, unsubscribe: str, now: datetime) -> JSON:
        if isinstance(event, ComponentStatusChanged):
            return payload.component_body(self.config, event, unsubscribe, now)
        if isinstance(event, MaintenanceChanged):
            return payload.maintenance_body(self.config, event.maintenance, unsubscribe, now)
        return payload.incident_body(self.config, public_view(event.incident), unsubscribe, now)

    def _report(
        self, sub: Subscriber, pending: Pending, outcome: Literal["sent", "failed", "refused"]
    ) -> None:
        if self.on_told is not None:
            self.on_told(Told(sub.id, sub.channel, pending.topic, pending.version, outcome))
