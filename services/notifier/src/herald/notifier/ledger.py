"""Which notifications were sent, in Redis, under the service's hash tag.

Two kinds of keys, both `herald:{<service>}:...` so that one Lua script may touch both on
Redis Cluster too:

- `notified:<event_id>:<channel>`, one per (event, channel): first a short-lived claim
  (`SET NX EX`) taken before sending, so a second replica or a concurrent redelivery does not
  send too; it becomes a long-lived "done" mark after the send (or after a permanent failure),
  and is released (compare-and-delete) after a retryable one.
- `page:<incident_id>:<channel>`, one per (incident, channel): where the incident's page
  ("opened") stands on that channel, so that its resolve never overtakes it (`PageState`).
  `pending` while the page is being tried (it expires after `pending_ttl` unless a new attempt
  refreshes it, so a page whose message vanished never holds its resolve back for long), `done`
  once it was delivered, failed permanently or was given up, `resolved` once the resolve was let
  through: a page that comes after that is not sent any more.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from herald.shared.backoff import Backoff
from herald.shared.keys import service_key
from herald.shared.runtime import RedisClient

log = logging.getLogger("herald.notifier.ledger")

MARK_RETRY = Backoff(0.25, 5.0)
"""Between two attempts of recording how a send ended, while Redis fails."""

DAY = 24 * 3600

CLAIM_PREFIX = "claim:"

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] the notification, KEYS[2] (optional) the page state of an "opened" notification.
# ARGV: claim token, mark, ttl. Records the mark only while the claim is ours, or when it has
# expired with nobody else holding it (we did send: say so rather than send again).
_MARK = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if #KEYS > 1 and redis.call('GET', KEYS[2]) ~= 'resolved' then
  redis.call('SET', KEYS[2], 'done', 'EX', ARGV[3])
end
return 1
"""

# A page may go out unless its incident's resolve already went: then it is pending until done.
_PAGE = """
if redis.call('GET', KEYS[1]) == 'resolved' then
  return 0
end
redis.call('SET', KEYS[1], 'pending', 'EX', ARGV[1])
return 1
"""

# A resolve may go out unless its incident's page is still pending: then no page follows it.
# On its first delivery (ARGV[2] == '1') it also waits when no page was seen at all: the page
# may be in another worker's hands, not claimed yet (16 workers, a backlog); marking the
# incident resolved now would make that page superseded and the on-call get only [RESOLVED].
_RESOLVE = """
local page = redis.call('GET', KEYS[1])
if page == 'pending' or (not page and ARGV[2] == '1') then
  return 0
end
redis.call('SET', KEYS[1], 'resolved', 'EX', ARGV[1])
return 1
"""

_SETTLE = """
if redis.call('GET', KEYS[1]) ~= 'resolved' then
  redis.call('SET', KEYS[1], 'done', 'EX', ARGV[1])
end
return 1
"""


class Mark(StrEnum):
    """How a notification ended (the value of its key once done)."""

    SENT = "sent"
    FAILED = "failed"
    """Failed permanently: not retried."""
    SUPERSEDED = "superseded"
    """A page not sent because its incident's resolve had already gone out on the channel."""


DONE_MARKS = frozenset(m.value for m in Mark)


class PageState(StrEnum):
    """Where an incident's page stands on one channel (the value of its `page:` key)."""

    PENDING = "pending"
    """Being tried: its resolve waits."""
    DONE = "done"
    """Delivered, failed permanently or given up: its resolve may go."""
    RESOLVED = "resolved"
    """The resolve went (or is going) out: a page after it would be wrong, it is not sent."""


class ClaimState(StrEnum):
    CLAIMED = "claimed"
    """Ours: send, then mark or release."""
    DONE = "done"
    """Already sent (or failed permanently): skip."""
    BUSY = "busy"
    """Another worker holds the claim right now: try again later."""


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    key: str
    token: str = ""


def notification_key(service: str, event_id: str, channel: str) -> str:
    return service_key(service, f"notified:{event_id}:{channel}")


def page_key(service: str, incident_id: str, channel: str) -> str:
    return service_key(service, f"page:{incident_id}:{channel}")


