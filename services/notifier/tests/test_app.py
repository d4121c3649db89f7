"""The notifier against real NATS JetStream and Redis, paging a real local HTTP receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from herald.notifier.app import ACK_WAIT_SECONDS, create_app
from herald.notifier.delivery import Outcome
from herald.notifier.escalator import StepRun
from herald.notifier.pager import Handled
from herald.notifier.redelivery import RetryPolicy, Verdict
from herald.shared.config import HeraldConfig, parse_config
from herald.shared.events import (
    INCIDENT_EVENT_NAMES,
    ComponentStatus,
    ComponentStatusChanged,
    IncidentEvent,
)
from herald.shared.settings import Settings
from herald.shared.subjects import INCIDENTS_STREAM, NOTIFIER_DURABLE, incident_subject
from services.notifier.tests.events import T0, opened, resolved
from tests.asgi import in_process, internal
from tests.infra import Infra
from tests.receiver import WAIT, Receiver

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(max_deliver=5, base_delay=0.05, max_delay=0.2)


def config_for(receiver: Receiver) -> HeraldConfig:
    return parse_config(
        f"""
page: {{title: Acme Status, url: "https://status.example.com"}}
notifier: {{throttle: [], api_tokens: ["api-token"]}}
services:
  payments-api: {{name: Payments API, oncall: backend}}
  search: {{name: Search}}
oncall:
  backend: {{name: Backend on-call, channels: [fast, flaky, console, dormant]}}
channels:
  console: {{type: console}}
  fast:
    type: webhook
    url: "{receiver.url_for("/fast")}"
    headers: {{Authorization: "Bearer fast-token"}}
  flaky:
    type: webhook
    url: "{receiver.url_for("/flaky")}"
  dormant:
    type: webhook
    url: {{env: HERALD_TEST_UNSET_URL, optional: true}}
