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
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from devstack.processes import Stack
from herald.shared.streams import ensure_streams
from tests.infra import Infra, ServerProcess
from tests.receiver import Receiver
from tests.sse import SseClient, SseEvent

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "alerts"

RECOVERY_SECONDS = 60.0
"""Bound on how long the stack may take to take alerts again after NATS came back."""

pytestmark = pytest.mark.e2e


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
    if not infra.owned or infra.nats is None:
        pytest.fail("this fault test needs its own nats-server and redis-server (tests/infra.py)")
    page, ingest = stack.url("statuspage"), stack.url("ingest")
    hook = f"{ingest}/hooks/inbound/{stack.env['HERALD_DEMO_TOKEN']}"
    firing = json.loads((ALERTS / "crashloop-firing.json").read_text())
    resolved = json.loads((ALERTS / "crashloop-resolved.json").read_text())

    async with (
        httpx.AsyncClient(timeout=10) as http,
        SseClient(f"{page}/events", reconnect=True) as browser,
    ):
        await browser.next(lambda e: e.event == "snapshot")  # the page is live

        assert (await http.post(hook, json=firing)).status_code == 200
        await browser.next(lambda e: payments_status(e) == "major_outage")
        opened = (await pager.next()).body
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
        notice = (await pager.next(timeout=RECOVERY_SECONDS)).body
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
        paged = (await pager.next()).body
        assert paged["type"] == "incident.opened"
        assert paged["incident"]["id"] != opened["incident"]["id"]
        assert pager.received.empty(), "someone was paged twice"
