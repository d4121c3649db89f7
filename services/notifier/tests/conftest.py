"""Notifier test fixtures: a real local HTTP receiver standing in for a pager's webhook, and
what reaches the root logger (where the notifier's one log handler is)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from services.notifier.tests.root_log import RootLog
from tests.receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as rec:
        yield rec


@pytest.fixture
def root_log() -> Iterator[RootLog]:
    root, handler = logging.getLogger(), RootLog()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
