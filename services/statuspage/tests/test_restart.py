"""Against real NATS JetStream and Redis: a status page (re)started while the service has an
open incident shows it.

History of `api` in the INCIDENTS stream: opened (v1), then an escalation (updated v2 +
component change v3). The correlator's Redis snapshot is at v3 with the incident open. The page
starts with `replay=1`, so the replay window holds only the component change v3. That replayed
message is delivered before the Redis GET answers (Redis a little slow, or simply many services
to read one GET at a time): folded onto nothing it would reach v3 from that one event and the v3
snapshot would be dropped as "not newer" (no incident on the page). The subscription holds it
until the snapshots are read and yields it after their Reset.

Redis is made slow here by delaying `read_snapshots` until the replayed message was received;
NATS and Redis themselves are real.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import nats
import pytest
import redis.asyncio as aioredis
import uvicorn

import herald.statuspage.app as app_module
import herald.statuspage.subscription as subscription_module
from herald.shared.events import ComponentStatus, Impact
from herald.shared.keys import status_key
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, incident_subject
from tests.loopback import serving

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
NAMES = {
    "incident.opened": "opened",
    "incident.updated": "updated",
    "incident.resolved": "resolved",
    "component.status_changed": "component",
}


async def publish(js: Any, event: Any) -> int:
    ack = await js.publish(
        incident_subject(event.service, NAMES[event.kind]),
        event.model_dump_json().encode(),
        stream=INCIDENTS_STREAM,
        headers={"Nats-Msg-Id": event.event_id},
    )
    return int(ack.seq)


async def test_a_restarted_page_shows_the_open_incident(infra, make, monkeypatch):
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    opened = make.incident(component_status=ComponentStatus.PARTIAL_OUTAGE, impact=Impact.MAJOR)
    escalated = opened.model_copy(
        update={"component_status": ComponentStatus.MAJOR_OUTAGE, "impact": Impact.CRITICAL}
    )
    await publish(js, make.opened(1, opened))
    await publish(js, make.updated(2, escalated))
    last = await publish(
        js, make.component(3, ComponentStatus.MAJOR_OUTAGE, previous=ComponentStatus.PARTIAL_OUTAGE)
    )
    await nc.close()
    r = aioredis.from_url(infra.redis_url)
    await r.set(
        status_key("api"),
        make.status(
            version=3,
            component_status=ComponentStatus.MAJOR_OUTAGE,
            incident=escalated,
            updated_at=make.t0,
        ).model_dump_json(),
    )
    await r.aclose()

    app = app_module.create_app(make.config(), infra.settings(), replay=1)
    board = app.state.board
    real_read = subscription_module.read_snapshots
    real_received = subscription_module.Received
    replayed = asyncio.Event()

    def received(data: bytes, seq: int) -> Any:
        # The subscription took the replayed message from NATS (it holds it for the board).
        if seq >= last:
            replayed.set()
        return real_received(data, seq)

    async def slow_read(client: Any, services: list[str]) -> Any:
        # Redis answers once the replayed message was delivered.
        await asyncio.wait_for(replayed.wait(), TIMEOUT)
        return await real_read(client, services)

    monkeypatch.setattr(subscription_module, "Received", received)
    monkeypatch.setattr(subscription_module, "read_snapshots", slow_read)

    server = app_module.Server(uvicorn.Config(app, log_config=None, lifespan="on"), board)
    async with (
        serving(server, timeout=TIMEOUT) as url,
        httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as http,
    ):
        summary = (await http.get("/api/v2/summary.json")).json()
        html = (await http.get("/")).text

    assert board.highest_seq == last
    assert {c["id"]: c["status"] for c in summary["components"]}["api"] == "major_outage"
    # The open incident (it is in the Redis snapshot).
    assert [i["id"] for i in summary["incidents"]] == [escalated.id]
    assert escalated.title in html


async def test_a_components_creation_time_survives_restarts(infra, make):
    first = make.t0
    later = make.t0 + timedelta(days=3)
    for now in (first, later):
        app = app_module.create_app(make.config(), infra.settings(), clock=lambda now=now: now)
        server = app_module.Server(
            uvicorn.Config(app, log_config=None, lifespan="on"), app.state.board
        )
        async with (
            serving(server, timeout=TIMEOUT) as url,
            httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as http,
        ):
            components = (await http.get("/api/v2/components.json")).json()["components"]
        created = {c["id"]: c["created_at"] for c in components}
        assert created["api"] == "2024-05-01T12:00:00.000Z"
        assert created["cluster"] == "2024-05-01T12:00:00.000Z"  # its first service's
