"""The stack as processes (as `make run` runs it), with the example config and a stand-in pager."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.processes import Stack
from tests.infra import Infra
from tests.receiver import Receiver

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "herald.yaml"
WEBHOOK_TOKEN = "e2e-token"
"""The example integration's token in these tests (HERALD_DEMO_TOKEN)."""


@pytest.fixture
async def pager() -> AsyncIterator[Receiver]:
    """A real HTTP endpoint the example's webhook channel pages (HERALD_DEMO_PAGER_URL)."""
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def stack(infra: Infra, pager: Receiver) -> AsyncIterator[Stack]:
    env = infra.stack_env(
        EXAMPLE_CONFIG, HERALD_DEMO_TOKEN=WEBHOOK_TOKEN, HERALD_DEMO_PAGER_URL=pager.url
    )
    async with Stack(env, out=sys.stderr) as running:
        yield running
