"""The consumer + store against real Redis and real NATS JetStream (invariants 1, 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from herald.correlator.consumer import Correlator, Outcome
from herald.correlator.incident import RESOLVED_RETENTION
from herald.correlator.memory import MemoryStore
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.publisher import IncidentPublisher
from herald.correlator.routing import Route
from herald.correlator.store import CorrelatorStore, Store, outbox_key, route_key
from herald.shared.config import HeraldConfig, parse_config
from herald.shared.events import (
    AlertReceived,
    AlertState,
    GroupReported,
    IncidentEvent,
    IncidentResolved,
)
from herald.shared.runtime import NatsConnection
from herald.shared.streams import ensure_streams
from tests.infra import Infra

from .conftest import make_alert

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)

LABELS = {"alertname": "CheckoutErrors", "team": "payments", "severity": "critical"}

# Before: the alert routes to payments-api. After an operator edits herald.yaml (a new, more
# specific service placed first) the same labels route to checkout. Both services exist.
CONFIG_BEFORE = parse_config(
    """
integrations:
  alertmanager: {token: t1}
services:
  payments-api:
    name: Payments API
    matchers: ['team="payments"']
  checkout:
    name: Checkout
    matchers: ['alertname="CheckoutErrors"']
"""
)
CONFIG_AFTER = parse_config(
    """
integrations:
  alertmanager: {token: t1}
services:
  checkout:
    name: Checkout
    matchers: ['alertname="CheckoutErrors"']
  payments-api:
    name: Payments API
    matchers: ['team="payments"']