class Ledger:
    def __init__(
        self,
        redis: RedisClient,
        *,
        claim_ttl: int = 120,
        done_ttl: int = 7 * DAY,
        pending_ttl: int = 600,
        mark_seconds: float | None = None,
    ) -> None:
        """`claim_ttl` must outlast a whole send (`channels.MAX_SEND_SECONDS`) and `pending_ttl`
        the longest gap between two attempts of one page (the longest nak delay plus ack_wait).
        `mark_seconds` (default `claim_ttl`): how long `mark` keeps trying while Redis fails."""
        self.redis = redis
        self.claim_ttl = claim_ttl
        self.done_ttl = done_ttl
        self.pending_ttl = pending_ttl
        self.mark_seconds = float(claim_ttl) if mark_seconds is None else mark_seconds

    async def claim(
        self, service: str, event_id: str, channel: str, *, ttl: float | None = None
    ) -> Claim:
        """`ttl` (seconds): a claim shorter than `claim_ttl`, kept alive by `renew` while its
        send runs (a claim held by a replica that died then ends that soon)."""
        key = notification_key(service, event_id, channel)
        token = CLAIM_PREFIX + secrets.token_hex(8)
        ms = int((self.claim_ttl if ttl is None else ttl) * 1000)
        if await self.redis.set(key, token, nx=True, px=ms):
            return Claim(ClaimState.CLAIMED, key, token)
        value = await self.redis.get(key)
        if isinstance(value, bytes):
            value = value.decode()
        if value in DONE_MARKS:
            return Claim(ClaimState.DONE, key)
        return Claim(ClaimState.BUSY, key)

    async def mark(self, claim: Claim, mark: Mark, page: str | None = None) -> bool:
        """Record how our claimed notification ended, and with `page` (a `page_key`) settle that
        page in the same step. False, recording nothing, when another worker holds the key now
        (our claim expired and was taken over): that worker records its own outcome.

        Tried again while Redis fails (a timeout, a paused or restarting server), for up to
        `mark_seconds`, then the last error is raised: the send happened, and an outcome not
        recorded would have it sent twice once the claim expires, and hold its incident's resolve
        back until the page's pending mark expires (docs/reliability.md, bug 2). Repeating it is
        safe: a compare-and-set on our own claim token."""
        keys = [claim.key] if page is None else [claim.key, page]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.mark_seconds
        attempt = 0
        while True:
            try:
                done = await self.redis.eval(
                    _MARK, len(keys), *keys, claim.token, mark.value, self.done_ttl
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                attempt += 1
                delay = MARK_RETRY.delay(attempt)
                if loop.time() + delay > deadline:
                    raise
                log.warning(
                    "could not record a %s notification yet, trying again: %r",
                    mark.value,
                    exc,
                    extra={"attempt": attempt},
                )
                await asyncio.sleep(delay)
                continue
            return bool(done)

    async def renew(self, claim: Claim, ttl: float) -> bool:
        """Keep our claim for another `ttl` seconds; False when it is not ours any more."""
        return bool(await self.redis.eval(_RENEW, 1, claim.key, claim.token, int(ttl * 1000)))

    async def release(self, claim: Claim) -> None:
        await self.redis.eval(_RELEASE, 1, claim.key, claim.token)

    async def start_page(self, service: str, incident_id: str, channel: str) -> bool:
        """Before a page is sent: mark it pending and say True, or False when the incident's
        resolve already went out on this channel (the page must not be sent)."""
        key = page_key(service, incident_id, channel)
        return bool(await self.redis.eval(_PAGE, 1, key, self.pending_ttl))

    async def start_resolve(
        self, service: str, incident_id: str, channel: str, *, first: bool = False
    ) -> bool:
        """Before a resolve is sent: say False while the incident's page is pending on this
        channel (the resolve must wait), or, on the resolve's `first` delivery, while no page
        was seen yet; otherwise mark the incident resolved and say True."""
        key = page_key(service, incident_id, channel)
        return bool(await self.redis.eval(_RESOLVE, 1, key, self.done_ttl, "1" if first else "0"))

    async def settle_page(self, service: str, incident_id: str, channel: str) -> None:
        """The page will not be tried again (given up): its resolve may go."""
        key = page_key(service, incident_id, channel)
        await self.redis.eval(_SETTLE, 1, key, self.done_ttl)
