"""The running service against real NATS JetStream and Redis (the `infra` fixture), served by
a real uvicorn on a free port and read with httpx streaming, as a browser would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import pytest
import redis.asyncio as aioredis
import uvicorn
from nats.js import JetStreamContext

from herald.shared.config import HeraldConfig
from herald.shared.events import ComponentStatus, Impact
from herald.shared.keys import status_key
from herald.shared.listeners import ByPort
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, incident_subject
from herald.statuspage.app import Server, create_app
from herald.statuspage.board import Board, Reset
from herald.statuspage.revalidation import CDN_CACHE_CONTROL
from herald.statuspage.sse import stream_epoch
from herald.statuspage.subscription import IncidentSubscription
from tests.loopback import listening_socket
from tests.loopback import serving as on_loopback

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
EVIL = "<script>alert(1)</script>"


@dataclass
class Running:
    url: str
    board: Board
    server: Server
    internal_url: str
    """The internal port: `/healthz`, `/readyz`, `/metrics`."""


@asynccontextmanager
async def serving(infra: Any, config: HeraldConfig, **options: Any) -> AsyncIterator[Running]:
    """The app under uvicorn on a socket bound up front: requests wait in the backlog until the
    lifespan (subscribe, load snapshots) has finished, so no polling for readiness."""
    settings = infra.settings()
    app = create_app(config, settings, **options)
    internal = listening_socket()  # as served: the probes and metrics on a port of their own
    port = int(internal.getsockname()[1])
    served = ByPort(app, app.state.probes, port)
    server = Server(uvicorn.Config(served, log_config=None, lifespan="on"), app.state.board)
    async with on_loopback(server, timeout=TIMEOUT, also=internal) as url:
        yield Running(url, app.state.board, server, f"http://127.0.0.1:{port}")


class SseReader:
    """Reads Server-Sent Events off a streaming httpx response, one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self._read(), TIMEOUT)

    async def _read(self) -> dict[str, Any]:
        fields: dict[str, str] = {}
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    return {
                        "id": fields.get("id"),
                        "event": fields.get("event", "message"),
                        "data": json.loads("\n".join(data)),
                    }
                fields.clear()
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        raise EOFError("the event stream ended")


@asynccontextmanager
async def sse(
    http: httpx.AsyncClient, last_event_id: str | None = None
) -> AsyncIterator[SseReader]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with http.stream("GET", "/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"].startswith("no-cache")
        assert response.headers["x-accel-buffering"] == "no"
        yield SseReader(response)


def sid(page: Running, seq: int) -> str:
    """The SSE id of INCIDENTS sequence `seq` of the stream the page follows now."""
    return f"{page.board.fanout.epoch}-{seq}"


@pytest.fixture
async def js(infra: Any) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(infra.nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def publish(js: JetStreamContext, event: Any) -> int:
    """Publish like the correlator does; the INCIDENTS stream sequence of the stored message."""
    subject = incident_subject(
        event.service,
        {
            "incident.opened": "opened",
            "incident.updated": "updated",
            "incident.resolved": "resolved",
            "component.status_changed": "component",
        }[event.kind],
    )
    ack = await js.publish(
        subject,
        event.model_dump_json().encode(),
        stream=INCIDENTS_STREAM,
        headers={"Nats-Msg-Id": event.event_id},
    )
    return int(ack.seq)


async def test_a_stored_status_shows_immediately(infra, make):
    r = aioredis.from_url(infra.redis_url)
    incident = make.incident(
        title=EVIL,
        body="Card payments fail.",
        component_status=ComponentStatus.MAJOR_OUTAGE,
        impact=Impact.CRITICAL,
    )
    stored = make.status(
        version=3,
        component_status=ComponentStatus.MAJOR_OUTAGE,
        incident=incident,
        updated_at=make.t0,
    )
    await r.set(status_key("api"), stored.model_dump_json())
    await r.aclose()

    async with (
        serving(infra, make.config()) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
    ):
        html = (await http.get("/")).text
        summary = (await http.get("/api/v2/summary.json")).json()
        ready = await http.get(f"{page.internal_url}/readyz")
        assert (await http.get("/readyz")).status_code == 404  # not on the public port

    assert "Major System Outage" in html
    assert "Major Outage" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL not in html
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert {c["id"]: c["status"] for c in summary["components"]}["api"] == "major_outage"
    assert [i["name"] for i in summary["incidents"]] == [EVIL]
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"nats": "ok", "snapshot": "ok"}


