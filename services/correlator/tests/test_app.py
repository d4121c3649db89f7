"""The correlator app against real NATS JetStream and Redis (the `infra` fixture)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import httpx
import nats
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from starlette.applications import Starlette

from herald.correlator.app import create_app
from herald.correlator.store import CorrelatorStore
from herald.shared.config import parse_config
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    AlertReceived,
    Command,
    ComponentStatus,
    ComponentStatusChanged,
    IncidentAcknowledged,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentResolveRequested,
    IncidentUpdated,
    MaintenanceChanged,
    MaintenanceStatus,
    OpenIncident,
    Responder,
    ResponseEvent,
    ScheduleMaintenance,
    ServiceStatus,
    UpdateIncident,
)
from herald.shared.keys import status_key
from herald.shared.settings import Settings
from herald.shared.streams import ensure_streams
from herald.shared.subjects import (
    ALERTS_STREAM,
    COMMANDS_STREAM,
    CORRELATOR_COMMANDS_DURABLE,
    CORRELATOR_DURABLE,
    alert_subject,
    command_subject,
    response_subject,
)
from tests.asgi import in_process, internal
from tests.infra import Infra

pytestmark = pytest.mark.integration

WAIT = 20.0
"""Upper bound for awaiting an expected event (never a sleep: we await it)."""

CONFIG = parse_config(
    """
integrations:
  alertmanager: {token: t1}
services:
  payments-api: {name: Payments API}
  nodes:
    name: Nodes
    matchers: ['alertname=~"KubeNode.*"']
users:
  alice: {name: Alice Martin}
"""
)
SVC = "payments-api"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AlertFactory = Callable[..., AlertReceived]


def settings_for(infra: Infra) -> Settings:
    return infra.settings(log_format="text")


def running(app: Starlette) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """Run the app's lifespan (as uvicorn would) and give an HTTP client on it."""
    return in_process(app, "http://correlator")


