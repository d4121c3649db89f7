"""Notifier test fixtures: a real local HTTP receiver standing in for a pager's webhook, and
what reaches the root logger (where the notifier's one log handler is)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.notifier.tests.receiver import WAIT, Receiver
from services.notifier.tests.root_log import RootLog
from tests.loopback import listening_socket, quiet_server, serving


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    sock = listening_socket()  # connections queue until uvicorn accepts: nothing to wait for
    rec = Receiver(sock.getsockname()[1])
    app = Starlette(routes=[Route("/{path:path}", rec.endpoint, methods=["POST"])])
    async with serving(quiet_server(app), sock, timeout=WAIT):
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
