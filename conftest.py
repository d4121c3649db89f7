"""Fixtures shared by every test folder: real NATS JetStream and Redis (see tests/infra.py)."""

from __future__ import annotations

from collections.abc import Iterator

import nats
import pytest
import redis.asyncio as aioredis

from tests.infra import Infra, real_infra


@pytest.fixture(scope="session")
def infra_servers() -> Iterator[Infra]:
    with real_infra() as infra:
        yield infra


@pytest.fixture
async def infra(infra_servers: Infra) -> Infra:
    """Running NATS + Redis, wiped clean before the test when they are ours."""
    if infra_servers.owned:
        if infra_servers.nats is not None and infra_servers.nats.proc is None:
            infra_servers.nats.start()  # a fault test left it stopped
        if infra_servers.redis is not None and infra_servers.redis.proc is None:
            infra_servers.redis.start()
        nc = await nats.connect(infra_servers.nats_url)
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
        await nc.close()
        r = aioredis.from_url(infra_servers.redis_url)
        await r.flushall()
        await r.aclose()
    return infra_servers