async def test_published_events_reach_an_open_browser(infra, make, js):
    async with (
        serving(infra, make.config()) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
        sse(http) as events,
    ):
        first = await events.next()
        assert first["event"] == "snapshot"
        assert first["id"] == sid(page, 0)
        assert first["data"]["status"]["indicator"] == "none"

        seq = await publish(js, make.component(1, ComponentStatus.DEGRADED_PERFORMANCE))
        changed = await events.next()

        assert changed["id"] == sid(page, seq)
        assert changed["event"] == "component.status_changed"
        assert changed["data"]["kind"] == "component.status_changed"
        assert changed["data"]["service"] == "api"
        assert changed["data"]["version"] == 1
        assert changed["data"]["component"]["status"] == "degraded_performance"
        assert changed["data"]["incident"] is None
        assert changed["data"]["status"] == {
            "indicator": "minor",
            "description": "Partially Degraded Service",
        }

        opened = make.incident(
            service="nodes", title=EVIL, component_status=ComponentStatus.MAJOR_OUTAGE
        )
        seq = await publish(js, make.opened(1, opened))
        got = await events.next()

        assert got["id"] == sid(page, seq)
        assert got["event"] == "incident.opened"
        assert got["data"]["service"] == "nodes"
        assert got["data"]["component"]["status"] == "major_outage"
        assert got["data"]["group"]["status"] == "major_outage"
        assert got["data"]["incident"]["name"] == EVIL
        assert got["data"]["incident"]["status"] == "investigating"
        assert got["data"]["status"]["indicator"] == "critical"

        summary = (await http.get("/api/v2/summary.json")).json()
        assert [i["id"] for i in summary["incidents"]] == [opened.id]
        metrics = (await http.get(f"{page.internal_url}/metrics")).text
        assert "herald_statuspage_sse_clients 1.0" in metrics
        assert 'herald_statuspage_incident_events_total{result="applied"} 2.0' in metrics


async def test_a_reconnecting_browser_gets_only_what_it_missed(infra, make, js):
    async with (
        serving(infra, make.config()) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
    ):
        async with sse(http) as events:
            assert (await events.next())["event"] == "snapshot"
            seen = await publish(js, make.component(1, ComponentStatus.DEGRADED_PERFORMANCE))
            assert (await events.next())["id"] == sid(page, seen)

        missed = [
            await publish(js, make.component(2, ComponentStatus.PARTIAL_OUTAGE)),
            await publish(js, make.opened(3)),
        ]

        async with sse(http, last_event_id=sid(page, seen)) as events:
            replay = [await events.next(), await events.next()]
            assert [e["id"] for e in replay] == [sid(page, s) for s in missed]
            assert [e["event"] for e in replay] == ["component.status_changed", "incident.opened"]
            assert [e["data"]["version"] for e in replay] == [2, 3]

            later = await publish(js, make.resolved(4))
            resolved = await events.next()
            assert resolved["id"] == sid(page, later)
            assert resolved["data"]["incident"] is None  # nothing open any more
            assert [i["status"] for i in resolved["data"]["recent"]] == ["resolved"]


async def test_resuming_on_a_fresh_replica(infra, make, js):
    """A browser that was on another replica resumes here: from the replay window when its id
    is recent enough, else with a snapshot."""
    await ensure_streams(js)
    early = [
        await publish(js, make.component(1, ComponentStatus.DEGRADED_PERFORMANCE)),
        await publish(js, make.component(2, ComponentStatus.PARTIAL_OUTAGE)),
    ]
    r = aioredis.from_url(infra.redis_url)
    await r.set(
        status_key("api"),
        make.status(version=2, component_status=ComponentStatus.PARTIAL_OUTAGE).model_dump_json(),
    )
    await r.aclose()

    async with (
        serving(infra, make.config(), replay=1) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
    ):
        async with sse(http, last_event_id=sid(page, early[0] - 1)) as events:
            snap = await events.next()  # its id is older than the replay window
            assert snap["event"] == "snapshot"
            assert snap["data"]["versions"]["api"] == 2
            api = next(c for c in snap["data"]["components"] if c["id"] == "api")
            assert api["status"] == "partial_outage"

        async with sse(http, last_event_id=sid(page, early[0])) as events:
            got = await events.next()  # in the replay window: no snapshot
            assert got["id"] == sid(page, early[1])
            assert got["event"] == "component.status_changed"
            assert got["data"]["component"]["status"] == "partial_outage"

            seq = await publish(js, make.component(3, ComponentStatus.OPERATIONAL))
            got = await events.next()
            assert got["id"] == sid(page, seq)
            assert got["data"]["component"]["status"] == "operational"


