"""Serve an ASGI app on loopback for a test, listening before the test goes on.

The socket is bound and listening before uvicorn starts, so connections wait in the backlog
until the app (and its lifespan) is ready: nothing to poll, nothing to sleep on.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from herald.shared.settings import KEEP_ALIVE_SECONDS


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def quiet_server(app: ASGIApp) -> uvicorn.Server:
    """uvicorn for a stand-in endpoint: no lifespan, warnings only, and idle connections kept as
    long as our services keep theirs (uvicorn's 5 s default races clients reusing them)."""
    return uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_keep_alive=KEEP_ALIVE_SECONDS
        )
    )


@asynccontextmanager
async def serving(
    server: uvicorn.Server,
    sock: socket.socket | None = None,
    timeout: float = 10.0,
    also: socket.socket | None = None,
) -> AsyncIterator[str]:
    """Run `server` on `sock` (a fresh listening one by default), and on `also` when given (a
    service's internal port: `herald.shared.listeners`); yields its base URL and stops it
    (waiting for its shutdown) on exit."""
    sock = sock or listening_socket()
    port = int(sock.getsockname()[1])
    task = asyncio.create_task(server.serve(sockets=[sock] if also is None else [sock, also]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, timeout)
        finally:
            sock.close()
            if also is not None:
                also.close()
