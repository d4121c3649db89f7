"""Maintenance windows start and complete at their times exactly once with several correlator
replicas, and across a restart: Correlator instances sharing one real Redis and one clock that
the test moves (each instance with its own Redis connection and store, as replicas have),
publishing to real JetStream. "Once" is what the INCIDENTS stream holds: a replica that finds
another's step still unpublished publishes it too (the outbox: at least once), the same event
with the same `Nats-Msg-Id`, which JetStream stores once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from herald.correlator.consumer import Correlator
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.publisher import IncidentPublisher
from herald.correlator.store import CorrelatorStore
from herald.shared.config import parse_config
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    ComponentStatus,
    ComponentStatusChanged,
    IncidentEvent,
    MaintenanceChanged,
    MaintenanceStatus,
    ScheduleMaintenance,
)
from herald.shared.runtime import NatsConnection
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM
from tests.infra import Infra

pytestmark = pytest.mark.integration

CONFIG = parse_config(
    """
services:
  payments-api: {name: Payments API}
  search: {name: Search}
"""
)
SERVICES = ("payments-api", "search")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
START, END = T0 + timedelta(minutes=10), T0 + timedelta(minutes=40)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Stored:
    """What the INCIDENTS stream holds, in order."""

    def __init__(self, events: list[IncidentEvent]) -> None:
        self.events = events

    def maintenance(self, status: MaintenanceStatus) -> list[MaintenanceChanged]:
        return [
            e
            for e in self.events
            if isinstance(e, MaintenanceChanged) and e.maintenance.status is status
        ]

    def components(self, status: ComponentStatus) -> list[ComponentStatusChanged]:
        return [
            e for e in self.events if isinstance(e, ComponentStatusChanged) and e.status is status
        ]


class Replicas:
    """Correlator instances on one Redis, each on its own connections (closed at the end)."""

    def __init__(self, infra: Infra, clock: Clock) -> None:
        self.infra, self.clock = infra, clock
        self.clients: list[aioredis.Redis] = []
        self.nats: list[NatsConnection] = []

    async def start(self) -> Correlator:
        client = aioredis.from_url(self.infra.redis_url)
        self.clients.append(client)
        nats = NatsConnection(self.infra.nats_url, f"test-replica-{len(self.nats)}")
        await nats.connect()
        self.nats.append(nats)
        metrics = CorrelatorMetrics(CollectorRegistry())
        store = CorrelatorStore(client, CONFIG)
        publisher = IncidentPublisher(nats, metrics, encode=store.event_json)
        return Correlator(store, CONFIG, publisher, metrics, self.clock)

    async def stored(self) -> Stored:
        js = self.nats[0].js
        last = (await js.stream_info(INCIDENTS_STREAM)).state.last_seq
        msgs = [await js.get_msg(INCIDENTS_STREAM, seq) for seq in range(1, last + 1)]
        return Stored([INCIDENT_EVENT_ADAPTER.validate_json(m.data or b"") for m in msgs])

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()
        for n in self.nats:
            await n.close()


@pytest.fixture
async def replicas(infra: Infra) -> AsyncIterator[tuple[Replicas, Clock]]:
    clock = Clock()
    r = Replicas(infra, clock)
    try:
        yield r, clock
    finally:
        await r.close()


def schedule() -> bytes:
    command = ScheduleMaintenance(
        event_id="cmd-mnt-1",
        occurred_at=T0,
        idempotency_key="k1",
        actor="ops",
        maintenance_id="mnt-1",
        services=SERVICES,
        title="Database upgrade",
        starts_at=START,
        ends_at=END,
    )
    return command.model_dump_json().encode()


async def test_a_window_starts_once_with_two_replicas_and_completes_once_after_a_restart(
    replicas: tuple[Replicas, Clock],
) -> None:
    r, clock = replicas
    a, b = await r.start(), await r.start()
    await ensure_streams(r.nats[0].js)
    await a.handle_command(schedule())
    out = await r.stored()
    assert len(out.maintenance(MaintenanceStatus.SCHEDULED)) == len(SERVICES)

    clock.now = START - timedelta(seconds=1)
    assert await asyncio.gather(a.sweep(), b.sweep()) == [0, 0]  # not due yet

    clock.now = START
    await asyncio.gather(a.sweep(), b.sweep())  # both replicas sweep the same second
    out = await r.stored()
    started = out.maintenance(MaintenanceStatus.IN_PROGRESS)
    assert sorted(e.service for e in started) == sorted(SERVICES)  # once per service
    assert all(e.maintenance.started_at == START for e in started)
    shown = out.components(ComponentStatus.UNDER_MAINTENANCE)
    assert sorted(e.service for e in shown) == sorted(SERVICES)
    await asyncio.gather(a.sweep(), b.sweep())  # and again: nothing is due any more
    out = await r.stored()
    assert len(out.maintenance(MaintenanceStatus.IN_PROGRESS)) == len(SERVICES)
    for control in await a.store.controls(list(SERVICES)):  # stored, as both replicas see it
        assert [w.status for w in control.maintenances] == [MaintenanceStatus.IN_PROGRESS]

    # Every replica stops before the window ends; fresh ones start after its end (a restart:
    # new connections, nothing cached) and catch up on what fell due meanwhile, once.
    clock.now = END + timedelta(minutes=5)
    c, d = await r.start(), await r.start()
    await asyncio.gather(c.recover(), d.recover())
    await asyncio.gather(c.sweep(), d.sweep())
    await asyncio.gather(c.sweep(), d.sweep())
    out = await r.stored()
    completed = out.maintenance(MaintenanceStatus.COMPLETED)
    assert sorted(e.service for e in completed) == sorted(SERVICES)  # once per service
    assert all(not e.maintenance.cancelled for e in completed)
    back = out.components(ComponentStatus.OPERATIONAL)
    assert sorted(e.service for e in back) == sorted(SERVICES)
    for control in await c.store.controls(list(SERVICES)):
        assert [w.status for w in control.maintenances] == [MaintenanceStatus.COMPLETED]
    for status in await d.store.statuses(list(SERVICES)):
        assert status is not None
        assert status.component_status is ComponentStatus.OPERATIONAL
    for service in SERVICES:  # each service's events: versions in order, none twice
        versions = [e.version for e in out.events if e.service == service]
        assert versions == sorted(set(versions))
