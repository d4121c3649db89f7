"""The drill without a fault: what every fault test expects to find after its fault (one
incident per service, one page opened and one resolved each, the page true)."""

from __future__ import annotations

import pytest

from devstack.processes import Stack
from tests.faults import storm
from tests.faults.conftest import SERVICES
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

PER_SERVICE = 12


async def test_the_drill_without_a_fault(
    own_infra: Infra, stack: Stack, pager: Receiver, sender: storm.Sender
) -> None:
    batch = storm.alerts(SERVICES, PER_SERVICE)
    pages = storm.Pages(pager)
    await sender.burst(storm.webhooks(batch, "firing"))
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
    assert sender.statuses == {200}, sender.answers
