"""Notifier test fixtures: a real local HTTP receiver standing in for a pager's webhook."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from services.notifier.tests.receiver import WAIT, Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue until uvicorn accepts: nothing to wait for
    rec = Receiver(sock.getsockname()[1])
    app = Starlette(routes=[Route("/{path:path}", rec.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield rec
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)
        sock.close()
