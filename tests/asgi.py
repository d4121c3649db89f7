"""Run an app's lifespan as a server would (its yielded state reaches every request) and give an
HTTP client on it, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

LIFESPAN_TIMEOUT = 30.0
"""Upper bound for start-up and shutdown (a failure, not a timing)."""


@asynccontextmanager
async def in_process(
    app: ASGIApp, base_url: str = "http://herald"
) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT, shutdown_timeout=LIFESPAN_TIMEOUT
    ) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