class Bus:
    """The test's own NATS connection: publishes alerts as ingest does, watches incidents."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.events: asyncio.Queue[IncidentEvent] = asyncio.Queue()

    async def watch_incidents(self) -> None:
        async def on_msg(msg: Msg) -> None:
            await self.events.put(INCIDENT_EVENT_ADAPTER.validate_json(msg.data))
            await msg.ack()

        await self.js.subscribe("incidents.>", cb=on_msg, ordered_consumer=True)

    async def publish(self, event: AlertReceived, msg_id: str | None = None) -> None:
        await self.js.publish(
            alert_subject(event.integration),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": msg_id or event.event_id},
        )

    async def respond(self, event: ResponseEvent, msg_id: str | None = None) -> None:
        """Publish a response as the notifier does."""
        name = "acknowledged" if isinstance(event, IncidentAcknowledged) else "resolve_requested"
        await self.js.publish(
            response_subject(event.service, name),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": msg_id or event.event_id},
        )

    async def command(self, command: Command) -> None:
        """Publish a command as ingest's admin API does (stored by JetStream, de-duplicated by
        its id)."""
        await self.js.publish(
            command_subject(command.service),
            command.model_dump_json().encode(),
            stream=COMMANDS_STREAM,
            headers={"Nats-Msg-Id": command.event_id},
        )

    async def next_incident_event(self) -> IncidentEvent:
        """The next incident event, past component status changes."""
        while isinstance(event := await self.next_event(), ComponentStatusChanged):
            pass
        return event

    async def next_event(self) -> IncidentEvent:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def next_events(self, n: int) -> list[IncidentEvent]:
        return [await self.next_event() for _ in range(n)]


@pytest.fixture
async def bus(infra: Infra) -> AsyncIterator[Bus]:
    nc = await nats.connect(infra.nats_url)
    b = Bus(nc)
    await ensure_streams(b.js)
    await b.watch_incidents()
    yield b
    await nc.drain()


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[aioredis.Redis]:
    r = aioredis.from_url(infra.redis_url)
    yield r
    await r.aclose()


async def test_firing_alert_opens_incident_and_stores_status(
    infra: Infra, bus: Bus, redis: aioredis.Redis, alert: AlertFactory
) -> None:
    app = create_app(CONFIG, settings_for(infra))
    async with running(app), internal(app) as probes:
        await bus.publish(alert(annotations={"summary": "Payments failing"}))
        opened, changed = await bus.next_events(2)

        assert isinstance(opened, IncidentOpened)
        assert opened.service == SVC
        assert opened.incident.title == "Payments failing"
        assert opened.event_id == f"{SVC}:{opened.version}"
        assert changed.version == opened.version + 1
        assert isinstance(changed, ComponentStatusChanged)
        assert changed.status is ComponentStatus.MAJOR_OUTAGE

        raw = await redis.get(status_key(SVC))
        assert raw is not None
        status = ServiceStatus.model_validate_json(raw)
        assert status.version == changed.version
        assert status.component_status is ComponentStatus.MAJOR_OUTAGE
        assert status.incident == opened.incident

        ready = await probes.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert (await probes.get("/healthz")).status_code == 200
        metrics = (await probes.get("/metrics")).text
        assert 'herald_correlator_alerts_total{outcome="applied"} 1.0' in metrics
        assert (
            'herald_correlator_incident_events_published_total{kind="incident.opened"} 1.0'
            in metrics
        )

        # the alert resolves: the incident closes and the component is operational again
        await bus.publish(alert(status="resolved"))
        resolved, back = await bus.next_events(2)
        assert resolved.kind == "incident.resolved"
        assert isinstance(back, ComponentStatusChanged)
        assert back.status is ComponentStatus.OPERATIONAL


async def test_redelivered_alert_publishes_nothing_new(
    infra: Infra, bus: Bus, alert: AlertFactory
) -> None:
    # one message at a time, so the duplicate is fully processed before the next alert
    app = create_app(CONFIG, settings_for(infra), batch_size=1)
    async with running(app):
        first = alert()
        await bus.publish(first)
        opened, changed = await bus.next_events(2)
        assert [opened.kind, changed.kind] == ["incident.opened", "component.status_changed"]
        # the same alert event again, past JetStream's de-duplication (another Nats-Msg-Id,
        # as after the duplicate window or from an HA peer with its own id)
        await bus.publish(first, msg_id="resent-1")
        await bus.publish(alert("fp2", labels={"alertname": "Slow", "service": SVC}))
        nxt = await bus.next_event()
        assert isinstance(nxt, IncidentUpdated)
        assert nxt.version > changed.version  # the duplicate published nothing in between
        assert [a.fingerprint for a in nxt.incident.alerts] == ["fp1", "fp2"]


async def test_outbox_left_by_a_crash_is_published_on_redelivery(
    infra: Infra, bus: Bus, redis: aioredis.Redis, alert: AlertFactory
) -> None:
    # a previous run stored the step but crashed before publishing
    event = alert()
    store = CorrelatorStore(redis, CONFIG)
    stored = await store.apply(SVC, event, T0)
    assert [e.kind for e in stored] == ["incident.opened", "component.status_changed"]

    app = create_app(CONFIG, settings_for(infra))
    async with running(app):
        await bus.publish(event)  # the redelivery: a no-op apply, but the outbox is flushed
        got = await bus.next_events(2)
        assert [e.event_id for e in got] == [e.event_id for e in stored]
    assert await store.pending(SVC) == []


async def test_outbox_of_a_service_removed_from_the_config_is_published_at_start(
    infra: Infra, bus: Bus, redis: aioredis.Redis, alert: AlertFactory
) -> None:
    # a previous run, whose config still had "checkout", stored events but crashed
    stored = await CorrelatorStore(redis, CONFIG).apply("checkout", alert(), T0)
    app = create_app(CONFIG, settings_for(infra))
    async with running(app):
        got = await bus.next_events(len(stored))
        assert [e.event_id for e in got] == [e.event_id for e in stored]
    assert await CorrelatorStore(redis, CONFIG).pending("checkout") == []


async def test_unrouted_alerts_are_listed(infra: Infra, bus: Bus, alert: AlertFactory) -> None:
    app = create_app(CONFIG, settings_for(infra), batch_size=1)
    async with running(app) as http, internal(app) as probes:
        await bus.publish(alert("lost", labels={"alertname": "Watchdog"}))
        # a routed alert after it: once its events arrive, the unrouted one was processed
        await bus.publish(alert())
        await bus.next_events(2)
        body = (await http.get("/api/unrouted")).json()
        assert [a["fingerprint"] for a in body] == ["lost"]
        assert body[0]["labels"] == {"alertname": "Watchdog"}
        metrics = (await probes.get("/metrics")).text
        assert 'herald_correlator_alerts_total{outcome="unrouted"} 1.0' in metrics


async def test_two_replicas_never_open_two_incidents(
    infra: Infra, bus: Bus, redis: aioredis.Redis, alert: AlertFactory
) -> None:
    n = 40
    apps = [create_app(CONFIG, settings_for(infra), batch_size=8) for _ in range(2)]
    async with running(apps[0]), running(apps[1]):
        await asyncio.gather(
            *(
                bus.publish(
                    alert(
                        f"fp{i}",
                        starts_at=T0 + timedelta(seconds=i),
                        labels={"alertname": f"A{i}", "service": SVC, "severity": "critical"},
                    )
                )
                for i in range(n)
            )
        )
        seen: list[IncidentEvent] = []
        while True:
            e = await bus.next_event()
            seen.append(e)
            if isinstance(e, IncidentUpdated) and len(e.incident.alerts) == n:
                break

    opened = [e for e in seen if isinstance(e, IncidentOpened)]
    assert len(opened) == 1
    versions = [e.version for e in seen]
    assert versions == sorted(set(versions))  # in order, none twice
    state = await CorrelatorStore(redis, CONFIG).load(SVC, datetime.now(UTC))
    assert state.incident is not None
    assert state.incident.id == opened[0].incident.id
    assert len(state.incident.alerts) == n


async def test_concurrent_store_steps_are_atomic(infra: Infra, alert: AlertFactory) -> None:
    """Two stores on two connections applying many alerts for one service at once."""
    clients = [aioredis.from_url(infra.redis_url) for _ in range(2)]
    try:
        stores = [CorrelatorStore(c, CONFIG) for c in clients]
        results = await asyncio.gather(
            *(
                stores[i % 2].apply(
                    SVC, alert(f"fp{i}", labels={"alertname": f"A{i}", "service": SVC}), T0
                )
                for i in range(30)
            )
        )
        events = [e for batch in results for e in batch]
        assert sum(isinstance(e, IncidentOpened) for e in events) == 1
        first = min(e.version for e in events)
        assert sorted(e.version for e in events) == list(range(first, first + len(events)))
        pending = await stores[0].pending(SVC)
        assert sorted(e.version for e in pending) == list(range(first, first + len(events)))
    finally:
        for c in clients:
            await c.aclose()


async def test_redis_outage_means_redelivery_not_loss(
    infra: Infra, bus: Bus, alert: AlertFactory
) -> None:
    if infra.redis is None:
        pytest.fail(
            "this fault test stops Redis: it needs the redis-server the fixtures start (tests/infra.py)"
        )
    naked: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def on_nak(msg: Msg) -> None:
        await naked.put(json.loads(msg.data))

    await bus.nc.subscribe(
        f"$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.{ALERTS_STREAM}.{CORRELATOR_DURABLE}", cb=on_nak
    )
    app = create_app(CONFIG, settings_for(infra), batch_size=1)
    async with running(app), internal(app) as probes:
        await asyncio.to_thread(infra.redis.stop)
        try:
            await bus.publish(alert())
            await asyncio.wait_for(naked.get(), WAIT)  # processing failed: nak'd, not acked
            assert (await probes.get("/readyz")).status_code == 503
        finally:
            await asyncio.to_thread(infra.redis.start)
        got = await bus.next_events(2)
        assert [e.kind for e in got] == ["incident.opened", "component.status_changed"]
        assert (await probes.get("/readyz")).status_code == 200


async def test_streams_and_durable_lost_under_a_running_correlator_are_put_back(
    infra: Infra, bus: Bus, alert: AlertFactory
) -> None:
    """NATS lost its JetStream state (an empty volume, an operator deleting the streams): the
    keeper re-creates the streams and the durable, and the running subscriber reads again."""
    app = create_app(CONFIG, settings_for(infra))
    async with running(app):
        await bus.publish(alert())
        assert [e.kind for e in await bus.next_events(2)] == [
            "incident.opened",
            "component.status_changed",
        ]
        durable = (await bus.js.consumer_info(ALERTS_STREAM, CORRELATOR_DURABLE)).config

        for info in await bus.js.streams_info():
            await bus.js.delete_stream(info.config.name)
        assert await app.state.keeper.check() is True

        recreated = (await bus.js.consumer_info(ALERTS_STREAM, CORRELATOR_DURABLE)).config
        assert recreated.ack_wait == durable.ack_wait
        assert recreated.ack_policy == durable.ack_policy
        assert recreated.filter_subject == durable.filter_subject
        events: asyncio.Queue[IncidentEvent] = asyncio.Queue()

        async def on_msg(msg: Msg) -> None:
            await events.put(INCIDENT_EVENT_ADAPTER.validate_json(msg.data))

        await bus.js.subscribe("incidents.>", cb=on_msg, ordered_consumer=True)
        await bus.publish(alert(status="resolved"))
        got = [await asyncio.wait_for(events.get(), WAIT) for _ in range(2)]
        assert [e.kind for e in got] == ["incident.resolved", "component.status_changed"]


def _ack(incident_id: str, n: int = 1) -> IncidentAcknowledged:
    return IncidentAcknowledged(
        event_id=f"ack:{incident_id}:{n}",
        occurred_at=T0,
        service=SVC,
        incident_id=incident_id,
        responder=Responder(via="link", user="alice"),
    )


async def test_responses_reach_the_open_incident_once_and_never_a_resolved_one(
    infra: Infra, bus: Bus, redis: aioredis.Redis, alert: AlertFactory
) -> None:
    app = create_app(CONFIG, settings_for(infra))
    async with running(app), internal(app) as probes:
        await bus.publish(alert())
        opened = await bus.next_incident_event()
        assert isinstance(opened, IncidentOpened)
        iid = opened.incident.id

        # an acknowledgement, then the same one again past JetStream's de-duplication (a
        # redelivery, or a retry after the duplicate window)
        await bus.respond(_ack(iid))
        acked = await bus.next_incident_event()
        assert isinstance(acked, IncidentUpdated)
        entry = acked.incident.timeline[-1]
        assert (entry.body, entry.public) == ("Acknowledged by Alice Martin.", False)
        await bus.respond(_ack(iid), msg_id="resent-1")

        # a resolve link: the incident resolves, by its responder; the duplicate published
        # nothing in between (responses apply in order) and added no entry
        await bus.respond(
            IncidentResolveRequested(
                event_id=f"resolve:{iid}:1",
                occurred_at=T0,
                service=SVC,
                incident_id=iid,
                responder=Responder(via="link", user="alice"),
            )
        )
        resolved = await bus.next_incident_event()
        assert isinstance(resolved, IncidentResolved)
        assert resolved.incident.id == iid
        assert resolved.version > acked.version
        bodies = [e.body for e in resolved.incident.timeline]
        assert bodies.count("Acknowledged by Alice Martin.") == 1
        assert bodies[-1] == "Resolved by Alice Martin."

        # a late acknowledgement of the resolved incident changes nothing: the next event is
        # the acknowledgement of the next incident
        await bus.publish(alert("fp2", labels={"alertname": "Slow", "service": SVC}))
        second = await bus.next_incident_event()
        assert isinstance(second, IncidentOpened)
        assert second.incident.id != iid
        await bus.respond(_ack(iid, 2))
        await bus.respond(_ack(second.incident.id))
        nxt = await bus.next_incident_event()
        assert isinstance(nxt, IncidentUpdated)
        assert nxt.incident.id == second.incident.id
        assert nxt.incident.timeline[-1].body == "Acknowledged by Alice Martin."

        raw = await redis.get(status_key(SVC))
        assert raw is not None
        status = ServiceStatus.model_validate_json(raw)
        assert [i for i in status.recent if i.id == iid] == [resolved.incident]
        metrics = (await probes.get("/metrics")).text
        ignored = (
            'herald_correlator_responses_total{kind="incident.acknowledged",outcome="ignored"}'
        )
        assert f"{ignored} 1.0" in metrics


def _by_hand(n: int, **kw: object) -> dict[str, object]:
    """The fields every command has, as ingest's admin API fills them."""
    return {
        "event_id": f"cmd-{n}",
        "occurred_at": datetime.now(UTC),
        "idempotency_key": f"key-{n}",
        "actor": "ops",
        **kw,
    }


