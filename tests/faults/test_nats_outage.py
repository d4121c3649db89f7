"""NATS stopped while Alertmanager keeps sending: ingest answers 503 (never a 2xx for an alert it
did not store, never a 4xx, which Alertmanager would drop), the retried webhooks are stored once
NATS is back, every service reconnects by itself, and every incident is right."""

from __future__ import annotations

import asyncio

import pytest

from devstack.processes import Stack
from tests.faults import storm
from tests.faults.conftest import SERVICES
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

PER_SERVICE = 12


async def test_webhooks_during_a_nats_outage_are_stored_once_it_returns(
    own_infra: Infra, stack: Stack, pager: Receiver, sender: storm.Sender
) -> None:
    assert own_infra.nats is not None
    batch = storm.alerts(SERVICES, PER_SERVICE)
    half = len(batch) // 2
    pages = storm.Pages(pager)

    # The first half is stored while NATS runs; then NATS stops and the second half arrives.
    await sender.burst(storm.webhooks(batch[:half], "firing"))
    own_infra.nats.stop()
    outage = asyncio.create_task(sender.burst(storm.webhooks(batch[half:], "firing")))
    while 503 not in sender.answers:  # ingest is refusing what it cannot store
        assert not outage.done(), (
            f"every webhook was answered while NATS was down: {sender.answers}"
        )
        await asyncio.sleep(0.1)
    own_infra.nats.start()
    await asyncio.wait_for(outage, storm.DELIVERY_SECONDS)
    assert sender.statuses <= {200, 503}, sender.answers

    await pages.until("incident.opened", SERVICES)
    await storm.page_until(
        stack.url("statuspage"), "major_outage", SERVICES, internal=stack.internal_url("statuspage")
    )

    await sender.burst(storm.webhooks(batch, "resolved"))
    await pages.until("incident.resolved", SERVICES)
    after = await storm.page_until(
        stack.url("statuspage"), "operational", SERVICES, internal=stack.internal_url("statuspage")
    )
    assert after["incidents"] == []
    await storm.drained(own_infra.nats_url)
    storm.assert_one_incident_each(pages, SERVICES, PER_SERVICE)
    for name, proc in stack.procs.items():
        assert proc.returncode is None, f"{name} exited during the outage"