"""
)


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[aioredis.Redis]:
    r = aioredis.from_url(infra.redis_url)
    yield r
    await r.aclose()


class Recorded:
    """An in-memory publisher: what would go to JetStream, in order."""

    def __init__(self, published: list[IncidentEvent]) -> None:
        self.published = published

    async def publish(self, events: Sequence[IncidentEvent]) -> None:
        self.published.extend(events)


def consumer_for(
    redis: aioredis.Redis, config: HeraldConfig, published: list[IncidentEvent]
) -> Correlator:
    return Correlator(
        CorrelatorStore(redis, config),
        config,
        Recorded(published),
        CorrelatorMetrics(CollectorRegistry()),
        lambda: NOW,
    )


async def test_incident_closes_when_routing_changed_while_its_alert_fired(
    redis: aioredis.Redis,
) -> None:
    """The correlator is redeployed with an edited herald.yaml while an alert fires (or a
    firing message is redelivered after the restart: "a message whose service changed because
    config changed between deliveries").

    Sequence: firing (old config) -> payments-api incident opens. Correlator restarts with the
    new config. resolved -> routed to checkout now.
    Expected: the alert resolved, so no incident stays open because of it.
    Was: the resolved is folded into checkout's state; payments-api's incident stays open
    forever (and its page stays in major outage): the correlator never remembers which service
    it put a fingerprint in."""
    published: list[IncidentEvent] = []
    before = consumer_for(redis, CONFIG_BEFORE, published)
    await before.handle(make_alert("fp1", "firing", T0, labels=LABELS).model_dump_json().encode())
    assert (await before.store.load("payments-api", NOW)).incident is not None

    after = consumer_for(redis, CONFIG_AFTER, published)
    await after.handle(make_alert("fp1", "resolved", T0, labels=LABELS).model_dump_json().encode())

    for service in ("payments-api", "checkout"):
        state = await after.store.load(service, NOW)
        assert state.incident is None, f"{service} still has an open incident for a resolved alert"


async def test_redelivery_under_new_config_opens_a_second_incident(
    redis: aioredis.Redis,
) -> None:
    """Same alert event delivered twice (JetStream redelivery after the first replica stored the
    effects but crashed before acking; it restarts with the edited config). Invariant 2: the same
    alert event applied twice changes nothing. Was: the second delivery opens a second
    incident, on another service (a second page for the same alert)."""
    published: list[IncidentEvent] = []
    body = make_alert("fp1", "firing", T0, labels=LABELS).model_dump_json().encode()
    await consumer_for(redis, CONFIG_BEFORE, published).handle(body)
    first = [e.kind for e in published]
    await consumer_for(redis, CONFIG_AFTER, published).handle(body)
    assert [e.kind for e in published] == first, "a redelivered event produced new events"


async def test_one_big_annotation_wedges_every_later_alert_of_the_service(
    infra: Infra, redis: aioredis.Redis
) -> None:
    """Poison message. Annotations are untrusted text of any size; ingest accepts 1 MiB bodies,
    and a 600 kB `summary` fits NATS's default 1 MiB max_payload as an ALERTS message. The
    correlator copies the summary twice into IncidentOpened (title + alerts[0].summary), so the
    incident event is > 1 MiB and JetStream publishing fails (MaxPayloadError) on every try.

    Expected: the oversized event is handled (text truncated, or parked) and later alerts of the
    service still get their incident events out.
    Was: the event sits at the head of the outbox forever: the flush of every later alert of
    the service raises, every ALERTS message of the service is nacked and redelivered forever,
    and the page never changes again for that service (nothing after it is published)."""
    nats = NatsConnection(infra.nats_url, "test-correlator")
    await nats.connect()
    nc = nats.nc
    try:
        await ensure_streams(nats.js)
        registry = CollectorRegistry()
        metrics = CorrelatorMetrics(registry)

        config = parse_config(
            """
integrations:
  alertmanager: {token: t1}
services:
  payments-api: {name: Payments API}
"""
        )
        consumer = Correlator(
            CorrelatorStore(redis, config),
            config,
            IncidentPublisher(nats, metrics),
            metrics,
            lambda: NOW,
        )
        big = make_alert("fp-big", "firing", T0, annotations={"summary": "x" * 600_000})
        body = big.model_dump_json().encode()
        assert len(body) < nc.max_payload  # ingest could publish it to ALERTS

        # The review asserted MaxPayloadError here (the bug itself); the intended behaviour is
        # that the incident event is bounded (texts clipped), so it publishes.
        await consumer.handle(body)
        assert await redis.llen(outbox_key("payments-api")) == 0

        # A later, ordinary alert of the same service (another fingerprint).
        small = make_alert("fp-small", "firing", T0 + timedelta(minutes=1))
        try:
            await consumer.handle(small.model_dump_json().encode())
        except Exception as exc:
            pending = await redis.llen(outbox_key("payments-api"))
            pytest.fail(
                f"an ordinary alert fails too ({type(exc).__name__}); {pending} events are stuck "
                "in the outbox behind the oversized one"
            )
    finally:
        await nats.close()


async def test_refire_under_new_config_closes_the_old_instance_where_it_lived(
    redis: aioredis.Redis,
) -> None:
    """fp1 fires under the old config (payments-api). herald.yaml changes; fp1 re-fires (newer
    startsAt) and Alertmanager never sends the first instance's resolved (the re-fire replaced
    it). The re-fire goes to checkout (current config) and payments-api's incident closes: the
    first instance ended when the second started."""
    published: list[IncidentEvent] = []
    before = consumer_for(redis, CONFIG_BEFORE, published)
    await before.handle(make_alert("fp1", "firing", T0, labels=LABELS).model_dump_json().encode())

    after = consumer_for(redis, CONFIG_AFTER, published)
    refire = T0 + timedelta(minutes=30)
    await after.handle(
        make_alert("fp1", "firing", refire, labels=LABELS).model_dump_json().encode()
    )
    old = await after.store.load("payments-api", NOW)
    assert old.incident is None
    assert old.recent[0].resolved_at == refire
    new = await after.store.load("checkout", NOW)
    assert new.incident is not None
    assert new.incident.started_at == refire

    # a late duplicate of the first instance changes nothing anywhere
    n = len(published)
    await after.handle(make_alert("fp1", "firing", T0, labels=LABELS).model_dump_json().encode())
    assert len(published) == n
    # the second instance resolves where it lives
    await after.handle(
        make_alert("fp1", "resolved", refire, labels=LABELS).model_dump_json().encode()
    )
    assert (await after.store.load("checkout", NOW)).incident is None


async def test_a_route_only_moves_to_a_newer_alert_instance(redis: aioredis.Redis) -> None:
    """Two replicas on different configs (a rolling deploy) deciding for the same alert: the
    first route stored for an instance wins; only a newer instance replaces it. startsAt keeps
    Alertmanager's sub-millisecond precision."""
    store = CorrelatorStore(redis, CONFIG_BEFORE)
    t = T0 + timedelta(microseconds=123)
    first = Route("payments-api", t)
    assert await store.remember_route("fp1", first) == first
    assert await store.remember_route("fp1", Route("checkout", t)) == first
    assert await store.remember_route("fp1", Route("checkout", T0)) == first
    assert await store.route("fp1") == first
    newer = Route("checkout", t + timedelta(microseconds=1))
    assert await store.remember_route("fp1", newer) == newer
    assert await store.route("fp1") == newer
    assert await store.route("fp2") is None
    assert await redis.ttl(route_key("fp1")) > 0  # routes expire


