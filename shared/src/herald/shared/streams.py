"""JetStream stream definitions, their idempotent creation, and a keeper that puts a durable
consumer (and the streams) back when JetStream loses them under a running service."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from herald.shared.subjects import (
    ALERTS_STREAM,
    ALERTS_SUBJECTS,
    INCIDENTS_STREAM,
    INCIDENTS_SUBJECTS,
)

DUPLICATE_WINDOW_SECONDS = 10 * 60
"""JetStream de-duplicates Nats-Msg-Id within this window (first line of defence only)."""

DAY = 24 * 3600

CHECK_SECONDS = 5.0
"""How often a running service checks that the streams it reads still exist (besides after every
reconnect to NATS): an operator may delete and re-create a stream without a restart."""

RETRY_SECONDS = 1.0
"""How soon a check that failed (JetStream not answering yet) is tried again."""

log = logging.getLogger("herald.shared.streams")


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=ALERTS_STREAM,
            subjects=[ALERTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=7 * DAY,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=INCIDENTS_STREAM,
            subjects=[INCIDENTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
    ]


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the streams when missing; leave existing ones as they are (an operator may tune them)."""
    for cfg in stream_configs(replicas):
        assert cfg.name is not None
        try:
            await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)


class DurableKeeper:
    """Keeps a durable consumer in place while its service runs.

    JetStream may lose a durable under a running subscriber: a single-node NATS restarted on an
    empty volume, an operator deleting and re-creating a stream. A pull subscriber (FastStream's
    fetch loop) keeps asking a consumer that no longer exists and never re-creates it. The keeper
    checks at start, after every reconnect (`on_reconnected`, a nats-py callback), when woken
    (`wake()`, e.g. after a publish found no stream) and every `interval` seconds; it re-creates the
    missing streams and the durable, with the config the durable had when last seen. The pull
    subscription's next fetch reads from the re-created durable (same stream and name)."""

    def __init__(
        self,
        stream: str,
        durable: str,
        *,
        replicas: int = 1,
        interval: float = CHECK_SECONDS,
    ) -> None:
        self.stream = stream
        self.durable = durable
        self.replicas = replicas
        self.interval = interval
        self.config: ConsumerConfig | None = None
        """The durable's config as last seen (what a re-created durable gets)."""
        self._js: JetStreamContext | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """Make sure the streams and the durable exist; True when the durable was re-created."""
        assert self._js is not None, "start() first"
        await ensure_streams(self._js, self.replicas)
        try:
            info = await self._js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            if self.config is None:
                log.error(
                    "durable %s of %s is missing and was never seen", self.durable, self.stream
                )
                return False
            await self._js.add_consumer(self.stream, config=self.config)
            log.warning(
                "durable %s of %s was missing (JetStream lost it): re-created",
                self.durable,
                self.stream,
                extra={"stream": self.stream, "durable": self.durable},
            )
            return True
        self.config = info.config
        return False

    def wake(self) -> None:
        """Check now rather than at the next interval."""
        self._wake.set()

    async def on_reconnected(self) -> None:
        self.wake()

    async def start(self, js: JetStreamContext) -> None:
        """Remember the durable's config (its subscriber has created it) and keep it from now on."""
        self._js = js
        await self.check()
        self._task = asyncio.create_task(self._run(), name=f"keep-{self.durable}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self.interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self.check()
            except Exception as exc:  # NATS down or JetStream not ready yet: soon again
                log.warning(
                    "cannot check durable %s of %s",
                    self.durable,
                    self.stream,
                    extra={"error": repr(exc) or type(exc).__name__},
                )
                delay = min(RETRY_SECONDS, self.interval)
            else:
                delay = self.interval
