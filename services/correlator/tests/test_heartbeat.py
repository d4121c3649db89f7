"""The dead man's switch through the use case, on the in-memory store and on real Redis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from herald.correlator.consumer import Correlator, Outcome
from herald.correlator.heartbeat import SILENT_TITLE
from herald.correlator.memory import MemoryStore
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.store import CorrelatorStore, Store
from herald.shared.config import parse_config
from herald.shared.events import IncidentEvent, IncidentOpened, IncidentResolved
from services.correlator.tests.alerts import make_alert
from tests.infra import Infra

CONFIG = parse_config(
    """
services:
  payments-api: {name: Payments API}
heartbeat:
  service: payments-api
  interval: 5m
"""
)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Published:
    def __init__(self) -> None:
        self.events: list[IncidentEvent] = []

    async def publish(self, events: Sequence[IncidentEvent]) -> None:
        self.events.extend(events)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def watchdog(at: datetime) -> bytes:
    alert = make_alert(
        fingerprint="watchdog",
        starts_at=at,
        labels={"alertname": "Watchdog", "severity": "none"},
    )
    return alert.model_dump_json().encode()


async def test_the_switch_in_memory() -> None:
    await silence_opens_an_internal_incident_that_resolves_when_heartbeats_return(
        MemoryStore(CONFIG)
    )


@pytest.mark.integration
async def test_the_switch_on_redis(infra: Infra) -> None:
    client = aioredis.from_url(infra.redis_url)
    try:
        await silence_opens_an_internal_incident_that_resolves_when_heartbeats_return(
            CorrelatorStore(client, CONFIG)
        )
    finally:
        await client.aclose()


async def silence_opens_an_internal_incident_that_resolves_when_heartbeats_return(
    store: Store,
) -> None:
    clock, out = Clock(), Published()
    use = Correlator(store, CONFIG, out, CorrelatorMetrics(CollectorRegistry()), clock)
    assert await use.handle_batch([watchdog(T0)]) == [Outcome.HEARTBEAT]
    await use.sweep()
    assert out.events == []  # a heartbeat is never an incident

    clock.now = T0 + timedelta(minutes=5, seconds=2)
    await use.sweep()
    await use.sweep()  # a second replica's sweep: nothing twice
    (opened,) = out.events
    assert isinstance(opened, IncidentOpened)
    assert opened.incident.title == SILENT_TITLE
    assert not opened.incident.public  # never on the public page
    assert opened.incident.paging

    await use.handle_batch([watchdog(clock.now)])
    await use.sweep()
    resolved = out.events[-1]
    assert isinstance(resolved, IncidentResolved)
    assert resolved.incident.id == opened.incident.id