async def test_an_event_the_broker_rejects_for_good_does_not_block_the_outbox(
    infra: Infra, redis: aioredis.Redis
) -> None:
    """Whatever the bounds, an event NATS refuses permanently (MaxPayloadError) is logged,
    counted and dropped, so the events after it still go out."""
    nats = NatsConnection(infra.nats_url, "test-correlator")
    await nats.connect()
    try:
        await ensure_streams(nats.js)
        registry = CollectorRegistry()
        metrics = CorrelatorMetrics(registry)
        store = CorrelatorStore(redis, CONFIG_BEFORE)
        consumer = Correlator(
            store, CONFIG_BEFORE, IncidentPublisher(nats, metrics), metrics, lambda: NOW
        )
        # the first alert's events are stored; the first one is made too big for the broker
        stored = await store.apply("payments-api", make_alert("fp1", labels=LABELS), NOW)
        poisoned = stored[0].model_copy(update={"event_id": "x" * nats.nc.max_payload})
        await redis.lset(outbox_key("payments-api"), 0, poisoned.model_dump_json())

        second = make_alert("fp2", "firing", T0 + timedelta(minutes=1), labels=LABELS)
        await consumer.handle(second.model_dump_json().encode())

        assert await redis.llen(outbox_key("payments-api")) == 0
        published = registry.get_sample_value(
            "herald_correlator_incident_events_published_total", {"kind": "incident.updated"}
        )
        assert published == 1.0
        dropped = registry.get_sample_value(
            "herald_correlator_incident_events_dropped_total", {"kind": "incident.opened"}
        )
        assert dropped == 1.0
    finally:
        await nats.close()


async def test_outboxes_of_services_no_longer_configured_are_found(redis: aioredis.Redis) -> None:
    store = CorrelatorStore(redis, CONFIG_BEFORE)
    await store.apply("retired-service", make_alert("fp1", labels=LABELS), NOW)
    await store.apply("payments-api", make_alert("fp1", labels=LABELS), NOW)
    assert await store.outbox_services() == ["payments-api", "retired-service"]
    published: list[IncidentEvent] = []
    consumer = consumer_for(redis, CONFIG_BEFORE, published)
    assert await consumer.flush("retired-service") == 2
    assert await store.outbox_services() == ["payments-api"]


async def test_group_reports_end_and_revive_what_they_no_longer_and_again_list(
    redis: aioredis.Redis,
) -> None:
    """Through the use case and real Redis: the group's index finds the alert in its service,
    a complete report without it ends it, one listing it firing again revives it, an
    incomplete one says nothing."""
    published: list[IncidentEvent] = []
    correlator = consumer_for(redis, CONFIG_BEFORE, published)
    group_key = '{}:{team="payments"}'

    def body(event: AlertReceived | GroupReported) -> bytes:
        return event.model_dump_json().encode()

    def report(at: timedelta, *fps: str, truncated: int = 0) -> GroupReported:
        return GroupReported(
            event_id=f"r-{at}",
            occurred_at=T0 + at,
            integration="alertmanager",
            group_key=group_key,
            fingerprints=fps,
            firing=fps,
            truncated_alerts=truncated,
        )

    for fp in ("fp1", "fp2"):
        alert = make_alert(fp, "firing", T0, labels=LABELS)
        await correlator.handle(body(alert.model_copy(update={"group_key": group_key})))
    outcome = await correlator.handle(body(report(timedelta(minutes=1), "fp2", truncated=1)))
    assert outcome is Outcome.REPORTED
    state = await correlator.store.load("payments-api", NOW)
    assert state.alerts["fp1"].status is AlertState.FIRING  # incomplete: says nothing

    await correlator.handle(body(report(timedelta(minutes=2), "fp2")))
    state = await correlator.store.load("payments-api", NOW)
    assert state.alerts["fp1"].status is AlertState.RESOLVED
    assert state.incident is not None
    assert "no longer reported" in state.incident.timeline[-1].body

    await correlator.handle(body(report(timedelta(minutes=3), "fp1", "fp2")))
    state = await correlator.store.load("payments-api", NOW)
    assert state.alerts["fp1"].status is AlertState.FIRING
    assert [e.kind for e in published][-1] == "incident.updated"


@pytest.fixture(params=["memory", "redis"])
def any_store(request: pytest.FixtureRequest) -> Store:
    """The in-memory store and the Redis one: the same rules, so one test body runs on both."""
    if request.param == "memory":
        return MemoryStore(CONFIG_BEFORE)
    return CorrelatorStore(request.getfixturevalue("redis"), CONFIG_BEFORE)


