"""Sign-up rate limits in Redis: per client address per hour (an excess answers 429) and per
subscriber address per day (an excess is silently not sent, so the answer never says whether an
address is known or busy). Fixed windows, one INCR + EXPIRE each; the keys hold a keyed digest
of the address, never the address, and expire with their window."""

from __future__ import annotations

import hashlib
import hmac

from herald.shared.keys import signup_limit_key
from herald.shared.runtime import RedisClient

HOUR = 3600
DAY = 24 * HOUR


class SignupLimits:
    def __init__(self, redis: RedisClient, key: bytes, per_ip: int, per_address: int) -> None:
        self.redis = redis
        self.key = key
        self.per_ip = per_ip
        self.per_address = per_address

    def _digest(self, value: str) -> str:
        return hmac.new(self.key, f"limit:{value}".encode(), hashlib.sha256).hexdigest()[:32]

    async def _count(self, scope: str, value: str, window: int) -> int:
        key = signup_limit_key(scope, self._digest(value))
        async with self.redis.pipeline(transaction=True) as tx:
            tx.incr(key)
            tx.expire(key, window, nx=True)
            count, _ = await tx.execute()
        return int(count)

    async def client_allowed(self, client: str) -> bool:
        return await self._count("ip", client, HOUR) <= self.per_ip

    async def address_allowed(self, channel: str, address: str) -> bool:
        return await self._count("address", f"{channel}:{address}", DAY) <= self.per_address
