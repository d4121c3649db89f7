"""Ingest running in process on real NATS (the `infra` fixture's server), for the tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from starlette.applications import Starlette

from herald.ingest.app import create_app
from herald.ingest.options import IngestOptions
from herald.shared.config import HeraldConfig
from herald.shared.runtime import NatsConnection
from herald.shared.settings import Settings
from herald.shared.subjects import ALERT_EVENT_SUBJECTS, ALERTS_STREAM
from tests.asgi import in_process, internal

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
"""The arrival time ingest stamps on every event in these tests."""
WAIT = 15.0
"""Upper bound for awaiting an expected event (never a sleep: we await it)."""


@dataclass
class Ingest:
    client: httpx.AsyncClient
    nats: NatsConnection
    app: Starlette
    probes: httpx.AsyncClient
    """On the internal port: `/healthz`, `/readyz`, `/metrics`."""

    async def post(self, doc: Any, token: str = "tok-am", **kw: Any) -> httpx.Response:  # noqa: S107
        return await self.client.post(f"/hooks/inbound/{token}", json=doc, **kw)


@asynccontextmanager
async def running_ingest(
    nats_url: str, config: HeraldConfig, opts: IngestOptions, *, wait_connected: bool = True
) -> AsyncIterator[Ingest]:
    """Ingest with `config` and `opts` on the NATS at `nats_url`; by default once it is ready."""
    settings = Settings.from_env(
        port_var="HERALD_INGEST_PORT", default_port=8081, env={"NATS_URL": nats_url}
    )
    nats = NatsConnection(
        nats_url,
        "test-ingest",
        connect_timeout=opts.connect_timeout,
        reconnect_wait=opts.reconnect_wait,
        request_timeout=opts.publish_timeout,
    )
    app = create_app(config, settings, opts, nats=nats, clock=lambda: NOW)
    async with in_process(app, "http://ingest") as client, internal(app) as probes:
        if wait_connected:
            await asyncio.wait_for(nats.connected.wait(), WAIT)
            assert (await probes.get("/readyz")).status_code == 200
        yield Ingest(client, nats, app, probes)


async def stored_alerts(nc: NATS) -> int:
    """How many alert events (group reports aside) the ALERTS stream holds."""
    try:
        info = await nc.jetstream().stream_info(ALERTS_STREAM, subjects_filter=ALERT_EVENT_SUBJECTS)
    except NotFoundError:
        return 0
    return sum((info.state.subjects or {}).values())
