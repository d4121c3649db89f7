"""People in control, through to the on-call and the page: the `herald` CLI (a real process) ->
ingest's admin API -> COMMANDS -> the correlator -> INCIDENTS -> the notifier paging a real local
HTTP pager (tests/receiver.py) through a webhook channel, and the status page (summary.json and
its SSE stream). Every service runs in process, on its own port, over real NATS and Redis, on
one test clock that only the dead man's switch test moves.

What never reaches the public page is checked against barriers: after each event of the internal
incident, a public change of another service (a component override, set or cleared by hand) is
made and awaited on the SSE stream; the page consumes INCIDENTS in order, so every frame it would
have sent for the internal incident came before it, and summary.json read then has it too."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
import uvicorn
from nats.aio.msg import Msg

from herald.correlator.app import create_app as correlator_app
from herald.correlator.heartbeat import SILENT_TITLE
from herald.ingest.app import create_app as ingest_app
from herald.notifier.app import create_app as notifier_app
from herald.shared.config import HeraldConfig, parse_config
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentUpdated,
)
from herald.shared.runtime import NatsConnection
from herald.shared.streams import ensure_streams
from herald.statuspage.app import create_app as statuspage_app
from tests.infra import Infra
from tests.loopback import serving
from tests.receiver import Receiver
from tests.sse import SseClient, SseEvent

pytestmark = pytest.mark.integration

WAIT = 20.0
"""Upper bound for awaiting an expected event (a failure, never a timing)."""

SVC = "payments-api"
OTHER = "search"
"""A service nobody is paged for: its public changes are the barriers (an override pages no one)."""
PIPELINE = "alerting"
"""The dead man's switch's service (`heartbeat.service`), paged through its own on-call."""
WEBHOOK_TOKEN = "t1"
ADMIN_TOKEN = "s3cret-ops"
BOT_TOKEN = "s3cret-bot"
"""The notifier API token named `oncall-bot` (what `herald ack` sends)."""


def config_for(pager: Receiver) -> HeraldConfig:
    return parse_config(
        f"""
page: {{title: Acme Status}}
integrations:
  alertmanager: {{token: {WEBHOOK_TOKEN}}}
services:
  {SVC}: {{name: Payments API, oncall: backend}}
  {OTHER}: {{name: Search}}
  {PIPELINE}: {{name: Alerting pipeline, oncall: platform}}
oncall:
  backend: {{name: Backend on-call, channels: [backend-pager]}}
  platform: {{name: Platform on-call, channels: [platform-pager]}}
channels:
  backend-pager: {{type: webhook, url: "{pager.url_for("/backend")}"}}
  platform-pager: {{type: webhook, url: "{pager.url_for("/platform")}"}}
admin:
  tokens:
    ops: {{env: TEST_OPS_TOKEN}}
notifier:
  throttle: []
  api_tokens:
    oncall-bot: {{env: TEST_BOT_TOKEN}}
heartbeat:
  service: {PIPELINE}
  interval: 5m
"""
    )


class MovingClock:
    """The real time, moved forward by the test (every service reads it)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def forward(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Stack:
    ingest: str
    notifier: str
    page: str
    correlator: str
    events: asyncio.Queue[IncidentEvent]
    clock: MovingClock

    async def next(self, kind: type, where: Callable[[Any], bool] = lambda e: True) -> Any:
        """The next incident event of `kind` satisfying `where` (others are skipped)."""
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT)
            if isinstance(event, kind) and where(event):
                return event

    async def herald(
        self, *args: str, url: str | None = None, token: str = ADMIN_TOKEN
    ) -> tuple[int, str, str]:
        """The CLI as a process; at ingest's admin API unless `url` says otherwise."""
        env = dict(os.environ, HERALD_API_URL=url or self.ingest, HERALD_API_TOKEN=token)
        env.pop("HERALD_IDEMPOTENCY_KEY", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "herald.cli",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def open_by_hand(self, service: str, title: str, *extra: str) -> str:
        code, _, err = await self.herald(
            "incident", "open", "--service", service, "--title", title, *extra
        )
        assert code == 0, err
        opened = await self.next(IncidentOpened, lambda e: e.incident.title == title)
        return str(opened.incident.id)

    async def admin_get(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.ingest, timeout=WAIT) as http:
            answer = await http.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def public(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.page, timeout=WAIT) as http:
            answer = await http.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()


def server(app: object) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))  # type: ignore[arg-type]


