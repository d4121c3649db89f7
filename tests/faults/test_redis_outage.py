"""Redis restarted (append-only file, fsync always) in the middle of a burst, and Redis paused
with CLIENT PAUSE: no state is lost, consumers retry instead of dropping, nothing hangs for ever,
and paging resumes once Redis answers."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from devstack.processes import Stack
from tests.faults import storm
from tests.faults.conftest import SERVICES
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

PER_SERVICE = 12

PAUSE_MS = 8000
"""Longer than a Redis command may take in a service (5 s): steps fail and are retried."""


async def _finish(
    stack: Stack, infra: Infra, pages: storm.Pages, batch: list[storm.Alert], sender: storm.Sender
) -> None:
    await pages.until("incident.opened", SERVICES)
    await storm.page_until(
        stack.url("statuspage"), "major_outage", SERVICES, internal=stack.internal_url("statuspage")
    )
    # The steps that failed while Redis was away come back with a growing delay (up to 15 s);
    # Alertmanager sends an alert's resolve a group_interval after its firing at the soonest,
    # so they are in before the resolves (a firing folded after its own resolve once its
    # incident closed joins none: docs/reliability.md, bug 6's limit).
    await storm.drained(infra.nats_url)
    await sender.burst(storm.webhooks(batch, "resolved"))
    await pages.until("incident.resolved", SERVICES)
    after = await storm.page_until(
        stack.url("statuspage"), "operational", SERVICES, internal=stack.internal_url("statuspage")
    )
    assert after["incidents"] == []
    await storm.drained(infra.nats_url)
    storm.assert_one_incident_each(pages, SERVICES, PER_SERVICE)
    for name, proc in stack.procs.items():
        assert proc.returncode is None, f"{name} exited while Redis was away"


async def test_redis_restarted_mid_burst_loses_nothing(
    own_infra: Infra, stack: Stack, pager: Receiver, sender: storm.Sender
) -> None:
    assert own_infra.redis is not None
    batch = storm.alerts(SERVICES, PER_SERVICE)
    pages = storm.Pages(pager)
    burst = asyncio.create_task(sender.burst(storm.webhooks(batch, "firing")))
    await sender.answered(len(batch) // 3)  # a third is in
    own_infra.redis.stop()
    own_infra.redis.start()  # the same AOF: everything written before is there
    await asyncio.wait_for(burst, storm.DELIVERY_SECONDS)
    assert sender.statuses == {200}, sender.answers  # ingest needs no Redis
    await _finish(stack, own_infra, pages, batch, sender)


async def test_redis_paused_holds_paging_then_it_resumes(
    own_infra: Infra, stack: Stack, pager: Receiver, sender: storm.Sender
) -> None:
    batch = storm.alerts(SERVICES, PER_SERVICE)
    pages = storm.Pages(pager)
    client = aioredis.from_url(own_infra.redis_url)
    try:
        burst = asyncio.create_task(sender.burst(storm.webhooks(batch, "firing")))
        await sender.answered(len(batch) // 3)
        await client.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
        await asyncio.wait_for(burst, storm.DELIVERY_SECONDS)
        assert sender.statuses == {200}, sender.answers
    finally:
        await client.aclose()
    await _finish(stack, own_infra, pages, batch, sender)
