"""A correlator step counts as stored only once a Redis replica holds it (docs/reliability.md,
bug 8): on a master with a replica (through Sentinel, as REDIS_URL names it), a step whose
replica does not acknowledge it within the wait fails, so its messages are redelivered rather
than acknowledged; the same step redelivered once the replica is back is confirmed. A master
with no replica connected at all is not waited for."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry

from herald.correlator.consumer import Correlator, Outcome
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.store import CorrelatorStore
from herald.shared.config import parse_config
from herald.shared.events import IncidentEvent
from herald.shared.replication import NotReplicated, Replication
from herald.shared.runtime import RedisClient, open_redis
from services.correlator.tests.alerts import T0, make_alert
from services.correlator.tests.test_consumer_store import NOW, Recorded
from tests.cluster.servers import READY_SECONDS, RedisSentinel
from tests.infra import ServerProcess

pytestmark = pytest.mark.integration

CONFIG = parse_config(
    "integrations:\n  alertmanager: {token: t}\n"
    "services:\n  payments-api:\n    name: Payments API\n"
)
WAIT_MS = 300
"""Short, so the step that no replica acknowledges fails soon (not a timing assertion)."""


@pytest.fixture
async def client(redis_sentinel: RedisSentinel) -> AsyncIterator[RedisClient]:
    redis = open_redis(redis_sentinel.url)
    deadline = asyncio.get_running_loop().time() + READY_SECONDS
    await redis.set("herald:{test}:synced", "1")
    while await redis.execute_command("WAIT", 1, 500) != 1:  # the replica's first sync is done
        assert asyncio.get_running_loop().time() < deadline, "the replica never synced"
    yield redis
    await redis.aclose()


def correlator(client: RedisClient, published: list[IncidentEvent]) -> Correlator:
    return Correlator(
        CorrelatorStore(client, CONFIG, Replication(WAIT_MS)),
        CONFIG,
        Recorded(published),
        CorrelatorMetrics(CollectorRegistry()),
        lambda: NOW,
    )


@contextmanager
def stopped(server: ServerProcess) -> Iterator[None]:
    """The server frozen (SIGSTOP): connected, but it acknowledges nothing until continued."""
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


def body(fingerprint: str, status: str = "firing") -> bytes:
    return make_alert(fingerprint, status, T0).model_dump_json().encode()


async def test_a_step_no_replica_acknowledged_is_redelivered_not_acknowledged(
    client: RedisClient, redis_sentinel: RedisSentinel
) -> None:
    published: list[IncidentEvent] = []
    use = correlator(client, published)
    assert await use.handle_batch([body("fp1")]) == [Outcome.APPLIED]  # the replica has it

    with stopped(redis_sentinel.replica):
        (result,) = await use.handle_batch([body("fp2")])
        assert isinstance(result, NotReplicated), result  # app.py naks it: redelivered
        (again,) = await use.handle_batch([body("fp2")])  # the replica still away
        assert isinstance(again, NotReplicated), again

    # redelivered with the replica back: the master kept the step (nothing to change), and
    # what it kept is confirmed on the replica before the message may be acknowledged
    assert await use.handle_batch([body("fp2")]) == [Outcome.UNCHANGED]
    state = await use.store.load("payments-api", NOW)
    assert state.incident is not None
    assert state.incident.alert_count == 2


async def test_a_master_without_a_replica_is_not_waited_for(
    client: RedisClient, redis_sentinel: RedisSentinel
) -> None:
    use = correlator(client, [])
    redis_sentinel.replica.stop()
    results = [await use.handle_batch([body(f"fp{n}")]) for n in range(3)]
    assert results == [[Outcome.APPLIED]] * 3
