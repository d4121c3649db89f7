"""Run an app's lifespan as a server would (its yielded state reaches every request) and give an
HTTP client on it, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
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


@asynccontextmanager
async def internal(
    app: Starlette, base_url: str = "http://herald-internal"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the app's internal port (`app.state.probes`: `/healthz`, `/readyz`,
    `/metrics`), as `herald.shared.listeners` serves it. Use it inside `in_process(app)`: the
    probes read what that lifespan opened."""
    transport = httpx.ASGITransport(app=app.state.probes)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


async def metrics_of(app: Starlette) -> str:
    """The app's `/metrics` text, read on its internal port (inside `in_process(app)`)."""
    async with internal(app) as client:
        return (await client.get("/metrics")).text
