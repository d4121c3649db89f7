"""The status page's subscription to the INCIDENTS stream, as one async iterator.

Like Alertmanager's `provider.Alerts.SlurpAndSubscribe` (start-up state and the live stream from
one call, folded by the consumer, as the loop in `inhibit/inhibit.go` does), the subscription
yields two kinds of items, in the order the board must fold them:

- `Reset`: start over from these Redis snapshots. First item of every incarnation of the stream:
  at start, and again when the stream was re-created under us (its sequences start over).
- `Received`: one INCIDENTS message, with its stream sequence.

The start-up order lives here, in one place: subscribe (from `start`, a little before the end),
THEN read the snapshots; messages delivered while Redis answers are held and yielded after the
`Reset`, so they fold on top of the snapshots (folded onto nothing they would reach the
snapshot's version from partial history and the snapshot would be dropped as "not newer").
The board (board.py) is a fold over these items and has no NATS or Redis client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError

from herald.shared.keys import component_created_key, status_key
from herald.shared.runtime import RedisClient
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, INCIDENTS_SUBJECTS
from herald.statuspage.archive import read_changes
from herald.statuspage.board import Item, Received, Reset
from herald.statuspage.sse import stream_epoch

log = logging.getLogger("herald.statuspage")


async def read_snapshots(client: RedisClient, services: list[str]) -> dict[str, bytes | str | None]:
    """Each service's stored ServiceStatus (one GET per key: keys live in different slots)."""
    found: dict[str, bytes | str | None] = {}
    for service in services:
        found[service] = await client.get(status_key(service))
    return found


async def first_seen(
    client: RedisClient, services: list[str], now: datetime
) -> dict[str, datetime]:
    """When each service's component first appeared on the page: stored once (SET NX) under
    the service's hash tag, so every replica and every restart agrees on it."""
    found: dict[str, datetime] = {}
    for service in services:
        key = component_created_key(service)
        await client.set(key, now.isoformat(), nx=True)
        raw = await client.get(key)
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            found[service] = datetime.fromisoformat(text)
        except ValueError:
            found[service] = now  # unreadable: the page's start, as before it was stored
    return found


class IncidentSubscription:
    """INCIDENTS as an async iterator of `Reset` and `Received` items.

    `start()` follows the stream from `start` and queues its `Reset` (snapshots read after
    subscribing). `check()` (after every reconnect and every CHECK_SECONDS, run by a
    runtime.Recheck) compares the stream with the one followed: when it was re-created (another
    creation time, or its last sequence below the highest one delivered) the old subscription is
    dropped and the stream is followed again from its first message, after a new `Reset`."""

    def __init__(
        self,
        js: JetStreamContext,
        redis: RedisClient,
        services: list[str],
        replicas: int = 1,
    ) -> None:
        self.js = js
        self.redis = redis
        self.services = services
        self.replicas = replicas
        self.created: datetime | None = None
        """When the stream followed was created (as JetStream tells it)."""
        self.highest_seq = 0
        """The highest sequence delivered by the current subscription."""
        self._items: asyncio.Queue[Item | None] = asyncio.Queue()
        self._following = False
        self._generation = 0
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self, info: StreamInfo, start: int) -> None:
        """Subscribe after `start`, then read the snapshots; queue the Reset, then what came."""
        self._generation += 1
        generation = self._generation
        held: list[Item] = []
        holding = True  # until the snapshots are read

        async def on_message(msg: Msg) -> None:
            if generation != self._generation:  # a late message of a dropped subscription
                return
            item = Received(msg.data, msg.metadata.sequence.stream)
            self.highest_seq = max(self.highest_seq, item.seq)
            if holding:
                held.append(item)
            else:
                self._items.put_nowait(item)

        self.highest_seq = start
        self._sub = await self.js.subscribe(
            INCIDENTS_SUBJECTS,
            stream=INCIDENTS_STREAM,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=start + 1),
        )
        snapshots = await read_snapshots(self.redis, self.services)
        changes = await read_changes(self.redis, self.services)
        epoch = stream_epoch(info.created) if info.created else 0
        self._items.put_nowait(
            Reset(epoch=epoch, floor=start, snapshots=snapshots, changes=changes)
        )
        for item in held:
            self._items.put_nowait(item)
        holding = False
        self.created = info.created
        self._following = True

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Item]:
        while (item := await self._items.get()) is not None:
            yield item

    async def check(self) -> bool:
        """Follow the stream again from its start when it was re-created; True when it was."""
        # What was delivered before asking: messages delivered while the answer is on its way
        # may be newer than the stream's last sequence in it (under load, often), which says
        # nothing about a re-creation.
        delivered = self.highest_seq
        try:
            info = await self.js.stream_info(INCIDENTS_STREAM)
        except NotFoundError:
            await ensure_streams(self.js, self.replicas)
            info = await self.js.stream_info(INCIDENTS_STREAM)
        if self._following and info.created == self.created and info.state.last_seq >= delivered:
            return False
        log.warning(
            "the INCIDENTS stream was re-created: reading it again from its start",
            extra={"stream_seq": info.state.last_seq, "highest_seq": self.highest_seq},
        )
        self._following = False  # until start() completes: a failed attempt is retried
        await self._unsubscribe()
        await self.start(info, start=0)
        return True

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        self._generation += 1
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def stop(self) -> None:
        """Unsubscribe and end the iteration."""
        await self._unsubscribe()
        self._items.put_nowait(None)
