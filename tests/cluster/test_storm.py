"""Herald past one machine: a 3-node NATS JetStream cluster (R3 streams) and a Redis Cluster of
three masters with a replica each, two correlators, two notifiers and two status pages (and
ingest) on them, and a storm of webhooks while the node leading the ALERTS stream is killed
(SIGKILL) and a Redis master is killed (SIGKILL) so the cluster promotes its replica: nothing
lost (every alert in its incident: a step counts as stored once a replica has it, bug 8), no
duplicate page, and both status pages end true.

The alerts are the fault suite's (tests/faults/storm.py), dated yesterday: a resolved alert
record is kept RESOLVED_RETENTION (7 days, by the clock) to block late replays, and a step
that failed while the master was away may be redelivered after the resolves (the drill lets
the firings drain first, but a resolve's own step may fail too), so alerts dated further back
than that would be replays nothing can recognise any more (as they would be in production,
where JetStream keeps ALERTS 7 days)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import Stack
from herald.correlator.store import head_key
from herald.shared.subjects import ALERTS_STREAM
from tests.cluster.servers import NatsCluster, RedisCluster
from tests.faults import storm
from tests.infra import Infra, free_port
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

SERVICES = 6
PER_SERVICE = 10
REPLICATED = ("correlator", "notifier", "statuspage")
"""The services run twice (ingest once: it is stateless, and one is enough to lose a node)."""
DRILL_DAY = "2026-05-28"
"""The day tests/faults/storm.py dates its alerts on."""
READY_SECONDS = 120.0
"""Seven processes start at once on a small shared machine: their start-up may take a while."""


def webhooks(batch: list[storm.Alert], status: str) -> list[dict[str, Any]]:
    """The drill's webhooks, dated yesterday."""
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    text = json.dumps(storm.webhooks(batch, status)).replace(DRILL_DAY, day)
    out: list[dict[str, Any]] = json.loads(text)
    return out


async def test_a_storm_survives_a_nats_node_killed_and_a_redis_failover(
    nats_cluster: NatsCluster, redis_cluster: RedisCluster, pager: Receiver, tmp_path: Path
) -> None:
    config = storm.write_config(tmp_path / "herald.yaml", SERVICES)
    infra = Infra(nats_cluster.url, redis_cluster.url)
    env = infra.stack_env(config, HERALD_STREAM_REPLICAS="3", **storm.stack_extra(pager))
    extra = {name: [free_port()] for name in REPLICATED}
    stack = Stack(env, out=sys.stderr, extra_replicas=extra)
    await stack.start()
    try:
        await stack.wait_ready(timeout=READY_SECONDS)
        await asyncio.to_thread(redis_cluster.wait_replicas_online)  # a master's writes reach it
        await _storm(stack, nats_cluster, redis_cluster, pager)
    finally:
        await stack.stop()


async def _storm(
    stack: Stack, nats_cluster: NatsCluster, redis_cluster: RedisCluster, pager: Receiver
) -> None:
    pages_urls = [stack.url("statuspage"), stack.url("statuspage-2")]
    sender = storm.Sender(f"{stack.url('ingest')}/hooks/inbound/{storm.TOKEN}")
    batch = storm.alerts(SERVICES, PER_SERVICE)
    pages = storm.Pages(pager)
    leader = await nats_cluster.leader_of(ALERTS_STREAM)
    redis_master = redis_cluster.master_of(head_key("svc-0"))

    burst = asyncio.create_task(sender.burst(webhooks(batch, "firing")))
    await sender.answered(len(batch) // 3)
    nats_cluster.node(leader).kill()
    await sender.answered(2 * len(batch) // 3)
    promoted = await asyncio.to_thread(redis_cluster.kill_master, redis_master)
    await asyncio.wait_for(burst, storm.DELIVERY_SECONDS)
    assert redis_cluster.master_of(head_key("svc-0")) == promoted

    await pages.until("incident.opened", SERVICES)
    for page in pages_urls:
        await storm.page_until(page, "major_outage", SERVICES)
    # Every firing applied before the resolves, as Alertmanager's group_interval would have it:
    # the steps that failed in the failover (a Cluster pipeline fails whole when one of its
    # nodes is gone, so every service of the batch) are redelivered with a growing delay, and
    # a firing folded after its own resolve, once its incident closed, joins none (bug 6's
    # limit, docs/reliability.md). Waiting here keeps the count a check of bug 8: a firing
    # acknowledged but lost with the killed master would still be missing.
    await storm.drained(nats_cluster.alive().url)
    await sender.burst(webhooks(batch, "resolved"))
    await pages.until("incident.resolved", SERVICES)
    for page in pages_urls:
        after = await storm.page_until(page, "operational", SERVICES)
        assert after["incidents"] == [], after
    await storm.drained(nats_cluster.alive().url)
    storm.assert_one_incident_each(pages, SERVICES, PER_SERVICE)  # every alert in it (bug 8)
    assert not {a for a in sender.answers if isinstance(a, int) and 400 <= a < 500}
    for name, proc in stack.procs.items():
        assert proc.returncode is None, f"{name} exited while a node was lost"
