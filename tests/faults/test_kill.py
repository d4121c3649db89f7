"""Each service killed with SIGKILL in the middle of a burst and started again, many times in a
row: no alert lost, no duplicate incident, no duplicate page, and the page ends true.

`HERALD_FAULTS_KILLS` kills per service (half while the alerts fire, half while they resolve): 2
by default, so that `make test-faults` stays within its time; `HERALD_FAULTS_KILLS=10` for the ten
in a row of issue 13.

A SIGKILL runs no shutdown: ingest loses the requests in flight (Alertmanager retries them), the
correlator and the notifier lose the batches they had fetched and not acked (JetStream
redelivers them after `ack_wait`), the notifier may die holding a page's claim or an escalation
lease, and the status page loses its open SSE streams and its in-memory fold."""

from __future__ import annotations

import os
import signal

import pytest

from devstack.processes import Stack
from tests.faults import signals, storm
from tests.faults.conftest import SERVICES
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

PER_SERVICE = 12

KILLS = int(os.environ.get("HERALD_FAULTS_KILLS", "2"))
"""Kills per service and test. Each costs a restart (seconds of imports on a busy machine)."""


@pytest.mark.parametrize("victim", ["ingest", "correlator", "notifier", "statuspage"])
async def test_a_service_killed_mid_burst_again_and_again_loses_nothing(
    own_infra: Infra, stack: Stack, pager: Receiver, sender: storm.Sender, victim: str
) -> None:
    batch = storm.alerts(SERVICES, PER_SERVICE)
    pages = storm.Pages(pager)
    kills: list[int] = []

    async def kill() -> None:
        kills.append(await signals.stop(stack, victim, signal.SIGKILL))
        await signals.restart(stack, victim)

    firing_kills = (KILLS + 1) // 2
    await signals.interrupted(sender, storm.webhooks(batch, "firing"), firing_kills, kill)
    await pages.until("incident.opened", SERVICES)
    await storm.page_until(
        stack.url("statuspage"), "major_outage", SERVICES, internal=stack.internal_url("statuspage")
    )
    # What a killed consumer had fetched comes back after ack_wait (30 s). Alertmanager sends an
    # alert's resolve a group_interval (5 min by default) after its firing at the soonest, so
    # the redelivered firings are in before the resolves (docs/reliability.md: in the other
    # order such an alert ends resolved but outside its incident's alert count).
    await storm.drained(own_infra.nats_url)
    resolve_kills = KILLS - firing_kills
    resolves = storm.webhooks(batch, "resolved")
    if resolve_kills:
        await signals.interrupted(sender, resolves, resolve_kills, kill)
    else:
        await sender.burst(resolves)
    await pages.until("incident.resolved", SERVICES)
    after = await storm.page_until(
        stack.url("statuspage"), "operational", SERVICES, internal=stack.internal_url("statuspage")
    )
    assert after["incidents"] == []
    await storm.drained(own_infra.nats_url)
    storm.assert_one_incident_each(pages, SERVICES, PER_SERVICE)
    assert kills == [-signal.SIGKILL] * KILLS, kills
    # a 4xx would have been dropped by Alertmanager (the Sender fails on one); a 5xx or a
    # connection error is retried
    assert all(a == 200 or isinstance(a, str) or a >= 500 for a in sender.answers), sender.answers
    for name, proc in stack.procs.items():
        assert proc.returncode is None, f"{name} exited"
