"""Publishing alert events to JetStream.

The service's connection (herald.shared.runtime.NatsConnection) is made in the background and
retried forever, so the service starts (and answers 503) while NATS is down. A publish succeeds
only when JetStream acknowledged every event; any failure becomes `PublishUnavailable`, which
the app answers with 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import Header, StreamInfo
from nats.js.errors import NoStreamResponseError

from herald.shared.events import AlertReceived, GroupReported
from herald.shared.runtime import AckInbox, NatsConnection, Outgoing
from herald.shared.streams import ensure_streams
from herald.shared.subjects import ALERTS_STREAM, alert_subject, group_subject


class PublishUnavailable(Exception):
    """JetStream did not store every event (not connected, no ack in time, an error)."""


@dataclass(frozen=True)
class PublishOutcome:
    stored: int
    """Events JetStream stored now."""
    duplicates: int
    """Events JetStream already had (same Nats-Msg-Id within its duplicate window)."""


class AlertPublisher:
    """Publishes alert events on the service's NATS connection (herald.shared.runtime)."""

    def __init__(
        self,
        nats: NatsConnection,
        *,
        publish_timeout: float = 5.0,
        stream_replicas: int = 1,
    ) -> None:
        self.nats = nats
        self._js = nats.js
        self._publish_timeout = publish_timeout
        self._stream_replicas = stream_replicas
        self._streams_ready = False
        self._streams_lock = asyncio.Lock()
        self._acks = AckInbox(nats.nc)
        self._subjects: dict[tuple[str, bool], str] = {}
        """(integration, group report?) -> subject, made once (it is a regex substitution)."""
        nats.on_reconnected(self._forget_streams)

    @property
    def is_connected(self) -> bool:
        return self.nats.is_connected

    def _forget_streams(self) -> None:
        # The server may have lost its streams (a fresh volume): check again before publishing.
        self._streams_ready = False

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

    async def publish_all(
        self, events: Sequence[AlertReceived], report: GroupReported | None = None
    ) -> PublishOutcome:
        """Publish every event concurrently, then `report` behind them on the same connection
        (JetStream stores them in that order); return only once JetStream acknowledged all."""
        if not self.is_connected:
            raise PublishUnavailable("NATS is not connected")
        if not self._streams_ready:
            try:
                await asyncio.wait_for(self._ensure_streams(), self._publish_timeout)
            except Exception as exc:
                raise PublishUnavailable(
                    f"JetStream streams are not available: {_describe(exc)}"
                ) from exc
        outgoing = [self._outgoing(e) for e in events]
        if report is not None:
            outgoing.append(self._outgoing(report))
        try:
            results = await self._acks.publish_all(outgoing, self._publish_timeout)
        except Exception as exc:  # the inbox could not subscribe: the connection went away
            raise PublishUnavailable(f"alerts not stored: {_describe(exc)}") from exc
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            if any(isinstance(f, NoStreamResponseError) for f in failures):
                self._streams_ready = False  # deleted under us: re-create before the next publish
            what = "alerts and their group report" if report is not None else "alerts"
            raise PublishUnavailable(
                f"{len(failures)} of {len(outgoing)} {what} not stored: {_describe(failures[0])}"
            ) from failures[0]
        duplicates = sum(1 for r in results[: len(events)] if r is True)
        return PublishOutcome(stored=len(events) - duplicates, duplicates=duplicates)

    def _outgoing(self, event: AlertReceived | GroupReported) -> Outgoing:
        """One event as a message: an alert on its integration's subject, a group report one
        token deeper, with its id as `Nats-Msg-Id` (JetStream's de-duplication) and ALERTS as
        the expected stream."""
        report = isinstance(event, GroupReported)
        subject = self._subjects.get((event.integration, report))
        if subject is None:
            subject = (
                group_subject(event.integration) if report else alert_subject(event.integration)
            )
            self._subjects[(event.integration, report)] = subject
        return Outgoing(
            subject,
            event.model_dump_json().encode(),
            {Header.MSG_ID: event.event_id, Header.EXPECTED_STREAM: ALERTS_STREAM},
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NatsTimeoutError | asyncio.TimeoutError | TimeoutError):
        return "JetStream did not acknowledge in time"
    if isinstance(exc, NoStreamResponseError):
        return f"no JetStream stream answers for {ALERTS_STREAM}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
