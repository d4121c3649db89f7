"""Send limits shared by every replica, in Redis (the rule of `throttle.next_allowed`).

One sorted set per limited thing (`herald:{<service>}:...` is not used: limits are per channel
and per contact method, across services, so the keys are `herald:sendwin:<what>`; each script
touches one key, which is fine on Redis Cluster): members are sends, scores their instants (ms).
`reserve` either records one more send now and says 0, or says how many ms to wait before
asking again; a waiting send holds nothing (no claim, no lane).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from herald.shared.config import SendLimit
from herald.shared.runtime import RedisClient

MAX_WAIT_SECONDS = 30.0
"""Longest single sleep between two asks (a long wait is taken in steps)."""

# KEYS[1] the window. ARGV: now ms, member, then count and per ms of each limit.
_RESERVE = """
local now = tonumber(ARGV[1])
local longest = 0
for i = 3, #ARGV, 2 do
  longest = math.max(longest, tonumber(ARGV[i + 1]))
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local at = now
for i = 3, #ARGV, 2 do
  local count = tonumber(ARGV[i])
  local per = tonumber(ARGV[i + 1])
  local n = redis.call('ZCOUNT', KEYS[1], '(' .. (now - per), '+inf')
  if n >= count then
    local leaving = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - per), '+inf',
      'WITHSCORES', 'LIMIT', n - count, 1)
    at = math.max(at, tonumber(leaving[2]) + per)
  end
end
if at > now then
  return at - now
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], longest)
return 0
"""


def window_key(what: str) -> str:
    return f"herald:sendwin:{what}"


class SendWindow:
    def __init__(
        self,
        redis: RedisClient,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.sleep = sleep

    async def reserve(self, what: str, limits: Sequence[SendLimit]) -> int:
        """Record one send of `what` now and return 0, or the ms to wait before asking again."""
        if not limits:
            return 0
        now = int(self.clock().timestamp() * 1000)
        args: list[int | str] = [now, f"{now}:{secrets.token_hex(4)}"]
        for limit in limits:
            args += [limit.count, int(limit.per.total_seconds() * 1000)]
        return int(await self.redis.eval(_RESERVE, 1, window_key(what), *args))

    async def wait_turn(self, what: str, limits: Sequence[SendLimit]) -> float:
        """Wait until one more send of `what` fits every limit, and record it; the seconds
        waited (0: at once)."""
        waited = 0.0
        while (ms := await self.reserve(what, limits)) > 0:
            pause = min(ms / 1000, MAX_WAIT_SECONDS)
            await self.sleep(pause)
            waited += pause
        return waited
