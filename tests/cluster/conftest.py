"""Fixtures of the cluster tests: a Redis Cluster, Redis Sentinel and a NATS JetStream cluster
of their own per test (real processes on free ports, so a test may fail a node over or kill it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.cluster import servers
from tests.receiver import Receiver


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[servers.RedisCluster]:
    """Three masters, one replica each."""
    with servers.redis_cluster(tmp_path / "redis-cluster") as cluster:
        yield cluster


@pytest.fixture
def redis_sentinel(tmp_path: Path) -> Iterator[servers.RedisSentinel]:
    with servers.redis_sentinel(tmp_path / "redis-sentinel") as sentinel:
        yield sentinel


@pytest.fixture
async def nats_cluster(tmp_path: Path) -> AsyncIterator[servers.NatsCluster]:
    with servers.nats_cluster(tmp_path / "nats-cluster") as cluster:
        await cluster.wait_jetstream()
        yield cluster


@pytest.fixture
async def pager() -> AsyncIterator[Receiver]:
    """A stand-in pager: the webhook channel of the storm's configuration posts here."""
    async with Receiver() as receiver:
        yield receiver