async def test_a_stale_event_is_still_pushed_with_the_current_state(infra, make, js):
    r = aioredis.from_url(infra.redis_url)
    await r.set(
        status_key("api"),
        make.status(version=5, component_status=ComponentStatus.MAJOR_OUTAGE).model_dump_json(),
    )
    await r.aclose()

    async with (
        serving(infra, make.config()) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
        sse(http) as events,
    ):
        await events.next()
        seq = await publish(js, make.component(4, ComponentStatus.OPERATIONAL))
        got = await events.next()

        assert got["id"] == sid(page, seq)
        assert got["data"]["version"] == 5
        assert got["data"]["component"]["status"] == "major_outage"
        summary = (await http.get("/api/v2/summary.json")).json()
        assert {c["id"]: c["status"] for c in summary["components"]}["api"] == "major_outage"


async def test_shutdown_ends_open_event_streams(infra, make):
    async with (
        serving(infra, make.config()) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
        sse(http) as events,
    ):
        await events.next()
        page.server.should_exit = True  # what SIGTERM does

        with pytest.raises(EOFError):
            await events.next()
    assert page.board.fanout.clients == set()


async def test_a_recreated_stream_is_read_again_from_its_start(infra, make, js):
    """NATS lost the INCIDENTS stream (an empty volume, an operator re-creating it): its
    sequences start over. The open browser gets the page again on the same connection, then the
    new stream's events, and what was lost with the old stream comes back from Redis."""
    async with (
        serving(infra, make.config(), stream_check=0.1) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
        sse(http) as events,
    ):
        assert (await events.next())["event"] == "snapshot"
        for version in (1, 2):
            await publish(js, make.component(version, ComponentStatus.DEGRADED_PERFORMANCE))
            assert (await events.next())["data"]["version"] == version

        # The correlator stored this, then lost its event with the old stream.
        r = aioredis.from_url(infra.redis_url)
        lost = make.status(
            service="nodes", version=1, component_status=ComponentStatus.MAJOR_OUTAGE
        )
        await r.set(status_key("nodes"), lost.model_dump_json())
        await r.aclose()
        old_epoch = page.board.fanout.epoch
        await js.delete_stream(INCIDENTS_STREAM)
        await ensure_streams(js)
        seq = await publish(js, make.component(3, ComponentStatus.PARTIAL_OUTAGE))
        assert seq == 1

        resync = await events.next()
        assert (resync["event"], resync["id"]) == ("snapshot", sid(page, 0))
        assert page.board.fanout.epoch != old_epoch
        components = {c["id"]: c["status"] for c in resync["data"]["components"]}
        assert components["nodes"] == "major_outage"
        change = await events.next()
        assert (change["id"], change["data"]["version"]) == (sid(page, 1), 3)
        assert change["data"]["component"]["status"] == "partial_outage"

        # A browser resuming with an id of the old stream gets the whole page.
        async with sse(http, last_event_id=f"{old_epoch}-2") as resumed:
            assert (await resumed.next())["event"] == "snapshot"


class LateStreamInfo:
    """The JetStream context, but `stream_info`'s answer reaches the caller only after more
    events were stored and delivered (a loaded server or client: the answer is older than what
    the subscription has already seen)."""

    def __init__(self, js: JetStreamContext, make: Any, items: AsyncIterator[Any]) -> None:
        self.js, self.make, self.items = js, make, items
        self.delivered: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.js, name)

    async def stream_info(self, name: str) -> Any:
        info = await self.js.stream_info(name)
        for version in (10, 11):
            await publish(self.js, self.make.component(version, ComponentStatus.MAJOR_OUTAGE))
            self.delivered.append((await anext(self.items)).seq)
        return info