"""
    )


def settings_for(infra: Infra) -> Settings:
    return infra.settings(log_format="json")


class Running:
    """A running notifier app, the events it handled, and a JetStream client to publish with."""

    def __init__(self, app: Starlette, js: JetStreamContext) -> None:
        self.app = app
        self.js = js
        self.handled: asyncio.Queue[Handled] = asyncio.Queue()
        self.steps: asyncio.Queue[StepRun] = asyncio.Queue()

    async def next_step(self) -> StepRun:
        """The next escalation step run (a legacy `oncall:` page is one)."""
        return await asyncio.wait_for(self.steps.get(), WAIT)

    async def publish(self, event: IncidentEvent, msg_id: str | None = None) -> None:
        subject = incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind])
        await self.js.publish(
            subject,
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": msg_id or event.event_id},
        )

    async def next_handled(self) -> Handled:
        return await asyncio.wait_for(self.handled.get(), WAIT)

    async def until_settled(self, event_id: str) -> list[Handled]:
        """Every delivery of `event_id` up to the one that acked or gave it up."""
        seen: list[Handled] = []
        while True:
            handled = await self.next_handled()
            assert handled.event_id == event_id
            seen.append(handled)
            if handled.decision.verdict is not Verdict.RETRY:
                return seen

    def metric(self, name: str, labels: dict[str, str]) -> float:
        registry: CollectorRegistry = self.app.state.registry
        return registry.get_sample_value(name, labels) or 0.0


Runner = Callable[..., AbstractAsyncContextManager[Running]]


@pytest.fixture
def notifier(infra: Infra, receiver: Receiver) -> Runner:
    @asynccontextmanager
    async def run(
        retry: RetryPolicy = FAST_RETRY, config: HeraldConfig | None = None
    ) -> AsyncIterator[Running]:
        nc = await nats.connect(infra.nats_url)
        holder: list[Running] = []
        app = create_app(
            config or config_for(receiver),
            settings_for(infra),
            retry=retry,
            observe=lambda h: holder[0].handled.put_nowait(h),
            on_step=lambda run: holder[0].steps.put_nowait(run),
            environ={},
        )
        running = Running(app, nc.jetstream())
        holder.append(running)
        try:
            async with in_process(app, "http://notifier"):
                yield running
        finally:
            await nc.close()

    return run


def sent(step: StepRun) -> dict[str, Outcome]:
    return {s.dest.channel: s.outcome for s in step.sent}


async def test_opened_pages_each_channel_once_with_the_contract_body(
    notifier: Runner, receiver: Receiver
) -> None:
    event = opened()
    async with notifier() as n:
        await n.publish(event)
        [handled] = await n.until_settled(event.event_id)
        assert handled.decision.verdict is Verdict.ACK  # acked once stored in Redis
        step = await n.next_step()
        fast, flaky = await receiver.next("/fast"), await receiver.next("/flaky")

        expected = {
            "type": "incident.opened",
            "service": {"id": "payments-api", "name": "Payments API"},
            "incident": event.incident.model_dump(mode="json"),
            "text": "[OPENED] Payments API: Card payments failing",
            "status_page_url": "https://status.example.com",
        }
        run_id = fast.body.pop("event_id")
        assert run_id.startswith("esc:payments-api-inc-1:")  # the notification's identity
        assert flaky.body.pop("event_id") == run_id
        assert fast.body == expected
        assert flaky.body == expected
        assert fast.headers["idempotency-key"] == f"{run_id}:fast"
        assert flaky.headers["idempotency-key"] == f"{run_id}:flaky"
        assert fast.headers["authorization"] == "Bearer fast-token"
        assert sent(step) == {
            "fast": Outcome.SENT,
            "flaky": Outcome.SENT,
            "console": Outcome.SENT,
            "dormant": Outcome.DISABLED,
        }

        # JetStream's de-duplication window is passed (new Nats-Msg-Id): nothing is paged again.
        await n.publish(event, msg_id="replayed-later")
        [again] = await n.until_settled(event.event_id)
        assert again.decision.verdict is Verdict.ACK
        assert n.steps.empty()
        assert receiver.count("/fast") == 1
        assert receiver.count("/flaky") == 1


async def test_resolved_tells_the_same_channels(notifier: Runner, receiver: Receiver) -> None:
    async with notifier() as n:
        await n.publish(opened())
        await n.until_settled("ev-open-1")
        await n.publish(resolved())
        first, second = await receiver.next("/fast"), await receiver.next("/fast")
        assert first.body["type"] == "incident.opened"
        assert second.body["type"] == "incident.resolved"
        assert second.body["event_id"] == "ev-resolve-1"
        assert second.body["text"] == "[RESOLVED] Payments API: Card payments failing"
        assert second.body["incident"]["status"] == "resolved"
        assert (await receiver.next("/flaky")).body["type"] == "incident.opened"
        assert (await receiver.next("/flaky")).body["type"] == "incident.resolved"
        # (redelivered when it came before the page had gone: it waits for the page)
        handled = (await n.until_settled("ev-resolve-1"))[-1]
        assert handled.decision.verdict is Verdict.ACK


async def test_a_failing_channel_is_retried_alone_until_it_succeeds(
    notifier: Runner, receiver: Receiver
) -> None:
    receiver.script("/flaky", 503, 503)
    async with notifier() as n:
        await n.publish(opened())
        [handled] = await n.until_settled("ev-open-1")
        assert handled.decision.verdict is Verdict.ACK  # no JetStream redelivery: Redis has it
        step = await n.next_step()
        assert sent(step)["flaky"] is Outcome.SENT
        assert sent(step)["fast"] is Outcome.SENT
        assert receiver.count("/flaky") == 3
        assert receiver.count("/fast") == 1
        # The healthy channel was paged before any retry of the failing one.
        flaky_at = [i for i, path in enumerate(receiver.arrivals) if path == "/flaky"]
        assert receiver.arrivals.index("/fast") < flaky_at[1]
        assert (
            n.metric(
                "herald_notifier_notifications_total",
                {"channel": "flaky", "outcome": "retryable_failure"},
            )
            == 2
        )


async def test_a_rejected_page_is_not_retried_and_is_listed_as_failed(
    notifier: Runner, receiver: Receiver
) -> None:
    receiver.always("/flaky", 400)
    async with notifier() as n:
        await n.publish(opened())
        step = await n.next_step()
        assert sent(step)["flaky"] is Outcome.PERMANENT
        assert sent(step)["fast"] is Outcome.SENT
        assert receiver.count("/flaky") == 1
        assert n.metric("herald_notifier_failed_for_good_total", {"channel": "flaky"}) == 1
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=n.app), base_url="http://notifier"
        ) as client:
            assert (await client.get("/api/deliveries/failed")).status_code == 401
            api = {"Authorization": "Bearer api-token"}
            failed = (await client.get("/api/deliveries/failed", headers=api)).json()
        [entry] = [f for f in failed["failed"] if f["channel"] == "flaky"]
        assert entry["outcome"] == "permanent_failure"
        assert entry["detail"] == "HTTP 400"


async def test_a_dead_destination_fails_for_good_after_its_attempts_and_delays_no_other(
    notifier: Runner, receiver: Receiver
) -> None:
    receiver.always("/flaky", 503)
    async with notifier() as n:
        await n.publish(opened())
        assert (await receiver.next("/fast")).body["type"] == "incident.opened"
        step = await n.next_step()
        assert sent(step)["flaky"] is Outcome.RETRYABLE
        assert receiver.count("/flaky") == 4
        assert receiver.count("/fast") == 1
        assert n.metric("herald_notifier_failed_for_good_total", {"channel": "flaky"}) == 1
        # the first notification delivered is the page's latency, observed once
        assert n.metric("herald_notifier_page_latency_seconds_count", {}) == 1


async def test_a_hanging_destination_delays_no_other(notifier: Runner, receiver: Receiver) -> None:
    # `flaky` takes the page and never answers (a pager that hangs): `fast` gets the page, and
    # the resolve too, while `flaky`'s send is still under way.
    receiver.hold("/flaky", 2)
    async with notifier() as n:
        await n.publish(opened())
        held = await receiver.next_held("/flaky")
        assert held.body["type"] == "incident.opened"
        assert (await receiver.next("/fast")).body["type"] == "incident.opened"
        await n.publish(resolved())
        assert (await receiver.next("/fast")).body["type"] == "incident.resolved"
        assert receiver.count("/flaky") == 0  # still hanging: nothing answered there yet
        receiver.release()  # so the notifier's stop need not wait for its send to time out


async def test_a_resolve_never_overtakes_a_retried_page(
    notifier: Runner, receiver: Receiver
) -> None:
    # The page fails once on `flaky` and is retried after a backoff; the alert resolves
    # meanwhile. Had the resolve gone out at once, the retried page would follow it, and a pager
    # keying its incidents on the incident id would stay triggered for ever. It waits instead.
    receiver.script("/flaky", 503)
    async with notifier() as n:
        await n.publish(opened())
        assert (await receiver.next("/flaky")).body["type"] == "incident.opened"  # the 503
        await n.publish(resolved())
        flaky = [(await receiver.next("/flaky")).body["type"] for _ in range(2)]
        assert flaky == ["incident.opened", "incident.resolved"]
        fast = [(await receiver.next("/fast")).body["type"] for _ in range(2)]
        assert fast == ["incident.opened", "incident.resolved"]


async def test_services_without_oncall_and_other_kinds_are_acked_silently(
    notifier: Runner, receiver: Receiver
) -> None:
    async with notifier() as n:
        await n.publish(opened(service="search", event_id="ev-search"))
        [handled] = await n.until_settled("ev-search")
        assert handled.decision.verdict is Verdict.ACK
        assert handled.reason == "no on-call target"

        await n.publish(
            ComponentStatusChanged(
                event_id="ev-component",
                occurred_at=T0,
                service="payments-api",
                version=1,
                status=ComponentStatus.MAJOR_OUTAGE,
                previous_status=ComponentStatus.OPERATIONAL,
            )
        )
        [handled] = await n.until_settled("ev-component")
        assert handled.decision.verdict is Verdict.ACK
        assert receiver.count("/fast") == 0


async def test_probes(notifier: Runner) -> None:
    async with notifier() as n:
        transport = httpx.ASGITransport(app=n.app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://notifier") as public,
            internal(n.app) as client,  # the internal port
        ):
            for path in ("/healthz", "/readyz", "/metrics"):  # never on the public port
                assert (await public.get(path)).status_code == 404, path
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"nats": "ok", "redis": "ok"}
            metrics = await client.get("/metrics")
            assert "herald_notifier_events_total" in metrics.text


async def test_a_durable_lost_with_its_stream_is_put_back(
    notifier: Runner, receiver: Receiver
) -> None:
    """NATS lost its JetStream state under the running notifier: the keeper re-creates the
    stream and the durable (with the config it had) and the resolve is still told."""
    async with notifier() as n:
        await n.publish(opened())
        await n.until_settled("ev-open-1")
        durable = (await n.js.consumer_info(INCIDENTS_STREAM, NOTIFIER_DURABLE)).config

        await n.js.delete_stream(INCIDENTS_STREAM)
        assert await n.app.state.keeper.check() is True

        recreated = (await n.js.consumer_info(INCIDENTS_STREAM, NOTIFIER_DURABLE)).config
        assert (recreated.max_deliver, recreated.ack_wait) == (
            durable.max_deliver,
            ACK_WAIT_SECONDS,
        )
        await n.publish(resolved())
        [handled] = await n.until_settled("ev-resolve-1")
        assert handled.decision.verdict is Verdict.ACK
        assert (await receiver.next("/fast")).body["type"] == "incident.opened"
        assert (await receiver.next("/fast")).body["type"] == "incident.resolved"


async def test_a_durable_lost_alone_resumes_after_what_it_had_acked(
    notifier: Runner, receiver: Receiver
) -> None:
    """The durable was deleted, the stream kept: the re-created durable starts after its ack
    floor (the stream sequence), not at its original start time: nothing is paged again."""
    async with notifier() as n:
        await n.publish(opened())
        await n.until_settled("ev-open-1")
        assert (await receiver.next("/fast")).body["type"] == "incident.opened"
        await n.app.state.keeper.check()  # it sees the ack floor
        await n.js.delete_consumer(INCIDENTS_STREAM, NOTIFIER_DURABLE)
        assert await n.app.state.keeper.check() is True

        recreated = (await n.js.consumer_info(INCIDENTS_STREAM, NOTIFIER_DURABLE)).config
        assert recreated.deliver_policy == DeliverPolicy.BY_START_SEQUENCE
        await n.publish(resolved())
        [handled] = await n.until_settled("ev-resolve-1")  # the next one, not ev-open-1
        assert handled.decision.verdict is Verdict.ACK
        assert (await receiver.next("/fast")).body["type"] == "incident.resolved"
        assert receiver.count("/fast") == 2


def apprise_config_for(receiver: Receiver) -> HeraldConfig:
    """A webhook beside an Apprise channel posting to the receiver through `json://`."""
    return parse_config(
        f"""
