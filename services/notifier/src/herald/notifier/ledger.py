"""Which notifications were sent, in Redis: one key per (event, channel), under the service's
hash tag (`herald:{payments-api}:notified:<event_id>:<channel>`).

The key is first a short-lived claim (`SET NX EX`) taken before sending, so a second replica or
a concurrent redelivery does not send too; it becomes a long-lived "done" mark after the send
(or after a permanent failure), and is released (compare-and-delete) after a retryable one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis

from herald.shared.keys import service_key

DAY = 24 * 3600

CLAIM_PREFIX = "claim:"

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Mark(StrEnum):
    """How a notification ended (the value of its key once done)."""

    SENT = "sent"
    FAILED = "failed"
    """Failed permanently: not retried."""


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


class Ledger:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        claim_ttl: int = 120,
        done_ttl: int = 7 * DAY,
    ) -> None:
        self.redis = redis
        self.claim_ttl = claim_ttl
        self.done_ttl = done_ttl

    async def claim(self, service: str, event_id: str, channel: str) -> Claim:
        key = notification_key(service, event_id, channel)
        token = CLAIM_PREFIX + secrets.token_hex(8)
        if await self.redis.set(key, token, nx=True, ex=self.claim_ttl):
            return Claim(ClaimState.CLAIMED, key, token)
        value = await self.redis.get(key)
        if isinstance(value, bytes):
            value = value.decode()
        if value in {Mark.SENT.value, Mark.FAILED.value}:
            return Claim(ClaimState.DONE, key)
        return Claim(ClaimState.BUSY, key)

    async def mark(self, claim: Claim, mark: Mark) -> None:
        await self.redis.set(claim.key, mark.value, ex=self.done_ttl)

    async def release(self, claim: Claim) -> None:
        await self.redis.eval(_RELEASE, 1, claim.key, claim.token)
