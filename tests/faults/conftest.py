"""Fixtures of the fault suite: servers of its own per test (so a test may stop, pause, kill and
restart them; Redis with an append-only file, as it runs in production), the stack as processes
against them, and a stand-in pager."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack.infrastructure import find_binary, nats_argv, redis_argv
from devstack.processes import Stack
from tests.faults import storm
from tests.infra import Infra, ServerProcess, free_port
from tests.receiver import Receiver

SERVICES = 4
"""Services of the drill's configuration (svc-0 ... svc-3)."""


def _binary(name: str) -> str:
    found = find_binary(name)
    if found is None:
        pytest.fail(f"the fault suite needs {name} (Debian/Ubuntu: sudo apt-get install {name})")
    return found


@pytest.fixture
def own_infra() -> Iterator[Infra]:
    """A nats-server (JetStream on disk) and a redis-server (AOF, fsync every write) of this
    test's own."""
    with tempfile.TemporaryDirectory(prefix="herald-faults-") as tmp:
        root = Path(tmp)
        (root / "nats" / "jetstream").mkdir(parents=True)
        (root / "redis").mkdir()
        nport, rport = free_port(), free_port()
        nats = ServerProcess(
            nats_argv(_binary("nats-server"), nport, root / "nats" / "jetstream"),
            nport,
            root / "nats",
        )
        redis_cmd = redis_argv(_binary("redis-server"), rport, root / "redis", persist=True)
        redis = ServerProcess([*redis_cmd, "--appendfsync", "always"], rport, root / "redis")
        nats.start()
        redis.start()
        try:
            yield Infra(f"nats://127.0.0.1:{nport}", f"redis://127.0.0.1:{rport}/0", nats, redis)
        finally:
            nats.stop()
            redis.stop()


@pytest.fixture
async def pager() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
def drill_config(tmp_path: Path) -> Path:
    return storm.write_config(tmp_path / "herald.yaml", SERVICES)


@pytest.fixture
async def stack(own_infra: Infra, pager: Receiver, drill_config: Path) -> AsyncIterator[Stack]:
    env = own_infra.stack_env(drill_config, **storm.stack_extra(pager))
    async with Stack(env, out=sys.stderr) as running:
        yield running


@pytest.fixture
def sender(stack: Stack) -> storm.Sender:
    return storm.Sender(f"{stack.url('ingest')}/hooks/inbound/{storm.TOKEN}")