services:
  payments-api: {{name: Payments API, oncall: backend}}
oncall:
  backend: {{channels: [fast, chat, quiet]}}
channels:
  fast:
    type: webhook
    url: "{receiver.url_for("/fast")}"
  chat:
    type: apprise
    urls:
      - "json://127.0.0.1:{receiver.port}/chat"
      - "json://127.0.0.1:{receiver.port}/other"
      - {{env: HERALD_TEST_UNSET_URL, optional: true}}
  quiet:
    type: apprise
    urls: [{{env: HERALD_TEST_UNSET_URL, optional: true}}]
"""
    )


async def test_an_apprise_url_that_failed_is_retried_alone(
    notifier: Runner, receiver: Receiver
) -> None:
    receiver.script("/chat", 500)
    async with notifier(config=apprise_config_for(receiver)) as n:
        await n.publish(opened())
        step = await n.next_step()
        assert sent(step) == {
            "fast": Outcome.SENT,
            "chat": Outcome.SENT,
            "quiet": Outcome.DISABLED,
        }
        await n.publish(resolved())
        assert (await receiver.next("/fast")).body["type"] == "incident.opened"
        assert (await receiver.next("/fast")).body["type"] == "incident.resolved"
        chat = [(await receiver.next("/chat")).body for _ in range(3)]
        other = [(await receiver.next("/other")).body for _ in range(2)]

    assert [(body["title"], body["type"]) for body in chat] == [
        ("[OPENED] Payments API: Card payments failing", "failure"),  # answered 500
        ("[OPENED] Payments API: Card payments failing", "failure"),
        ("[RESOLVED] Payments API: Card payments failing", "success"),
    ]
    assert chat[0]["message"].startswith("5% of card payments fail")
    # The URL that succeeded was told once per notice, not again with the retry of the other.
    assert [body["type"] for body in other] == ["failure", "success"]
    assert receiver.count("/other") == 2
    assert receiver.count("/chat") == 3