async def test_a_firing_redelivered_after_its_resolve_opens_no_incident_however_old_it_is(
    any_store: Store,
) -> None:
    """Bugs 1 and 3 of docs/reliability.md (the fault suite's NATS outage and Redis restart),
    without the fault: a firing applied, its ack lost (NATS went away, Redis failed the batch's
    other step), redelivered by JetStream after `ack_wait`, after its resolve was applied. It is
    the same message (same event id and `received_at`): it changes nothing.

    The drill's alerts (like a backlog replayed, or a resolve with Merge's old startsAt) carry
    event times months before the correlator's clock. Was: resolved records were pruned
    RESOLVED_RETENTION after their endsAt, an event time, so they went in the step that closed
    the incident, and the redelivered firing found no record and opened a second incident
    (a second page, the page down for ever). The stream keeps a message 7 days from its
    arrival: retention must count from arrival too."""
    now = NOW
    old = now - timedelta(days=30)  # the alert's event times
    published: list[IncidentEvent] = []
    correlator = Correlator(
        any_store,
        CONFIG_BEFORE,
        Recorded(published),
        CorrelatorMetrics(CollectorRegistry()),
        lambda: now,
    )

    def arrived(event: AlertReceived, seconds: int) -> bytes:
        at = now - timedelta(minutes=5) + timedelta(seconds=seconds)
        return event.model_copy(update={"received_at": at}).model_dump_json().encode()

    firing = {
        fp: arrived(make_alert(fp, "firing", old, labels=LABELS), n)
        for n, fp in enumerate(("fp1", "fp2"))
    }
    for body in firing.values():
        assert await correlator.handle(body) is Outcome.APPLIED
    for n, fp in enumerate(("fp1", "fp2")):
        resolve = make_alert(fp, "resolved", old, old + timedelta(minutes=5), labels=LABELS)
        assert await correlator.handle(arrived(resolve, 10 + n)) is Outcome.APPLIED
    kinds = [e.kind for e in published]
    assert (kinds.count("incident.opened"), kinds.count("incident.resolved")) == (1, 1), kinds
    before = list(published)

    for body in firing.values():  # JetStream redelivers both, after ack_wait
        assert await correlator.handle(body) is Outcome.UNCHANGED
    assert published == before, "a redelivered firing changed the incident"
    (status,) = await any_store.statuses(["payments-api"])
    assert status is not None
    assert status.incident is None


async def test_an_alert_whose_resolve_is_folded_before_its_firing_is_counted_in_its_incident(
    any_store: Store,
) -> None:
    """Bug 6 of docs/reliability.md (the full run: a resolve page saying 11 of 12): two batches
    in flight (or a redelivery) fold an alert's resolve before its firing, which reached ingest
    first. The late firing is a copy by `supersedes` (the alert stays resolved), but the alert
    fired while the incident was open: it is one of its alerts, counted on the resolve page."""
    now = NOW
    published: list[IncidentEvent] = []
    correlator = Correlator(
        any_store,
        CONFIG_BEFORE,
        Recorded(published),
        CorrelatorMetrics(CollectorRegistry()),
        lambda: now,
    )
    start = now - timedelta(minutes=5)

    def arrived(event: AlertReceived, seconds: int) -> bytes:
        at = start + timedelta(seconds=seconds)
        return event.model_copy(update={"received_at": at}).model_dump_json().encode()

    def firing(fp: str, n: int) -> bytes:
        return arrived(make_alert(fp, "firing", start, labels=LABELS), n)

    def resolve(fp: str, n: int) -> bytes:
        ended = start + timedelta(seconds=n - 1)
        return arrived(make_alert(fp, "resolved", start, ended, labels=LABELS), n)

    # ingest received: fp1, fp2, fp3 firing (0-2 s), then their resolves (10-12 s)
    assert await correlator.handle(firing("fp1", 0)) is Outcome.APPLIED
    assert await correlator.handle(firing("fp2", 1)) is Outcome.APPLIED
    assert await correlator.handle(resolve("fp3", 12)) is Outcome.APPLIED  # the later batch
    assert await correlator.handle(firing("fp3", 2)) is Outcome.APPLIED  # joins, resolved
    assert await correlator.handle(firing("fp3", 2)) is Outcome.UNCHANGED  # redelivered again
    assert await correlator.handle(resolve("fp1", 10)) is Outcome.APPLIED
    assert await correlator.handle(resolve("fp2", 11)) is Outcome.APPLIED
    kinds = [e.kind for e in published]
    assert (kinds.count("incident.opened"), kinds.count("incident.resolved")) == (1, 1), kinds
    (resolved,) = [e for e in published if isinstance(e, IncidentResolved)]
    assert resolved.incident.alert_count == 3
    assert sorted(a.fingerprint for a in resolved.incident.alerts) == ["fp1", "fp2", "fp3"]


