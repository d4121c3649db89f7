"""The board's subscription to the INCIDENTS stream, started over when the stream is re-created."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

import redis.asyncio as aioredis
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError

from herald.shared.keys import status_key
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, INCIDENTS_SUBJECTS
from herald.statuspage.board import Board
from herald.statuspage.sse import stream_epoch

log = logging.getLogger("herald.statuspage")


async def read_snapshots(
    client: aioredis.Redis, services: list[str]
) -> dict[str, bytes | str | None]:
    """Each service's stored ServiceStatus (one GET per key: keys live in different slots)."""
    found: dict[str, bytes | str | None] = {}
    for service in services:
        found[service] = await client.get(status_key(service))
    return found


class IncidentFeed:
    """The board's subscription to INCIDENTS, started over when the stream is re-created.

    `follow()` is the start-up order: subscribe after `start`, then load the Redis snapshots.
    `check()` (after every reconnect and every CHECK_SECONDS, run by a runtime.Recheck) compares the stream with
    the one followed: when it was re-created (another creation time, or its last sequence below
    the highest one received) the old subscription is dropped, the board forgets the old
    sequences, and the stream is followed again from its first message."""

    def __init__(
        self, board: Board, js: JetStreamContext, redis: aioredis.Redis, replicas: int = 1
    ) -> None:
        self.board = board
        self.js = js
        self.redis = redis
        self.replicas = replicas
        self.created: datetime | None = None
        """When the stream followed was created (as JetStream tells it)."""
        self._following = False
        self._generation = 0
        self._sub: JetStreamContext.PushSubscription | None = None

    async def follow(self, info: StreamInfo, start: int) -> None:
        self._generation += 1
        generation = self._generation

        async def on_message(msg: Msg) -> None:
            if generation == self._generation:  # not a late message of a dropped subscription
                self.board.receive(msg.data, msg.metadata.sequence.stream)

        # SSE ids carry the stream's incarnation: an id of a re-created stream gets a snapshot.
        self.board.fanout.set_epoch(stream_epoch(info.created) if info.created else 0)
        self.board.start_at(start)
        self._sub = await self.js.subscribe(
            INCIDENTS_SUBJECTS,
            stream=INCIDENTS_STREAM,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=start + 1),
        )
        self.board.load(await read_snapshots(self.redis, list(self.board.config.services)))
        self.created = info.created
        self._following = True

    async def check(self) -> bool:
        """Follow the stream again from its start when it was re-created; True when it was."""
        try:
            info = await self.js.stream_info(INCIDENTS_STREAM)
        except NotFoundError:
            await ensure_streams(self.js, self.replicas)
            info = await self.js.stream_info(INCIDENTS_STREAM)
        if (
            self._following
            and info.created == self.created
            and info.state.last_seq >= self.board.highest_seq
        ):
            return False
        log.warning(
            "the INCIDENTS stream was re-created: reading it again from its start",
            extra={"stream_seq": info.state.last_seq, "highest_seq": self.board.highest_seq},
        )
        self._following = False  # until follow() completes: a failed attempt is retried
        await self.stop()
        self.board.restart()
        await self.follow(info, start=0)
        return True

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        self._generation += 1
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
