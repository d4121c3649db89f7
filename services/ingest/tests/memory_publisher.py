"""An in-memory stand-in for ingest's `AlertPublisher` (a real implementation, not a mock).

It keeps what a JetStream stream would: each event once per Nats-Msg-Id (the event id), and
refuses, like NATS, an event whose JSON is larger than `max_payload`. `fail` makes every
publish unavailable (NATS down). `batches` records the size of each `publish_all` call.
"""

from __future__ import annotations

from collections.abc import Sequence

from herald.ingest.publisher import PublishOutcome, PublishUnavailable
from herald.shared.events import AlertReceived, GroupReported

MAX_PAYLOAD = 1024 * 1024
"""NATS's default max_payload."""


class MemoryPublisher:
    def __init__(self, *, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.stored: dict[str, AlertReceived] = {}
        self.largest = 0
        """Bytes of the largest event ever published."""
        self.batches: list[int] = []
        self.reports: list[GroupReported] = []
        """Every notification's group report, in order."""
        self.fail = False
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False

    async def ready(self) -> bool:
        return not self.fail

    async def stream_info(self, name: str) -> object:
        raise PublishUnavailable("no streams in memory")

    async def publish_all(
        self, events: Sequence[AlertReceived], report: GroupReported | None = None
    ) -> PublishOutcome:
        self.batches.append(len(events))
        if self.fail:
            raise PublishUnavailable("NATS is not connected")
        payloads = [(e, e.model_dump_json().encode()) for e in events]
        for _, data in payloads:
            self.largest = max(self.largest, len(data))
            if len(data) > self.max_payload:
                raise PublishUnavailable("nats: maximum payload exceeded")
        duplicates = 0
        for event, _ in payloads:
            if event.event_id in self.stored:
                duplicates += 1
            else:
                self.stored[event.event_id] = event
        if report is not None:
            self.reports.append(report)
        return PublishOutcome(stored=len(events) - duplicates, duplicates=duplicates)