async def test_a_resolved_alert_is_forgotten_a_retention_after_it_was_last_received(
    any_store: Store,
) -> None:
    """The other side of the rule above: the record goes once no message about it can be
    redelivered any more (the ALERTS stream's max age after its last arrival), not before."""
    clock = [NOW]
    correlator = Correlator(
        any_store,
        CONFIG_BEFORE,
        Recorded([]),
        CorrelatorMetrics(CollectorRegistry()),
        lambda: clock[0],
    )
    for status in ("firing", "resolved"):
        await correlator.handle(
            make_alert("fp1", status, T0, labels=LABELS).model_dump_json().encode()
        )
    received = T0 + timedelta(minutes=5, seconds=1)  # the resolve's arrival (make_alert)
    for at, kept in (
        (received + RESOLVED_RETENTION - timedelta(minutes=1), True),
        (received + RESOLVED_RETENTION + timedelta(minutes=1), False),
    ):
        clock[0] = at
        # another alert's step prunes what has expired
        fresh = make_alert(f"other-{kept}", "firing", at, labels=LABELS).model_dump_json().encode()
        await correlator.handle(fresh)
        (record,) = await any_store.records("payments-api", ["fp1"])
        assert (record is not None) is kept, at
        resolved = (
            make_alert(f"other-{kept}", "resolved", at, labels=LABELS).model_dump_json().encode()
        )
        await correlator.handle(resolved)


async def test_two_replicas_stepping_one_service_each_see_the_others_writes(
    redis: aioredis.Redis,
) -> None:
    """Each store keeps the head its last step wrote (to skip parsing it again): a replica
    whose service was stepped by another since must fold into what the other wrote."""
    published: list[IncidentEvent] = []
    a, b = (
        consumer_for(redis, CONFIG_BEFORE, published),
        consumer_for(redis, CONFIG_BEFORE, published),
    )

    async def on(replica: Correlator, event: AlertReceived) -> None:
        assert await replica.handle(event.model_dump_json().encode()) is Outcome.APPLIED

    await on(a, make_alert("fp1", "firing", labels=LABELS))
    await on(b, make_alert("fp2", "firing", labels=LABELS))  # joins what a opened
    await on(a, make_alert("fp1", "resolved", labels=LABELS))  # fp2 still fires
    (status,) = await a.store.statuses(["payments-api"])
    assert status is not None
    assert status.incident is not None
    assert status.incident.alert_count == 2
    await on(b, make_alert("fp2", "resolved", labels=LABELS))
    (status,) = await a.store.statuses(["payments-api"])
    assert status is not None
    assert status.incident is None
    kinds = [e.kind for e in published]
    assert (kinds.count("incident.opened"), kinds.count("incident.resolved")) == (1, 1), kinds


async def test_one_batch_of_more_alerts_than_lua_can_unpack_is_stepped_in_one_service(
    any_store: Store,
) -> None:
    """A storm on one service: the consumer's batch (up to 16,384 messages) can hold more alerts
    of one service than Lua's `unpack` takes at once (about 8,000 values; a record written is two
    of them). The step's read and write must still go through, in one atomic step, not fail
    with a ResponseError and be redelivered for ever (bench.storm's one-service shape)."""
    published: list[IncidentEvent] = []
    correlator = Correlator(
        any_store,
        CONFIG_BEFORE,
        Recorded(published),
        CorrelatorMetrics(CollectorRegistry()),
        lambda: NOW,
    )
    start = NOW - timedelta(minutes=5)
    fps = [f"fp{i:05d}" for i in range(9_000)]
    firing = [
        make_alert(fp, "firing", start, labels=LABELS).model_dump_json().encode() for fp in fps
    ]
    assert set(await correlator.handle_batch(firing)) == {Outcome.APPLIED}
    ended = start + timedelta(minutes=1)
    resolving = [
        make_alert(fp, "resolved", start, ended, labels=LABELS).model_dump_json().encode()
        for fp in fps
    ]
    assert set(await correlator.handle_batch(resolving)) == {Outcome.APPLIED}
    kinds = [e.kind for e in published]
    assert (kinds.count("incident.opened"), kinds.count("incident.resolved")) == (1, 1), kinds
    (resolved,) = [e for e in published if isinstance(e, IncidentResolved)]
    assert resolved.incident.alert_count == 9_000
