"""Publishing a request's alerts in bounded batches.

Events are made one at a time and published `max_events` (or about `max_bytes`) at once; the
next batch starts when JetStream acknowledged the previous one. So a request never holds more
than one batch of serialized events, whatever the number of alerts (5,400 tiny alerts sharing a
large groupKey once meant gigabytes), and the promise is unchanged: the request succeeds only
when every batch was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from herald.ingest.publisher import PublishOutcome
from herald.shared.events import AlertReceived, GroupReported

EVENT_OVERHEAD = 512
"""Bytes of an event's fixed fields (ids, times, JSON structure), roughly."""


class Publisher(Protocol):
    """What the endpoints need of a publisher (`AlertPublisher`, or an in-memory one in tests)."""

    async def publish_all(
        self, events: Sequence[AlertReceived], report: GroupReported | None = None
    ) -> PublishOutcome:
        """Store every event, then `report` after them (in the stream's order too);
        PublishUnavailable when not all of them were stored."""
        ...

    async def ready(self) -> bool:
        """Readiness: events can be stored now."""
        ...


def approx_size(event: AlertReceived) -> int:
    """About the bytes of the serialized event (cheap: lengths of its strings)."""
    size = EVENT_OVERHEAD + len(event.group_key) + len(event.receiver) + len(event.external_url)
    size += len(event.generator_url) + len(event.fingerprint) + len(event.integration)
    for mapping in (event.labels, event.annotations):  # map(len, ...): no Python loop per entry
        size += sum(map(len, mapping)) + sum(map(len, mapping.values())) + 6 * len(mapping)
    return size


async def publish_in_batches(
    publisher: Publisher,
    events: Iterable[AlertReceived],
    *,
    max_events: int,
    max_bytes: int,
    report: Callable[[], GroupReported] | None = None,
) -> tuple[int, PublishOutcome]:
    """Publish every event, one batch at a time; (events published, summed outcome).
    `report` (called once every event was made) is published with the last batch, after its
    events: one round of acks less per request than a publish of its own. Nothing when there
    are no events. Raises what `publish_all` raises (PublishUnavailable) at the first batch
    not stored."""
    total = stored = duplicates = 0
    batch: list[AlertReceived] = []
    size = 0

    async def flush(last: bool = False) -> None:
        nonlocal stored, duplicates, size
        outcome = await publisher.publish_all(
            batch, report() if last and report is not None else None
        )
        stored += outcome.stored
        duplicates += outcome.duplicates
        batch.clear()
        size = 0

    for event in events:
        event_size = approx_size(event)
        if batch and (len(batch) >= max_events or size + event_size > max_bytes):
            await flush()
        batch.append(event)
        size += event_size
        total += 1
    if batch:
        await flush(last=True)
    return total, PublishOutcome(stored=stored, duplicates=duplicates)
