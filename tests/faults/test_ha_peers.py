"""Two Alertmanager HA peers: every webhook delivered twice, in a shuffled order, each copy after
its own delay inside the replay window. The final state is the single delivery's (one incident
per service, every alert in it) and nobody is paged twice."""

from __future__ import annotations

import pytest

from devstack.processes import Stack
from tests.faults import storm
from tests.faults.conftest import SERVICES
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

PER_SERVICE = 12
WINDOW_SECONDS = 3.0
"""Spread of the copies: well inside alerts.replay_window (60 s) and JetStream's duplicate
window (2 min)."""


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_webhook_twice_shuffled(
    own_infra: Infra, stack: Stack, pager: Receiver, sender: storm.Sender, seed: int
) -> None:
    batch = storm.alerts(SERVICES, PER_SERVICE)
    pages = storm.Pages(pager)
    firing, delays = storm.duplicated_and_shuffled(
        storm.webhooks(batch, "firing"), seed, WINDOW_SECONDS
    )
    await sender.burst(firing, delays=delays)
    await pages.until("incident.opened", SERVICES)
    await storm.page_until(
        stack.url("statuspage"), "major_outage", SERVICES, internal=stack.internal_url("statuspage")
    )
    resolved, delays = storm.duplicated_and_shuffled(
        storm.webhooks(batch, "resolved"), seed + 100, WINDOW_SECONDS
    )
    await sender.burst(resolved, delays=delays)
    await pages.until("incident.resolved", SERVICES)
    after = await storm.page_until(
        stack.url("statuspage"), "operational", SERVICES, internal=stack.internal_url("statuspage")
    )
    assert after["incidents"] == []
    await storm.drained(own_infra.nats_url)
    storm.assert_one_incident_each(pages, SERVICES, PER_SERVICE)
    assert sender.statuses == {200}, sender.answers