async def test_events_delivered_while_checking_the_stream_are_no_recreation(infra, make, js):
    """The stream check compares the stream's last sequence with what was delivered before it
    asked: events delivered while its answer was on the way are newer than that answer, and the
    page must not read the whole stream again for them (it did under a 300 alerts/s load)."""
    redis = aioredis.from_url(infra.redis_url)
    await ensure_streams(js)
    await publish(js, make.component(1, ComponentStatus.DEGRADED_PERFORMANCE))
    subscription = IncidentSubscription(js, redis, list(make.config().services))
    try:
        await subscription.start(await js.stream_info(INCIDENTS_STREAM), start=0)
        items = aiter(subscription)
        assert isinstance(await anext(items), Reset)
        assert (await anext(items)).seq == 1
        late = LateStreamInfo(js, make, items)
        subscription.js = late  # type: ignore[assignment]
        assert await subscription.check() is False
        assert late.delivered == [2, 3]
        await publish(js, make.component(12, ComponentStatus.MAJOR_OUTAGE))
        assert (await anext(items)).seq == 4  # followed on, not read again after a Reset
    finally:
        await subscription.stop()
        await redis.aclose()


async def test_event_ids_carry_the_incidents_stream_creation_time(infra, make, js):
    async with (
        serving(infra, make.config()) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
        sse(http) as events,
    ):
        first = await events.next()
        info = await js.stream_info(INCIDENTS_STREAM)
        assert info.created is not None
        assert first["id"] == f"{stream_epoch(info.created)}-0"


async def test_beyond_the_connection_limit_a_browser_is_told_to_come_back_later(infra, make):
    async with (
        serving(infra, make.config(), max_sse_clients=1) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
        sse(http) as events,
    ):
        assert (await events.next())["event"] == "snapshot"

        refused = await http.get("/events", headers={"Accept": "text/event-stream"})

        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["poll"] == "/api/page.json"
        assert refused.headers["x-content-type-options"] == "nosniff"
        polled = await http.get("/api/page.json")  # what the page polls: the snapshot's document
        assert polled.status_code == 200
        assert polled.json()["kind"] == "snapshot"


async def test_the_page_json_is_the_snapshot_a_browser_connecting_now_gets(infra, make, js):
    """What a page refused the stream polls: the same document, conditional like the API."""
    async with (
        serving(infra, make.config()) as page,
        httpx.AsyncClient(base_url=page.url, timeout=TIMEOUT) as http,
    ):
        async with sse(http) as events:
            assert (await events.next())["event"] == "snapshot"
            await publish(js, make.opened(1))
            assert (await events.next())["event"] == "incident.opened"
            await publish(js, make.resolved(2))
            assert (await events.next())["event"] == "incident.resolved"
        async with sse(http) as events:
            snapshot = await events.next()
        polled = await http.get("/api/page.json")

        assert snapshot["event"] == "snapshot"
        assert polled.status_code == 200
        assert polled.headers["content-type"] == "application/json"
        assert polled.json() == snapshot["data"]
        assert [i["id"] for i in polled.json()["resolved"]] == ["inc-1"]  # "Recently resolved"
        assert polled.json()["bars"]["api"]["days"]  # the uptime bars
        assert polled.headers["cache-control"] == CDN_CACHE_CONTROL
        assert polled.headers["access-control-allow-origin"] == "*"
        etag, modified = polled.headers["etag"], polled.headers["last-modified"]
        same = await http.get("/api/page.json", headers={"If-None-Match": etag})
        assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
        since = await http.get("/api/page.json", headers={"If-Modified-Since": modified})
        assert since.status_code == 304

        async with sse(http) as events:
            assert (await events.next())["event"] == "snapshot"
            await publish(js, make.component(3, ComponentStatus.DEGRADED_PERFORMANCE))
            assert (await events.next())["event"] == "component.status_changed"
        changed = await http.get("/api/page.json", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert {c["id"]: c["status"] for c in changed.json()["components"]}["api"] == (
            "degraded_performance"
        )