async def test_commands_accepted_while_no_correlator_runs_are_applied_when_one_starts(
    infra: Infra, bus: Bus, redis: aioredis.Redis
) -> None:
    """The admin API answers 202 once COMMANDS stored a command, whether a correlator runs or
    not: one that starts later applies what was accepted meanwhile."""
    start = datetime.now(UTC) + timedelta(hours=1)
    await bus.command(
        OpenIncident(**_by_hand(1, service=SVC), title="Checkout errors", body="Looking.")
    )
    await bus.command(
        ScheduleMaintenance(
            **_by_hand(2),
            maintenance_id="mnt-2",
            services=(SVC, "nodes"),
            title="Database upgrade",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
        )
    )
    app = create_app(CONFIG, settings_for(infra))
    async with running(app):
        opened: list[IncidentOpened] = []
        scheduled: dict[str, MaintenanceChanged] = {}
        while not opened or len(scheduled) < 2:
            event = await bus.next_event()
            if isinstance(event, IncidentOpened):
                opened.append(event)
            elif isinstance(event, MaintenanceChanged):
                scheduled[event.service] = event
    (inc,) = opened
    assert (inc.service, inc.incident.title, inc.incident.opened_by) == (
        SVC,
        "Checkout errors",
        "ops",
    )
    assert set(scheduled) == {SVC, "nodes"}
    assert all(e.maintenance.status is MaintenanceStatus.SCHEDULED for e in scheduled.values())
    control = await CorrelatorStore(redis, CONFIG).control(SVC)
    assert [(e.command_id, e.outcome) for e in control.audit] == [
        ("cmd-1", "applied"),
        ("cmd-2", "applied"),
    ]


