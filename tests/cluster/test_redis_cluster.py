"""Every Redis step of Herald on a real Redis Cluster (three masters, one replica each): each
script touches only its KEYS, of one hash tag; the steps of several services (several slots)
run in one pipeline split per node; and after a master fails over to its replica (which knows
none of the scripts yet) the same steps work again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from herald.correlator.routing import Route
from herald.correlator.store import CorrelatorStore, head_key
from herald.notifier.escalation import EscalationState
from herald.notifier.escalation_store import EscalationStore
from herald.shared.config import parse_config
from herald.shared.events import AlertState
from herald.shared.replication import NotReplicated, Replication
from herald.shared.runtime import RedisClient, open_redis
from services.correlator.tests.alerts import make_alert
from services.notifier.tests.events import incident
from tests.cluster.servers import RedisCluster
from tests.cluster.test_replication import stopped
from tests.infra import ServerProcess

pytestmark = pytest.mark.integration

SERVICES = [f"svc-{i}" for i in range(8)]
"""Eight services: their hash tags land on every master of three."""

CONFIG = parse_config(
    "integrations:\n  alertmanager: {token: t}\nservices:\n"
    + "".join(f"  {s}:\n    name: {s}\n    matchers: ['service=\"{s}\"']\n" for s in SERVICES)
)
NOW = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)


@pytest.fixture
async def client(redis_cluster: RedisCluster) -> AsyncIterator[RedisClient]:
    redis = open_redis(redis_cluster.url)
    yield redis
    await redis.aclose()


async def _step_every_service(store: CorrelatorStore, status: str) -> None:
    batches = [
        (s, [make_alert(f"{s}-fp", status, labels={"service": s, "severity": "critical"})])
        for s in SERVICES
    ]
    results = await store.step_many(batches, NOW)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, [repr(e) for e in errors]
    assert all(r.events for r in results if not isinstance(r, Exception)), results


async def test_the_correlator_steps_services_on_every_node_and_after_a_failover(
    client: RedisClient, redis_cluster: RedisCluster
) -> None:
    masters = {redis_cluster.master_of(head_key(s)) for s in SERVICES}
    assert len(masters) == 3, "the services' hash tags should spread over every master"
    store = CorrelatorStore(client, CONFIG)

    await _step_every_service(store, "firing")
    assert await store.outbox_services() == sorted(SERVICES)  # SCAN over every master
    statuses = await store.statuses(SERVICES)  # keys of eight slots in one round trip
    assert [s.component_status.value for s in statuses if s is not None] == ["major_outage"] * 8
    assert len(await store.controls(SERVICES)) == 8
    routes = [(f"{s}-fp", Route(s, NOW - timedelta(hours=1))) for s in SERVICES]
    assert await store.remember_routes(routes) == [r for _, r in routes]
    await store.published_many([(s, await store.pending(s)) for s in SERVICES])
    assert await store.outbox_services() == []

    promoted = redis_cluster.fail_over(redis_cluster.master_of(head_key(SERVICES[0])))
    assert redis_cluster.master_of(head_key(SERVICES[0])) == promoted

    await _step_every_service(store, "resolved")  # scripts loaded on the promoted node
    statuses = await store.statuses(SERVICES)
    assert [s.component_status.value for s in statuses if s is not None] == ["operational"] * 8
    newer = [(f"{s}-fp", Route(s, NOW)) for s in SERVICES]
    assert await store.remember_routes(newer) == [r for _, r in newer]
    records = await store.records(SERVICES[0], [f"{SERVICES[0]}-fp"])
    assert records[0] is not None
    assert records[0].status is AlertState.RESOLVED


async def test_an_escalation_step_is_claimed_once_on_a_cluster(client: RedisClient) -> None:
    one, other = EscalationStore(client), EscalationStore(client)
    for service in SERVICES[:3]:
        state = EscalationState(policy="p", started_at=NOW, due_at=NOW)
        assert await one.write(service, f"{service}-inc-1", 0, state, incident(service))
    for service in SERVICES[:3]:
        claimed = await one.claim(service, NOW)
        assert [lease.record.incident_id for lease in claimed] == [f"{service}-inc-1"]
        assert await other.claim(service, NOW) == []  # hidden for the lease
        assert await one.renew(claimed[0], NOW)
        assert await other.claim(service, NOW + timedelta(seconds=30)) != []  # lease ran out


def replica_of(redis_cluster: RedisCluster, master_port: int) -> ServerProcess:
    rows = redis_cluster.roles()
    master_id = next(r["id"] for r in rows if r["port"] == str(master_port))
    replica_port = next(int(r["port"]) for r in rows if r["master"] == master_id)
    return next(n for n in redis_cluster.nodes if n.port == replica_port)


async def test_a_step_waits_for_the_replica_of_each_master_it_wrote_to(
    client: RedisClient, redis_cluster: RedisCluster
) -> None:
    """The WAIT after a step's writes goes to every master of the pipeline (bug 8): with the
    replica of one master frozen, the services on that master fail (redelivered), the others
    are stored; once the replica is back, their redelivered steps are confirmed."""
    redis_cluster.wait_replicas_online()
    store = CorrelatorStore(client, CONFIG, Replication(300))
    await _step_every_service(store, "firing")  # every master's replica acknowledged

    frozen_master = redis_cluster.master_of(head_key(SERVICES[0]))
    replica = replica_of(redis_cluster, frozen_master)
    on_frozen = {s for s in SERVICES if redis_cluster.master_of(head_key(s)) == frozen_master}
    batches = [
        (s, [make_alert(f"{s}-fp", "resolved", labels={"service": s, "severity": "critical"})])
        for s in SERVICES
    ]
    with stopped(replica):
        results = dict(zip(SERVICES, await store.step_many(batches, NOW), strict=True))
    failed = {s for s, r in results.items() if isinstance(r, NotReplicated)}
    assert failed == on_frozen, results
    assert all(not isinstance(r, Exception) for s, r in results.items() if s not in failed)

    again = await store.step_many([b for b in batches if b[0] in failed], NOW)
    assert not [r for r in again if isinstance(r, Exception)], again


async def test_an_escalation_write_waits_for_the_replica_of_its_master(
    client: RedisClient, redis_cluster: RedisCluster
) -> None:
    """The notifier's escalation writes wait as the correlator's steps do (bug 8): with the
    replica of one master frozen, the writes of the services on that master are not confirmed
    (their INCIDENTS messages are redelivered), the others are; a redelivery finds the write
    the master kept and confirms it once the replica is back (on the node of its slot)."""
    redis_cluster.wait_replicas_online()
    store = EscalationStore(client, replication=Replication(300))
    state = EscalationState(policy="p", started_at=NOW, due_at=NOW)
    frozen_master = redis_cluster.master_of(EscalationStore.record_key(SERVICES[0], "x"))
    on_frozen = {
        s
        for s in SERVICES
        if redis_cluster.master_of(EscalationStore.record_key(s, "x")) == frozen_master
    }
    failed = set()
    with stopped(replica_of(redis_cluster, frozen_master)):
        for service in SERVICES:
            try:
                assert await store.write(service, f"{service}-inc-9", 0, state, incident(service))
            except NotReplicated:
                failed.add(service)
    assert failed == on_frozen
    for service in failed:
        assert await store.get(service, f"{service}-inc-9") is not None  # the master kept it
        await store.confirm(service)  # and its replica holds it now
