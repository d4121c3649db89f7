"""Send one notice to one destination: on the destination's own lane, retried, at most once.

Each channel has its own concurrency bound (its `concurrency`, default `per_channel` sends at a
time), so a slow or dead channel fills only its own lane: the sends of every other channel go
on. A retryable failure is tried again (exponential backoff) up to `attempts` times, alone: the
destinations that succeeded are never told again, and of an Apprise channel only the URLs that
failed (`PartialFailure`). Before its lane, a send waits its turn in the channel's `rate_limit`
and in its contact method's throttle (`notifier.throttle`, per channel and address), both
shared by every replica (`SendWindow`); a throttled send waits, nothing is dropped, and it
holds neither a lane nor a claim while it waits. The ledger claim (`run id` + destination) makes a send happen
once even when two replicas run the same step (one after the other's lease ran out); with
`claim_seconds` (the escalation lease) the claim is that short and renewed while the send
runs, so the claim of a replica that died ends with its escalation lease and the replica that
takes the step over sends at once (`Outcome.BUSY` while it lasts: the step or notice is run
again shortly). A send
that failed for good (a permanent failure, or the last attempt) is recorded: a metric and the
`failures` list read by `GET /api/deliveries/failed`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from herald.notifier.channels import (
    MAX_SEND_SECONDS,
    Channel,
    PartialFailure,
    PermanentError,
    RetryableError,
)
from herald.notifier.delivery import Outcome
from herald.notifier.escalation_store import Destination
from herald.notifier.heartbeat import renewing
from herald.notifier.ledger import Claim, ClaimState, Ledger, Mark, page_key
from herald.notifier.metrics import NotifierMetrics
from herald.notifier.notice import Notice
from herald.notifier.send_window import SendWindow
from herald.shared.backoff import Backoff
from herald.shared.config import SendLimit
from herald.shared.keys import service_key
from herald.shared.runtime import RedisClient

log = logging.getLogger("herald.notifier.dispatch")

FAILURES_KEPT = 200
"""Failed-for-good deliveries kept per service (the newest)."""


def failures_key(service: str) -> str:
    return service_key(service, "failed")


@dataclass(frozen=True)
class Sent:
    dest: Destination
    outcome: Outcome
    detail: str = ""


class Dispatcher:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        ledger: Ledger,
        redis: RedisClient,
        metrics: NotifierMetrics,
        clock: Callable[[], datetime],
        *,
        attempts: int = 4,
        backoff: Backoff | None = None,
        per_channel: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        concurrency: Mapping[str, int] | None = None,
        rate_limits: Mapping[str, SendLimit] | None = None,
        throttle: tuple[SendLimit, ...] = (),
        window: SendWindow | None = None,
        claim_seconds: float | None = None,
    ) -> None:
        """`claim_seconds`: how long a send's ledger claim lasts without a renewal (renewed
        while it runs); None: the ledger's `claim_ttl`, not renewed."""
        self.channels = channels
        self.ledger = ledger
        self.redis = redis
        self.metrics = metrics
        self.clock = clock
        self.attempts = attempts
        self.backoff = backoff or Backoff(0.5, 5.0)
        self.wait_backoff = Backoff(0.05, 2.0)
        """Between two looks of a resolve waiting for its page."""
        self.per_channel = per_channel
        self.sleep = sleep
        self.concurrency = dict(concurrency or {})
        self.rate_limits = dict(rate_limits or {})
        self.throttle = throttle
        self.window = window
        self.claim_seconds = claim_seconds
        self._lanes: dict[str, asyncio.Semaphore] = {}

    def _lane(self, channel: str) -> asyncio.Semaphore:
        lane = self._lanes.get(channel)
        if lane is None:
            size = self.concurrency.get(channel, self.per_channel)
            lane = self._lanes[channel] = asyncio.Semaphore(size)
        return lane

    async def _wait_turn(self, dest: Destination, *, page: bool) -> None:
        """The channel's rate limit, then the contact method's throttle (a Redis failure lets
        the send go: a limit never costs a page). A page is never held by the throttle: it must
        reach the person at once, and go before its incident's resolve (which waits for a page
        being tried, not for one waiting its turn); the notices after it are throttled."""
        if self.window is None:
            return
        try:
            limit = self.rate_limits.get(dest.channel)
            if limit is not None:
                await self.window.wait_turn(f"channel:{dest.channel}", (limit,))
            if self.throttle and dest.address and not page:
                waited = await self.window.wait_turn(
                    f"contact:{dest.channel}:{dest.address}", self.throttle
                )
                if waited:
                    self.metrics.throttled.labels(dest.channel).inc()
        except Exception as exc:
            log.warning("send limits not checked on %s: %r", dest.channel, exc)

    async def send_all(
        self, notice: Notice, run_id: str, dests: tuple[Destination, ...]
    ) -> tuple[Sent, ...]:
        """`notice` to each of `dests`, concurrently, personalised (recipient, user)."""
        return tuple(await asyncio.gather(*(self.send(notice, run_id, d) for d in dests)))

    async def send(self, notice: Notice, run_id: str, dest: Destination) -> Sent:
        channel = self.channels.get(dest.channel)
        if channel is None:
            return Sent(dest, Outcome.DISABLED)
        service = notice.service.id
        personal = notice.model_copy(update={"recipient": dest.address, "user": dest.user})
        if notice.type == "incident.resolved":
            await self._after_page(service, notice.incident.id, dest)
        # before the claim: a long wait holds nothing
        await self._wait_turn(dest, page=notice.type == "incident.opened")
        try:
            claim = await self.ledger.claim(service, run_id, dest.key(), ttl=self.claim_seconds)
        except Exception as exc:
            return Sent(dest, Outcome.RETRYABLE, f"ledger: {type(exc).__name__}")
        if claim.state is ClaimState.DONE:
            return Sent(dest, Outcome.DUPLICATE)
        if claim.state is ClaimState.BUSY:
            return Sent(dest, Outcome.BUSY)
        if self.claim_seconds is None:
            return await self._claimed(notice, personal, dest, claim, channel)
        seconds = self.claim_seconds
        async with renewing(lambda: self.ledger.renew(claim, seconds), seconds / 3):
            return await self._claimed(notice, personal, dest, claim, channel)

    async def _claimed(
        self, notice: Notice, personal: Notice, dest: Destination, claim: Claim, channel: Channel
    ) -> Sent:
        service = notice.service.id
        page: str | None = None
        try:
            if notice.type == "incident.opened":
                if not await self.ledger.start_page(service, notice.incident.id, dest.key()):
                    await self.ledger.mark(claim, Mark.SUPERSEDED)
                    return Sent(dest, Outcome.SUPERSEDED, "the incident is resolved")
                page = page_key(service, notice.incident.id, dest.key())
        except Exception as exc:
            await self._release(claim)
            return Sent(dest, Outcome.RETRYABLE, f"ledger: {type(exc).__name__}")
        detail = ""
        outcome = Outcome.RETRYABLE
        only: frozenset[int] | None = None
        async with self._lane(dest.channel):
            for attempt in range(1, self.attempts + 1):
                try:
                    async with asyncio.timeout(MAX_SEND_SECONDS):
                        if only is None:
                            await channel.send(personal)
                        else:  # only the parts that failed (Apprise URLs)
                            await channel.send(personal, only=only)  # type: ignore[call-arg]
                except PermanentError as exc:
                    outcome, detail = Outcome.PERMANENT, str(exc)
                    break
                except PartialFailure as exc:
                    detail, only = str(exc), exc.pending
                except RetryableError as exc:
                    detail = str(exc)
                except TimeoutError:
                    detail = f"no answer in {MAX_SEND_SECONDS} s"
                except Exception as exc:  # a bug in one channel must not stop the others
                    log.exception("channel %s raised unexpectedly", dest.channel)
                    detail = type(exc).__name__
                else:
                    outcome, detail = Outcome.SENT, ""
                    break
                self.metrics.notifications.labels(dest.channel, Outcome.RETRYABLE.value).inc()
                if attempt < self.attempts:
                    await self.sleep(self.backoff.delay(attempt))
        self.metrics.notifications.labels(dest.channel, outcome.value).inc()
        try:
            await self.ledger.mark(
                claim, Mark.SENT if outcome is Outcome.SENT else Mark.FAILED, page
            )
        except Exception:
            log.exception("could not record the send on %s", dest.channel)
        if outcome is not Outcome.SENT:
            await self._failed(notice, dest, outcome, detail)
        return Sent(dest, outcome, detail)

    async def _release(self, claim: Claim) -> None:
        try:
            await self.ledger.release(claim)
        except Exception:
            log.exception("could not release a claim")

    async def _after_page(self, service: str, incident_id: str, dest: Destination) -> None:
        """A resolve waits while its incident's page to `dest` is still being tried (the
        on-call learns it happened, then that it is over); the pending mark expires on its
        own (`Ledger.pending_ttl`), so a page that vanished never holds it back for ever."""
        attempt = 0
        while True:
            try:
                if await self.ledger.start_resolve(service, incident_id, dest.key()):
                    return
            except Exception:
                return  # better a resolve early than none
            attempt += 1
            await self.sleep(self.wait_backoff.delay(attempt))

    async def _failed(self, notice: Notice, dest: Destination, outcome: Outcome, why: str) -> None:
        self.metrics.failed.labels(dest.channel).inc()
        log.error(
            "gave up notifying %s through %s: %s",
            dest.user or dest.channel,
            dest.channel,
            why,
            extra={
                "event_id": notice.event_id,
                "incident_service": notice.service.id,
                "channel": dest.channel,
                "outcome": outcome.value,
            },
        )
        entry = json.dumps(
            {
                "at": self.clock().isoformat(),
                "service": notice.service.id,
                "incident_id": notice.incident.id,
                "type": notice.type,
                "event_id": notice.event_id,
                "channel": dest.channel,
                "user": dest.user,
                "outcome": outcome.value,
                "detail": why,
            }
        )
        key = failures_key(notice.service.id)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.lpush(key, entry)
                pipe.ltrim(key, 0, FAILURES_KEPT - 1)
                await pipe.execute()
        except Exception:
            log.exception("could not record a failed delivery")
