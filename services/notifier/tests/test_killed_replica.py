"""A notifier replica killed (SIGKILL, then started again as Kubernetes would) in the middle of a
send: the notifier as a process (devstack's `Stack`), real NATS and Redis, a real HTTP pager
that hangs on the send the kill interrupts.

What is asserted: the send goes out once, soon after the restart: the escalation lease
(`LEASE_SECONDS`) of the dead replica ends at most that long after the kill, its ledger claim
before it (half a lease), and the restarted replica's timer loop wakes at that lease's end. So
the page is at the pager at most `LEASE_SECONDS` after the kill; the bound awaited below adds
one timer look. Before the leased path, the page waited for JetStream's ack wait (90 s) and
a notice was lost.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import redis.asyncio as aioredis

from devstack.processes import Stack
from herald.notifier.escalation_store import LEASE_SECONDS, EscalationStore
from herald.notifier.timer_loop import MAX_SLEEP_SECONDS
from herald.shared.events import INCIDENT_EVENT_NAMES, IncidentEvent
from herald.shared.runtime import open_redis
from herald.shared.subjects import incident_subject
from services.notifier.tests.events import opened, resolved
from tests.infra import Infra
from tests.receiver import WAIT, Receiver

pytestmark = pytest.mark.integration

PAGER = "/pager"
AFTER_RESTART = LEASE_SECONDS + MAX_SLEEP_SECONDS
"""How long after the restarted replica is ready the interrupted send may take at most."""


def legacy_config(receiver: Receiver) -> str:
    """A service paged through a legacy `oncall:` target (no escalation policy)."""
    return f"""
page: {{title: Acme Status}}
services:
  payments-api: {{name: Payments API, oncall: backend}}
oncall:
  backend: {{name: Backend on-call, channels: [pager]}}
channels:
  pager: {{type: webhook, url: "{receiver.url_for(PAGER)}", timeout_seconds: 30}}
notifier: {{throttle: []}}
"""


@pytest.fixture
async def stack(infra: Infra, receiver: Receiver, tmp_path: Path) -> AsyncIterator[Stack]:
    config = tmp_path / "herald.yaml"
    config.write_text(legacy_config(receiver), encoding="utf-8")
    async with Stack(infra.stack_env(config), out=sys.stderr, only=("notifier",)) as running:
        yield running


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[aioredis.Redis]:
    client = open_redis(infra.redis_url)
    yield client
    await client.aclose()


async def publish(infra: Infra, event: IncidentEvent) -> None:
    nc = await nats.connect(infra.nats_url)
    try:
        subject = incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind])
        await nc.jetstream().publish(
            subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
        )
    finally:
        await nc.close()


async def restart_killed(stack: Stack) -> None:
    await stack.kill("notifier")
    await stack.start_service("notifier")
    await stack.wait_ready()


async def settled(redis: aioredis.Redis) -> None:
    """Until nothing is due any more for the service: every step and notice done (the state
    the notifier reaches after its last send; awaited, bounded)."""
    key = EscalationStore.due_key("payments-api")
    async with asyncio.timeout(WAIT):
        while True:
            members = [m.decode() for m in await redis.zrange(key, 0, -1)]
            if not any(m.startswith("notice:") for m in members):
                return
            await asyncio.sleep(0.05)


async def test_a_page_killed_mid_send_goes_out_once_soon_after_the_restart(
    stack: Stack, infra: Infra, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.hold(PAGER)
    await publish(infra, opened())
    held = await receiver.next_held(PAGER)
    assert held.body["type"] == "incident.opened"
    await restart_killed(stack)
    page = await receiver.next(PAGER, AFTER_RESTART)
    assert page.body["type"] == "incident.opened"
    assert page.body["incident"]["id"] == "payments-api-inc-1"
    await publish(infra, resolved())  # told after the page: nothing else is on its way
    assert (await receiver.next(PAGER)).body["type"] == "incident.resolved"
    await settled(redis)
    assert receiver.count(PAGER) == 2


async def test_a_resolve_notice_killed_mid_send_goes_out_once_soon_after_the_restart(
    stack: Stack, infra: Infra, receiver: Receiver, redis: aioredis.Redis
) -> None:
    await publish(infra, opened())
    assert (await receiver.next(PAGER)).body["type"] == "incident.opened"
    receiver.hold(PAGER)
    await publish(infra, resolved())
    held = await receiver.next_held(PAGER)
    assert held.body["type"] == "incident.resolved"
    await restart_killed(stack)
    told = await receiver.next(PAGER, AFTER_RESTART)
    assert told.body["type"] == "incident.resolved"
    await settled(redis)
    assert receiver.count(PAGER) == 2
