"""Gauges of how full the JetStream streams are, refreshed in the background by ingest.

ALERTS refuses new alerts once it holds `max_bytes` (ingest then answers 503 until space frees
up), so alert on `herald_stream_usage_ratio` before it reaches 1 (see docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from herald.shared.subjects import ALERTS_STREAM, INCIDENTS_STREAM

log = logging.getLogger("herald.ingest.stream_usage")

StreamInfo = Callable[[str], Awaitable[Any]]
"""`name -> nats.js.api.StreamInfo` (e.g. `JetStreamContext.stream_info`)."""

REFRESH_SECONDS = 15.0


class StreamUsage:
    def __init__(
        self,
        registry: CollectorRegistry,
        info: StreamInfo,
        *,
        streams: Sequence[str] = (ALERTS_STREAM, INCIDENTS_STREAM),
        interval: float = REFRESH_SECONDS,
    ) -> None:
        self._info = info
        self._streams = tuple(streams)
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.bytes = Gauge(
            "herald_stream_bytes",
            "Bytes a JetStream stream holds (as last read).",
            ["stream"],
            registry=registry,
        )
        self.max_bytes = Gauge(
            "herald_stream_max_bytes",
            "The stream's max_bytes (-1: unlimited).",
            ["stream"],
            registry=registry,
        )
        self.ratio = Gauge(
            "herald_stream_usage_ratio",
            "bytes / max_bytes of a stream (0 when unlimited); ALERTS refuses alerts at 1.",
            ["stream"],
            registry=registry,
        )
        self.messages = Gauge(
            "herald_stream_messages",
            "Messages a JetStream stream holds (as last read).",
            ["stream"],
            registry=registry,
        )

    async def refresh(self) -> None:
        """Read every stream's state once; a stream that cannot be read keeps its last values."""
        for name in self._streams:
            try:
                info = await self._info(name)
            except Exception as exc:  # NATS down, stream missing: tried again next time
                log.debug("cannot read stream %s", name, extra={"error": repr(exc)})
                continue
            used = int(info.state.bytes or 0)
            limit = int(info.config.max_bytes or -1)
            self.bytes.labels(stream=name).set(used)
            self.messages.labels(stream=name).set(int(info.state.messages or 0))
            self.max_bytes.labels(stream=name).set(limit)
            self.ratio.labels(stream=name).set(used / limit if limit > 0 else 0.0)

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-usage")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
