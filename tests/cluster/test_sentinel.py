"""Herald's Redis client through Redis Sentinel: `redis+sentinel://` reaches the master the
Sentinels name, and after a failover (the replica promoted) the same client writes to the new
master, scripts included, with what was written before still there."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from herald.shared.runtime import open_redis, run_scripts
from tests.cluster.servers import READY_SECONDS, RedisSentinel

pytestmark = pytest.mark.integration

_INCR = "return redis.call('INCR', KEYS[1])"


async def test_the_client_follows_a_sentinel_failover(redis_sentinel: RedisSentinel) -> None:
    client = open_redis(redis_sentinel.url)
    try:
        script = client.register_script(_INCR)
        assert await run_scripts(client, [(script, ["herald:{s}:n"], [])]) == [1]
        assert await redis_sentinel.master_port() == redis_sentinel.master.port
        deadline = asyncio.get_running_loop().time() + READY_SECONDS
        while await client.execute_command("WAIT", 1, 500) != 1:  # the replica has it
            assert asyncio.get_running_loop().time() < deadline, "the replica never synced"

        sentinel = open_redis(f"redis://127.0.0.1:{redis_sentinel.sentinels[0].port}")
        await sentinel.execute_command("SENTINEL", "FAILOVER", redis_sentinel.name)
        await sentinel.aclose()
        while await redis_sentinel.master_port() != redis_sentinel.replica.port:
            assert asyncio.get_running_loop().time() < deadline, "no failover"
            await asyncio.sleep(0.1)

        while True:  # the old master's connections fail (or turn read-only) once: then retried
            try:
                replies = await run_scripts(client, [(script, ["herald:{s}:n"], [])])
            except (RedisConnectionError, RedisTimeoutError):
                replies = [None]
            if replies == [2]:
                break
            assert isinstance(replies[0], ReadOnlyError | None), replies
            assert asyncio.get_running_loop().time() < deadline, replies
            await asyncio.sleep(0.1)
        assert client.connection_pool.connection_kwargs  # the same client, not a new one
    finally:
        await client.aclose()