@asynccontextmanager
async def stack(infra: Infra, pager: Receiver) -> AsyncIterator[tuple[Stack, SseClient]]:
    config = config_for(pager)
    clock = MovingClock()
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    events: asyncio.Queue[IncidentEvent] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        await events.put(INCIDENT_EVENT_ADAPTER.validate_json(msg.data))

    await js.subscribe("incidents.>", cb=on_msg, ordered_consumer=True)
    async with AsyncExitStack() as running:
        correlator = await running.enter_async_context(
            serving(server(correlator_app(config, infra.settings(), clock=clock)))
        )
        notifier = await running.enter_async_context(
            serving(
                server(
                    notifier_app(
                        config,
                        infra.settings(),
                        environ={"TEST_BOT_TOKEN": BOT_TOKEN},
                        clock=clock,
                    )
                )
            )
        )
        page = await running.enter_async_context(
            serving(server(statuspage_app(config, infra.settings(), clock=clock)))
        )
        env = {"TEST_OPS_TOKEN": ADMIN_TOKEN, "HERALD_CORRELATOR_URL": correlator}
        conn = NatsConnection(infra.nats_url, "herald-ingest")
        ingest = await running.enter_async_context(
            serving(
                server(ingest_app(config, infra.settings(), nats=conn, environ=env, clock=clock))
            )
        )
        async with httpx.AsyncClient(timeout=WAIT) as http:
            # any answer: each lifespan ran (the notifier is consuming INCIDENTS)
            await http.get(f"{ingest}/")
            await http.get(f"{notifier}/")
        await asyncio.wait_for(conn.connected.wait(), WAIT)
        sse = await running.enter_async_context(SseClient(f"{page}/events"))
        await sse.next(lambda e: e.event == "snapshot", timeout=WAIT)
        yield Stack(ingest, notifier, page, correlator, events, clock), sse
    await nc.drain()


async def until(sse: SseClient, match: Callable[[SseEvent], bool]) -> list[SseEvent]:
    """Every SSE event up to and including the first that `match`es."""
    seen: list[SseEvent] = []

    def record(event: SseEvent) -> bool:
        seen.append(event)
        return match(event)

    await sse.next(record, timeout=WAIT)
    return seen


def about(event: SseEvent, service: str) -> bool:
    return event.event != "snapshot" and event.json().get("service") == service


async def barrier(s: Stack, sse: SseClient, status: str | None) -> list[SseEvent]:
    """Override OTHER's component to `status` (None: clear the override) by hand and await its
    SSE event: every event up to it."""
    args = ("set", OTHER, status) if status else ("clear", OTHER)
    code, _, err = await s.herald("component", *args)
    assert code == 0, err
    shown = status or "operational"
    return await until(sse, lambda e: about(e, OTHER) and e.json()["component"]["status"] == shown)


def assert_never_public(s_seen: list[SseEvent], summary: Any, history: Any, *hidden: str) -> None:
    """None of `hidden` (an incident's id, its title...) is on the SSE stream or the page."""
    for event in s_seen:
        for word in hidden:
            assert word not in event.data, f"{word!r} reached the page's SSE stream: {event}"
    for doc in (summary, history):
        text = str(doc)
        for word in hidden:
            assert word not in text, f"{word!r} is on the public page: {doc}"


def watchdog_webhook(at: datetime) -> dict[str, Any]:
    """Alertmanager's notification of the always-firing Watchdog (kube-prometheus)."""
    labels = {"alertname": "Watchdog", "severity": "none", "prometheus": "monitoring/k8s"}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="Watchdog"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "herald",
        "groupLabels": {"alertname": "Watchdog"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "An alert that should always be firing"},
                "startsAt": at.isoformat().replace("+00:00", "Z"),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "watchdog",
            }
        ],
    }


async def test_an_incident_opened_by_hand_pages_on_call_and_its_resolve_is_told(
    infra: Infra,
) -> None:
    async with Receiver() as pager, stack(infra, pager) as (s, sse):
        iid = await s.open_by_hand(SVC, "Checkout errors", "--body", "Payments fail.")
        page = (await pager.next("/backend")).body
        assert page["type"] == "incident.opened"
        assert page["service"]["id"] == SVC
        assert page["incident"]["id"] == iid
        assert page["incident"]["title"] == "Checkout errors"
        shown = await until(sse, lambda e: about(e, SVC))  # a public one: on the page at once
        assert "Checkout errors" in shown[-1].data

        code, _, err = await s.herald("incident", "resolve", iid, "--body", "Rolled back.")
        assert code == 0, err
        await s.next(IncidentResolved, lambda e: e.incident.id == iid)
        notice = (await pager.next("/backend")).body
        assert notice["type"] == "incident.resolved"
        assert notice["incident"]["id"] == iid
    assert pager.count("/platform") == 0