async def test_redis_outage_means_a_command_is_redelivered_not_lost(
    infra: Infra, bus: Bus, redis: aioredis.Redis
) -> None:
    """Redis fails while the correlator holds a command: it is nak'd, not acked, and applied
    once Redis is back, exactly once."""
    if infra.redis is None:
        pytest.fail(
            "this fault test stops Redis: it needs the redis-server the fixtures start (tests/infra.py)"
        )
    naked: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def on_nak(msg: Msg) -> None:
        await naked.put(json.loads(msg.data))

    await bus.nc.subscribe(
        f"$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.{COMMANDS_STREAM}.{CORRELATOR_COMMANDS_DURABLE}",
        cb=on_nak,
    )
    app = create_app(CONFIG, settings_for(infra))
    async with running(app), internal(app) as probes:
        await asyncio.to_thread(infra.redis.stop)
        try:
            await bus.command(OpenIncident(**_by_hand(1, service=SVC), title="Checkout errors"))
            await asyncio.wait_for(naked.get(), WAIT)  # its first delivery failed: nak'd
            assert (await probes.get("/readyz")).status_code == 503
        finally:
            await asyncio.to_thread(infra.redis.start)
        seen: list[IncidentEvent] = []
        while not seen or not isinstance(seen[-1], IncidentOpened):
            seen.append(await bus.next_event())
        iid = seen[-1].incident.id  # type: ignore[union-attr]
        # A later command, applied after it (commands apply one at a time, in order): what
        # came out up to its update is everything the first one did.
        await bus.command(UpdateIncident(**_by_hand(2, service=SVC), incident_id=iid, body="x"))
        while not isinstance(seen[-1], IncidentUpdated):
            seen.append(await bus.next_event())
    assert [type(e) for e in seen if not isinstance(e, ComponentStatusChanged)] == [
        IncidentOpened,
        IncidentUpdated,
    ]
    # Applied once: a second application would have been audited (refused: the incident is
    # open), and the id is remembered, so a later redelivery changes nothing.
    control = await CorrelatorStore(redis, CONFIG).control(SVC)
    assert [(e.command_id, e.outcome) for e in control.audit] == [
        ("cmd-1", "applied"),
        ("cmd-2", "applied"),
    ]
    assert control.seen.count("cmd-1") == 1
