"""Publishing alert events to JetStream, and the NATS connection behind it.

The connection is made in the background and retried forever, so the service starts (and
answers 503) while NATS is down. A publish succeeds only when JetStream acknowledged every
event; any failure becomes `PublishUnavailable`, which the app answers with 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import Header, StreamInfo
from nats.js.errors import NoStreamResponseError

from herald.shared.events import AlertReceived
from herald.shared.streams import ensure_streams
from herald.shared.subjects import ALERTS_STREAM, alert_subject

log = logging.getLogger("herald.ingest.publisher")


class PublishUnavailable(Exception):
    """JetStream did not store every event (not connected, no ack in time, an error)."""


@dataclass(frozen=True)
class PublishOutcome:
    stored: int
    """Events JetStream stored now."""
    duplicates: int
    """Events JetStream already had (same Nats-Msg-Id within its duplicate window)."""


class AlertPublisher:
    """Owns the NATS connection of the ingest service."""

    def __init__(
        self,
        url: str,
        *,
        publish_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        reconnect_wait: float = 2.0,
        name: str = "herald-ingest",
        stream_replicas: int = 1,
    ) -> None:
        self._url = url
        self._publish_timeout = publish_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_wait = reconnect_wait
        self._name = name
        self._stream_replicas = stream_replicas
        self._nc = NATS()
        self._js = self._nc.jetstream(timeout=publish_timeout)
        self._connect_task: asyncio.Task[None] | None = None
        self._streams_ready = False
        self._streams_lock = asyncio.Lock()
        self.connected = asyncio.Event()
        """Set while connected to NATS."""
        self.disconnected = asyncio.Event()
        """Set while a connection that was up is lost (until reconnected)."""

    @property
    def is_connected(self) -> bool:
        return bool(self._nc.is_connected)

    async def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        self._connect_task = asyncio.create_task(self._connect(), name="nats-connect")

    async def close(self) -> None:
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._connect_task
        with suppress(Exception):
            await self._nc.close()
        self.connected.clear()

    async def _connect(self) -> None:
        await self._nc.connect(
            servers=[self._url],
            name=self._name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self._reconnect_wait,  # type: ignore[arg-type]
            connect_timeout=self._connect_timeout,  # type: ignore[arg-type]
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        log.info("connected to NATS")
        self.connected.set()
        try:
            await self._ensure_streams()
        except Exception as exc:  # retried before the next publish
            log.warning("cannot ensure JetStream streams yet", extra={"error": repr(exc)})

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS connection error", extra={"error": str(exc) or type(exc).__name__})

    async def _on_disconnected(self) -> None:
        self.connected.clear()
        self.disconnected.set()
        log.warning("disconnected from NATS")

    async def _on_reconnected(self) -> None:
        # The server may have lost its streams (a fresh volume): check again before publishing.
        self._streams_ready = False
        self.disconnected.clear()
        self.connected.set()
        log.info("reconnected to NATS")

    async def _ensure_streams(self) -> None:
        if self._streams_ready:
            return
        async with self._streams_lock:
            if not self._streams_ready:
                await ensure_streams(self._js, self._stream_replicas)
                self._streams_ready = True

    async def ready(self) -> bool:
        """Readiness: connected, and the streams exist."""
        if not self.is_connected:
            return False
        await self._ensure_streams()
        return True

    async def stream_info(self, name: str) -> StreamInfo:
        """The state and config of a stream (for the fill-level gauges)."""
        return await self._js.stream_info(name)

    async def publish_all(self, events: Sequence[AlertReceived]) -> PublishOutcome:
        """Publish every event concurrently; return only once JetStream acknowledged all."""
        if not self.is_connected:
            raise PublishUnavailable("NATS is not connected")
        try:
            await asyncio.wait_for(self._ensure_streams(), self._publish_timeout)
        except Exception as exc:
            raise PublishUnavailable(
                f"JetStream streams are not available: {_describe(exc)}"
            ) from exc
        results = await asyncio.gather(*(self._publish(e) for e in events), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            if any(isinstance(f, NoStreamResponseError) for f in failures):
                self._streams_ready = False  # deleted under us: re-create before the next publish
            raise PublishUnavailable(
                f"{len(failures)} of {len(events)} alerts not stored: {_describe(failures[0])}"
            ) from failures[0]
        duplicates = sum(1 for r in results if r)
        return PublishOutcome(stored=len(events) - duplicates, duplicates=duplicates)

    async def _publish(self, event: AlertReceived) -> bool:
        """Publish one event; True when JetStream reports it as a duplicate."""
        ack = await self._js.publish(
            alert_subject(event.integration),
            event.model_dump_json().encode(),
            timeout=self._publish_timeout,
            stream=ALERTS_STREAM,
            headers={Header.MSG_ID: event.event_id},
        )
        return bool(ack.duplicate)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NatsTimeoutError | asyncio.TimeoutError | TimeoutError):
        return "JetStream did not acknowledge in time"
    if isinstance(exc, NoStreamResponseError):
        return f"no JetStream stream answers for {ALERTS_STREAM}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
