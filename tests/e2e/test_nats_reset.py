"""A fault story, end to end: NATS loses its JetStream state while the stack runs (a single-node
NATS restarted on an empty volume) and Herald recovers by itself.

The four services run as processes against our own nats-server and redis-server. An incident is
open (page flipped, on-call paged) when NATS is stopped, its store directory deleted and NATS
started again: every stream, every durable consumer and every sequence are gone, Redis keeps the
incident. (Or, without a restart, an operator deletes the streams and creates them again.)
Alertmanager then sends the resolution (and retries while ingest answers 503, as it
does); the browser that had the page open, the JSON API and the pager must all see it, and a new
alert must flip the page and page again.

The browser is modelled by an EventSource: it reads /events, and when the stream ends or breaks it
reconnects by itself with `Last-Event-ID` (what a browser does). Whether the status page keeps the
connection open or ends it, the page must become true again without a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from devstack.processes import Stack
from herald.shared.streams import ensure_streams
from tests.infra import Infra, ServerProcess
from tests.receiver import Receiver
from tests.sse import SseEvent, read_events

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "alerts"
CONFIG = ROOT / "examples" / "herald.yaml"
TOKEN = "e2e-token"

RECOVERY_SECONDS = 60.0
"""Bound on how long the stack may take to take alerts again after NATS came back."""

pytestmark = pytest.mark.e2e


class EventSource:
    """A browser's EventSource: reconnects whenever the stream ends or fails, sending the id of
    the last event it received as `Last-Event-ID`. `connections` counts the streams opened."""

    RECONNECT_SECONDS = 0.2
    """A browser waits the server's `retry:` (3 s) before reconnecting; we are less patient."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.last_event_id: str | None = None
        self.connections = 0
        self.queue: asyncio.Queue[SseEvent] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as client:
            while True:
                headers = {"Accept": "text/event-stream"}
                if self.last_event_id is not None:
                    headers["Last-Event-ID"] = self.last_event_id
                with contextlib.suppress(httpx.HTTPError):
                    async with client.stream("GET", self.url, headers=headers) as response:
                        response.raise_for_status()
                        self.connections += 1
                        self.connected.set()
                        async for event in read_events(response.aiter_lines()):
                            if event.id is not None:
                                self.last_event_id = event.id
                            await self.queue.put(event)
                await asyncio.sleep(self.RECONNECT_SECONDS)

    async def __aenter__(self) -> EventSource:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def next(self, match: Callable[[SseEvent], bool], timeout: float = 15.0) -> SseEvent:
        """The first event (from now on in the queue) for which `match` is true."""

        async def find() -> SseEvent:
            while True:
                event = await self.queue.get()
                if match(event):
                    return event

        return await asyncio.wait_for(find(), timeout)


@pytest.fixture
async def pager() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def stack(infra: Infra, pager: Receiver) -> AsyncIterator[Stack]:
    if not infra.owned:
        pytest.fail(
            "this fault test needs its own nats-server and redis-server (see tests/infra.py)"
        )
    env = infra.stack_env(CONFIG, HERALD_DEMO_TOKEN=TOKEN, HERALD_DEMO_PAGER_URL=pager.url)
    async with Stack(env, out=sys.stderr) as running:
        yield running


def wipe_jetstream(nats: ServerProcess) -> None:
    """Stop NATS, delete its JetStream store, start it again: an empty volume."""
    store = Path(nats.argv[nats.argv.index("-sd") + 1])
    nats.stop()
    shutil.rmtree(store)
    store.mkdir()
    nats.start()


async def recreate_streams(nats_url: str) -> None:
    """An operator deletes every stream (and so every consumer) and creates them again."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
        await ensure_streams(js)
    finally:
        await nc.close()


def payments_status(event: SseEvent) -> str | None:
    """payments-api's component status as an SSE event tells it (a change of that service or a
    whole-page snapshot); None when the event does not tell it."""
    data = event.json()
    if event.event == "snapshot":
        return next(c["status"] for c in data["components"] if c["id"] == "payments-api")
    if data.get("service") == "payments-api":
        return str(data["component"]["status"])
    return None


def _component(summary: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in summary["components"] if c["id"] == cid)


async def post_until_stored(http: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> None:
    """POST like Alertmanager: retry 5xx and connection errors (bounded), never a 4xx."""
    deadline = asyncio.get_running_loop().time() + RECOVERY_SECONDS
    last = "no answer"
    while asyncio.get_running_loop().time() < deadline:
        try:
            response = await http.post(url, json=payload)
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            if response.status_code == 200:
                return
            assert response.status_code >= 500, response.text  # Alertmanager drops a 4xx
            last = f"{response.status_code} {response.text}"
        await asyncio.sleep(0.5)  # Alertmanager's retry back-off
    pytest.fail(f"ingest did not store the alert within {RECOVERY_SECONDS}s: {last}")


@pytest.mark.parametrize("loss", ["empty-volume", "streams-recreated"])
async def test_recovers_when_nats_loses_its_jetstream_state(
    infra: Infra, stack: Stack, pager: Receiver, loss: str
) -> None:
    assert infra.nats is not None
    page, ingest = stack.url("statuspage"), stack.url("ingest")
    hook = f"{ingest}/hooks/inbound/{TOKEN}"
    firing = json.loads((ALERTS / "crashloop-firing.json").read_text())
    resolved = json.loads((ALERTS / "crashloop-resolved.json").read_text())

    async with httpx.AsyncClient(timeout=10) as http, EventSource(f"{page}/events") as browser:
        await browser.next(lambda e: e.event == "snapshot")  # the page is live

        assert (await http.post(hook, json=firing)).status_code == 200
        await browser.next(lambda e: payments_status(e) == "major_outage")
        opened = await pager.next()
        assert opened["type"] == "incident.opened"

        if loss == "empty-volume":
            wipe_jetstream(infra.nats)
        else:
            await recreate_streams(infra.nats_url)

        await post_until_stored(http, hook, resolved)

        await browser.next(lambda e: payments_status(e) == "operational", timeout=RECOVERY_SECONDS)
        after = (await http.get(f"{page}/api/v2/summary.json")).json()
        assert _component(after, "payments-api")["status"] == "operational"
        assert after["incidents"] == []
        notice = await pager.next(timeout=RECOVERY_SECONDS)
        assert notice["type"] == "incident.resolved"
        assert notice["incident"]["id"] == opened["incident"]["id"]

        # A new alert instance (a re-fire: same alert, new startsAt) opens a new incident.
        refire = json.loads((ALERTS / "crashloop-firing.json").read_text())
        for alert in refire["alerts"]:
            alert["startsAt"] = "2026-05-28T15:10:00Z"
        await post_until_stored(http, hook, refire)

        await browser.next(lambda e: payments_status(e) == "major_outage")
        summary = (await http.get(f"{page}/api/v2/summary.json")).json()
        assert _component(summary, "payments-api")["status"] == "major_outage"
        (incident,) = summary["incidents"]
        assert incident["status"] != "resolved"
        paged = await pager.next()
        assert paged["type"] == "incident.opened"
        assert paged["incident"]["id"] != opened["incident"]["id"]
        assert pager.received.empty(), "someone was paged twice"