async def test_an_internal_incident_is_paged_and_never_on_the_public_page(infra: Infra) -> None:
    title = "Card vault certificate expires tomorrow"
    hidden = (title, "Renew it today.")
    async with Receiver() as pager, stack(infra, pager) as (s, sse):
        iid = await s.open_by_hand(SVC, title, "--internal", "--body", "Renew it today.")
        page = (await pager.next("/backend")).body
        assert page["type"] == "incident.opened"
        assert page["incident"]["id"] == iid
        assert page["incident"]["title"] == title
        seen = await barrier(s, sse, "degraded_performance")
        summary_open = await s.public("/api/v2/summary.json")

        code, _, err = await s.herald("incident", "resolve", iid)
        assert code == 0, err
        resolved = await s.next(IncidentResolved, lambda e: e.incident.id == iid)
        assert not resolved.incident.public
        notice = (await pager.next("/backend")).body
        assert notice["type"] == "incident.resolved"
        assert notice["incident"]["id"] == iid
        seen += await barrier(s, sse, None)

        assert [e for e in seen if about(e, SVC)] == []
        history = await s.public("/api/v2/incidents.json")
        for summary in (summary_open, await s.public("/api/v2/summary.json")):
            assert_never_public(seen, summary, history, iid, *hidden)
            component = next(c for c in summary["components"] if c["id"] == SVC)
            assert component["status"] == "operational"


async def test_an_ack_with_a_named_notifier_token_is_on_the_timeline_and_in_the_audit(
    infra: Infra,
) -> None:
    async with Receiver() as pager, stack(infra, pager) as (s, _):
        iid = await s.open_by_hand(SVC, "Checkout errors")
        assert (await pager.next("/backend")).body["type"] == "incident.opened"

        code, out, err = await s.herald("ack", iid, url=s.notifier, token=BOT_TOKEN)
        assert code == 0, err
        assert f"{iid}: acknowledged" in out
        acked = await s.next(IncidentUpdated, lambda e: e.incident.id == iid)
        entry = acked.incident.timeline[-1]
        assert (entry.body, entry.public) == ("Acknowledged by oncall-bot.", False)
        told = (await pager.next("/backend")).body
        assert told["type"] == "incident.acknowledged"

        (incident,) = [
            i for i in (await s.admin_get("/api/v1/incidents"))["incidents"] if i["id"] == iid
        ]
        entries = [(e["body"], e["public"]) for e in incident["timeline"]]
        assert entries.count(("Acknowledged by oncall-bot.", False)) == 1
        audit = (await s.admin_get("/api/v1/audit"))["audit"]
        acks = [e for e in audit if e["kind"] == "incident.acknowledged" and e["target"] == iid]
        assert [(e["actor"], e["outcome"]) for e in acks] == [("oncall-bot", "applied")]

        # an unknown token acknowledges nothing
        code, _, err = await s.herald("ack", iid, url=s.notifier, token="nope")
        assert code == 1
        assert "HTTP 401" in err


async def test_a_silent_pipeline_pages_its_on_call_and_the_watchdog_resolves_it(
    infra: Infra,
) -> None:
    async with Receiver() as pager, stack(infra, pager) as (s, sse):
        # No Watchdog since the correlator started, and now more than `heartbeat.interval`
        # later: the switch's next sweep opens its internal incident.
        s.clock.forward(timedelta(minutes=6))
        opened = await s.next(IncidentOpened, lambda e: e.service == PIPELINE)
        assert opened.incident.title == SILENT_TITLE
        assert not opened.incident.public
        iid = opened.incident.id
        page = (await pager.next("/platform")).body
        assert page["type"] == "incident.opened"
        assert page["incident"]["id"] == iid
        assert page["incident"]["title"] == SILENT_TITLE
        seen = await barrier(s, sse, "degraded_performance")
        summary_open = await s.public("/api/v2/summary.json")

        # Heartbeats return (Alertmanager's Watchdog at ingest's webhook): it resolves.
        async with httpx.AsyncClient(timeout=WAIT) as http:
            hook = f"{s.ingest}/hooks/inbound/{WEBHOOK_TOKEN}"
            answer = await http.post(hook, json=watchdog_webhook(s.clock()))
        assert answer.status_code == 200, answer.text
        resolved = await s.next(IncidentResolved, lambda e: e.incident.id == iid)
        assert resolved.incident.timeline[-1].body == "Heartbeats are arriving again."
        notice = (await pager.next("/platform")).body
        assert notice["type"] == "incident.resolved"
        assert notice["incident"]["id"] == iid
        seen += await barrier(s, sse, None)

        assert [e for e in seen if about(e, PIPELINE)] == []
        history = await s.public("/api/v2/incidents.json")
        for summary in (summary_open, await s.public("/api/v2/summary.json")):
            assert_never_public(seen, summary, history, iid, SILENT_TITLE, "Watchdog")
            component = next(c for c in summary["components"] if c["id"] == PIPELINE)
            assert component["status"] == "operational"
        # the Watchdog is no alert Herald holds: it only refreshed the heartbeat
        assert (await s.admin_get("/api/v1/alerts"))["alerts"] == []
    assert pager.count("/backend") == 0
