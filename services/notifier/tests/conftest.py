"""Notifier test fixtures: a real local HTTP receiver standing in for a pager's webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.notifier.tests.receiver import WAIT, Receiver
from tests.loopback import listening_socket, quiet_server, serving


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    sock = listening_socket()  # connections queue until uvicorn accepts: nothing to wait for
    rec = Receiver(sock.getsockname()[1])
    app = Starlette(routes=[Route("/{path:path}", rec.endpoint, methods=["POST"])])
    async with serving(quiet_server(app), sock, timeout=WAIT):
        yield rec
