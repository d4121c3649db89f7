"""The subscriber list in Redis (keys hash-tagged `{subscribers}`): written by the status page
(a confirmation, an unsubscribe) and the notifier (a verified webhook, an admin's removal), read
by the notifier when it sends."""

from __future__ import annotations

from herald.shared.keys import subscriber_key, subscribers_index_key, told_key
from herald.shared.runtime import RedisClient
from herald.shared.subscriptions import Subscriber


class SubscriberStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def put(self, subscriber: Subscriber) -> None:
        """Add or replace (same id: the same channel and address) in one step."""
        async with self.redis.pipeline(transaction=True) as tx:
            tx.set(subscriber_key(subscriber.id), subscriber.model_dump_json())
            tx.sadd(subscribers_index_key(), subscriber.id)
            await tx.execute()

    async def remove(self, subscriber_id: str) -> bool:
        """Forget a subscriber entirely (with the record of what it was told); False when
        there was none (idempotent)."""
        async with self.redis.pipeline(transaction=True) as tx:
            tx.delete(subscriber_key(subscriber_id))
            tx.srem(subscribers_index_key(), subscriber_id)
            tx.delete(told_key(subscriber_id))
            deleted, _, _ = await tx.execute()
        return bool(deleted)

    async def get(self, subscriber_id: str) -> Subscriber | None:
        raw = await self.redis.get(subscriber_key(subscriber_id))
        return Subscriber.model_validate_json(raw) if raw else None

    async def all(self) -> list[Subscriber]:
        ids = sorted(
            m.decode() if isinstance(m, bytes) else m
            for m in await self.redis.smembers(subscribers_index_key())
        )
        if not ids:
            return []
        found = await self.redis.mget([subscriber_key(i) for i in ids])
        return [Subscriber.model_validate_json(raw) for raw in found if raw]
