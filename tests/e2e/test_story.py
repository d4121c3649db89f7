"""The seed's story, end to end: the four services run as processes (as `make run` runs them)
against real NATS JetStream and Redis; a CrashLoopBackOff alert flips the page live, pages on-call,
and its resolution restores the page and tells the same people."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.processes import SERVICES, Stack
from tests.infra import Infra
from tests.receiver import Receiver
from tests.sse import SseClient, SseEvent

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "alerts"
CONFIG = ROOT / "examples" / "herald.yaml"

pytestmark = pytest.mark.e2e


def _payments(event: SseEvent, status: str) -> bool:
    if event.event == "snapshot":
        return False
    data = event.json()
    return data.get("service") == "payments-api" and data["component"]["status"] == status


def _component(summary: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in summary["components"] if c["id"] == cid)


async def test_crashloop_story(stack: Stack, pager: Receiver) -> None:
    page, ingest = stack.url("statuspage"), stack.url("ingest")
    hook = f"{ingest}/hooks/inbound/{stack.env['HERALD_DEMO_TOKEN']}"
    async with httpx.AsyncClient(timeout=10) as http, SseClient(f"{page}/events") as sse:
        await sse.next(lambda e: e.event == "snapshot")  # the stream is live

        before = (await http.get(f"{page}/api/v2/summary.json")).json()
        assert _component(before, "payments-api")["status"] == "operational"
        assert before["status"]["indicator"] == "none"

        firing = json.loads((ALERTS / "crashloop-firing.json").read_text())
        response = await http.post(hook, json=firing)
        assert response.status_code == 200, response.text

        pushed = await sse.next(lambda e: _payments(e, "major_outage"))
        assert pushed.id is not None
        epoch, seq = pushed.id.split("-")  # `<stream epoch>-<stream sequence>`
        assert int(epoch) > 0
        assert int(seq) > 0

        summary = (await http.get(f"{page}/api/v2/summary.json")).json()
        assert _component(summary, "payments-api")["status"] == "major_outage"
        assert summary["status"]["indicator"] != "none"
        (incident,) = summary["incidents"]
        assert incident["name"] == "Payments API pod is in CrashLoopBackOff"
        assert incident["status"] != "resolved"
        assert "CrashLoopBackOff for more than 2 minutes" in incident["incident_updates"][0]["body"]

        html = (await http.get(f"{page}/")).text
        assert "Payments API pod is in CrashLoopBackOff" in html
        assert "Major Outage" in html

        opened = (await pager.next()).body
        assert opened["type"] == "incident.opened"
        assert opened["service"]["id"] == "payments-api"
        assert opened["incident"]["title"] == "Payments API pod is in CrashLoopBackOff"

        # Alertmanager resends (HA peer, repeat_interval): nothing changes, nobody is paged twice.
        assert (await http.post(hook, json=firing)).status_code == 200

        resolved = json.loads((ALERTS / "crashloop-resolved.json").read_text())
        assert (await http.post(hook, json=resolved)).status_code == 200

        await sse.next(lambda e: _payments(e, "operational"))
        after = (await http.get(f"{page}/api/v2/summary.json")).json()
        assert _component(after, "payments-api")["status"] == "operational"
        assert after["incidents"] == []
        assert after["status"]["description"] == "All Systems Operational"
        history = (await http.get(f"{page}/api/v2/incidents.json")).json()["incidents"]
        assert [(i["name"], i["status"]) for i in history] == [
            ("Payments API pod is in CrashLoopBackOff", "resolved")
        ]

        notice = (await pager.next()).body
        assert notice["type"] == "incident.resolved"
        assert notice["incident"]["id"] == opened["incident"]["id"]
        assert pager.received.empty(), "the resent firing alert paged someone twice"


async def test_services_stop_cleanly_on_sigterm(infra: Infra, pager: Receiver) -> None:
    env = infra.stack_env(CONFIG)
    async with Stack(env, out=sys.stderr) as running:
        pass
    codes = running.exit_codes
    # uvicorn re-raises the SIGTERM it handled after a clean shutdown (exit -15); -9 would
    # mean the process did not stop within the timeout and was killed.
    assert codes == {name: codes[name] for name, _, _ in SERVICES}
    assert set(codes.values()) <= {0, -signal.SIGTERM}, codes
