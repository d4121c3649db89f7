"""What is still to be told per topic (an incident, a component), in Redis (`{subscribers}`
keys): the topic's latest event, its version, whether it is final, when subscribers were last
told, and a sorted set of when each topic is due. Several notifier replicas share it: a due
topic is claimed for a lease (its due time pushed past the lease) before it is sent, and who
was told which version is recorded (one sorted set per subscriber, which removing the
subscriber deletes), so a retry or a replica taking over tells nobody twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from herald.shared.keys import digest_key, digests_due_key, subscriber_key, told_key
from herald.shared.runtime import RedisClient

KEPT_SECONDS = 30 * 24 * 3600
"""A topic's state outlives its incident by this much (then a late duplicate event is stale)."""

TOLD_SECONDS = 7 * 24 * 3600
"""How long who was told which version is remembered (far longer than a topic's retries)."""

# KEYS: digest, due. ARGV: topic, event, version, final (0/1), due (epoch s), TTL (s), seen.
# A version at or below the stored one is stale (a redelivery, an older replica's event): no-op.
# One that changes nothing subscribers see (`seen`, the digest of what they are told) is kept
# (it is the latest) but not made due.
_RECORD = """
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
if stored >= tonumber(ARGV[3]) then return 0 end
local same = redis.call('HGET', KEYS[1], 'seen') == ARGV[7]
redis.call('HSET', KEYS[1], 'event', ARGV[2], 'version', ARGV[3], 'final', ARGV[4], 'seen', ARGV[7])
if same then
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  return 0
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], 'LT', ARGV[5], ARGV[1])
return 1
"""

# KEYS: due. ARGV: now, lease until, limit. Claims every due topic (score <= now) for the lease.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, topic in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], topic) end
return due
"""

# KEYS: subscriber, its told set. ARGV: `<topic>:<version>`, now (epoch s), forget before (epoch
# s), TTL (s). Recorded only while the subscriber exists: a send that was under way when it was
# removed leaves nothing of it behind.
_MARK_TOLD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS: digest, due. ARGV: topic, version sent, now, next due if changed meanwhile.
_DONE = """
redis.call('HSET', KEYS[1], 'told_at', ARGV[3], 'told_version', ARGV[2])
redis.call('HDEL', KEYS[1], 'attempts')
if redis.call('HGET', KEYS[1], 'version') == ARGV[2] then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  local final = redis.call('HGET', KEYS[1], 'final') == '1'
  redis.call('ZADD', KEYS[2], final and ARGV[3] or ARGV[4], ARGV[1])
end
return 1
"""


@dataclass(frozen=True)
class Pending:
    topic: str
    event: str
    version: int
    final: bool
    attempts: int
    told_version: int


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


class DigestStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._record = redis.register_script(_RECORD)
        self._claim = redis.register_script(_CLAIM)
        self._done = redis.register_script(_DONE)
        self._mark_told = redis.register_script(_MARK_TOLD)

    async def told_at(self, topic: str) -> datetime | None:
        raw = await self.redis.hget(digest_key(topic), "told_at")
        return datetime.fromtimestamp(float(raw), UTC) if raw else None

    async def record(
        self, topic: str, event: str, version: int, final: bool, due: datetime, seen: str
    ) -> bool:
        """Keep `event` as the topic's latest and make it due by `due` (an earlier due time
        stays); False when it is not newer than what is kept, or changes nothing subscribers
        see (`seen`: the digest of what they are told)."""
        done = await self._record(
            keys=[digest_key(topic), digests_due_key()],
            args=[topic, event, version, int(final), _epoch(due), KEPT_SECONDS, seen],
        )
        return bool(done)

    async def claim_due(self, now: datetime, lease: timedelta, limit: int = 50) -> list[str]:
        found = await self._claim(
            keys=[digests_due_key()], args=[_epoch(now), _epoch(now + lease), limit]
        )
        return [t.decode() if isinstance(t, bytes) else str(t) for t in found]

    async def read(self, topic: str) -> Pending | None:
        raw = await self.redis.hgetall(digest_key(topic))
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        if "event" not in fields:
            return None
        return Pending(
            topic=topic,
            event=fields["event"],
            version=int(fields["version"]),
            final=fields.get("final") == "1",
            attempts=int(fields.get("attempts", "0")),
            told_version=int(fields.get("told_version", "-1")),
        )

    async def telling(self, topic: str, now: datetime) -> None:
        """Subscribers are being told now: a change arriving while they are waits the interval
        from now (the message going out is the one of this interval)."""
        await self.redis.hset(digest_key(topic), "told_at", _epoch(now))

    async def done(self, topic: str, version: int, now: datetime, interval: timedelta) -> None:
        """Subscribers were told `version`: a newer one that came meanwhile is due after the
        interval (at once when final)."""
        await self._done(
            keys=[digest_key(topic), digests_due_key()],
            args=[topic, version, _epoch(now), _epoch(now + interval)],
        )

    async def retry(self, topic: str, due: datetime) -> int:
        """Some sends failed and may succeed later: due again at `due`; the attempt count."""
        async with self.redis.pipeline(transaction=True) as tx:
            tx.hincrby(digest_key(topic), "attempts", 1)
            tx.zadd(digests_due_key(), {topic: _epoch(due)})
            attempts, _ = await tx.execute()
        return int(attempts)

    async def drop(self, topic: str) -> None:
        await self.redis.zrem(digests_due_key(), topic)

    async def next_due(self) -> datetime | None:
        first = await self.redis.zrange(digests_due_key(), 0, 0, withscores=True)
        return datetime.fromtimestamp(float(first[0][1]), UTC) if first else None

    async def was_told(self, subscriber_id: str, topic: str, version: int) -> bool:
        told = await self.redis.zscore(told_key(subscriber_id), f"{topic}:{version}")
        return told is not None

    async def mark_told(self, subscriber_id: str, topic: str, version: int, now: datetime) -> None:
        """Record that the subscriber was told (or refused) `version`, forgetting what it was
        told more than `TOLD_SECONDS` ago; nothing when it is no longer subscribed."""
        await self._mark_told(
            keys=[subscriber_key(subscriber_id), told_key(subscriber_id)],
            args=[f"{topic}:{version}", _epoch(now), _epoch(now) - TOLD_SECONDS, TOLD_SECONDS],
        )
