"""A storm: 50,000 alerts over 500 services (a notification of 100 alerts per service, as an
Alertmanager route grouping by service sends them, 8 in flight), then every one resolved. None
is lost (each resolve page carries all 100 of its incident's alerts), one incident per service,
each paged opened once and resolved once (its escalation's one step, and no more), and the page
catches up: every component operational, no incident open. And the same with 10,000 alerts on
one service (100 groups of 100): one incident of 10,000 alerts, which closes."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.processes import Stack
from tests.faults import storm
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

SERVICES = 500
PER_SERVICE = 100
ON_ONE = 10_000
"""Alerts of the one-service storm: more than a step's scripts could pass to Redis at once
before bug 9 was fixed (docs/reliability.md)."""


@pytest.fixture
async def storm_stack(
    own_infra: Infra, pager: Receiver, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Stack]:
    services = getattr(request, "param", SERVICES)
    config = storm.write_config(tmp_path / "herald.yaml", services)
    env = own_infra.stack_env(config, **storm.stack_extra(pager))
    async with Stack(env, out=sys.stderr) as running:
        yield running


async def test_a_storm_of_50000_alerts_over_500_services_then_all_resolved(
    own_infra: Infra, storm_stack: Stack, pager: Receiver
) -> None:
    stack = storm_stack
    sender = storm.Sender(f"{stack.url('ingest')}/hooks/inbound/{storm.TOKEN}")
    by_service: dict[str, list[storm.Alert]] = {}
    for alert in storm.alerts(SERVICES, PER_SERVICE):
        by_service.setdefault(alert.service, []).append(alert)
    groups = list(by_service.values())
    pages = storm.Pages(pager)
    page, internal = stack.url("statuspage"), stack.internal_url("statuspage")

    await sender.burst([storm.group_webhook(g, "firing") for g in groups])
    await pages.until("incident.opened", SERVICES)
    await storm.page_until(page, "major_outage", SERVICES, internal=internal)
    # as Alertmanager would (its group_interval): every firing applied before the resolves
    await storm.drained(own_infra.nats_url)

    await sender.burst([storm.group_webhook(g, "resolved") for g in groups])
    await pages.until("incident.resolved", SERVICES)
    after = await storm.page_until(page, "operational", SERVICES, internal=internal)
    assert after["incidents"] == []
    await storm.drained(own_infra.nats_url)  # a duplicate page would have been sent by now
    storm.assert_one_incident_each(pages, SERVICES, PER_SERVICE)
    assert sender.statuses == {200}, sender.answers


@pytest.mark.parametrize("storm_stack", [1], indirect=True)
async def test_a_storm_of_10000_alerts_on_one_service_then_all_resolved(
    own_infra: Infra, storm_stack: Stack, pager: Receiver
) -> None:
    stack = storm_stack
    sender = storm.Sender(f"{stack.url('ingest')}/hooks/inbound/{storm.TOKEN}")
    every = storm.alerts(1, ON_ONE)
    groups = [every[i : i + PER_SERVICE] for i in range(0, ON_ONE, PER_SERVICE)]
    pages = storm.Pages(pager)
    page, internal = stack.url("statuspage"), stack.internal_url("statuspage")

    await sender.burst([storm.group_webhook(g, "firing", f"b{k}") for k, g in enumerate(groups)])
    await pages.until("incident.opened", 1)
    await storm.page_until(page, "major_outage", 1, internal=internal)
    await storm.drained(own_infra.nats_url)

    await sender.burst([storm.group_webhook(g, "resolved", f"b{k}") for k, g in enumerate(groups)])
    await pages.until("incident.resolved", 1)
    after = await storm.page_until(page, "operational", 1, internal=internal)
    assert after["incidents"] == []
    await storm.drained(own_infra.nats_url)
    storm.assert_one_incident_each(pages, 1, ON_ONE)
    assert sender.statuses == {200}, sender.answers
