"""A team label selects the escalation policy, end to end: Alertmanager webhooks at ingest, the
correlator's incident (carrying the labels all its alerts share), the notifier paging the
team's on-call at a real HTTP pager. The service names no policy of its own."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.processes import Stack
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

TOKEN = "team-token"


def config_text(pager: Receiver) -> str:
    return f"""
page: {{title: Acme Status}}
integrations:
  alertmanager: {{token: {{env: TEAM_TOKEN}}}}
services:
  checkout: {{name: Checkout}}
channels:
  payments-pager: {{type: webhook, url: "{pager.url_for("/payments")}"}}
  search-pager: {{type: webhook, url: "{pager.url_for("/search")}"}}
users:
  pat: {{contact_methods: [{{channel: payments-pager, address: pat@example.com}}]}}
  sam: {{contact_methods: [{{channel: search-pager, address: sam@example.com}}]}}
escalation_policies:
  payments-team: {{steps: [{{targets: [{{user: pat}}], wait_minutes: 5}}]}}
  search-team: {{steps: [{{targets: [{{user: sam}}], wait_minutes: 5}}]}}
escalation:
  by_label: team
  policies: {{payments: payments-team, search: search-team}}
notifier: {{throttle: [], resolve_links: true}}
"""


def webhook(status: str) -> dict[str, Any]:
    """Two alerts of the payments team on the checkout service (different instances)."""
    alerts = [
        {
            "status": status,
            "labels": {
                "alertname": "CheckoutErrors",
                "service": "checkout",
                "severity": "critical",
                "team": "payments",
                "instance": instance,
            },
            "annotations": {"summary": "Checkout fails"},
            "startsAt": "2026-05-28T14:32:00Z",
            "endsAt": "2026-05-28T14:40:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": f"fp-{instance}",
        }
        for instance in ("a", "b")
    ]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutErrors"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "herald",
        "groupLabels": {"alertname": "CheckoutErrors"},
        "commonLabels": {"alertname": "CheckoutErrors", "team": "payments"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


@pytest.fixture
async def team_stack(infra: Infra, pager: Receiver, tmp_path: Path) -> AsyncIterator[Stack]:
    config = tmp_path / "herald.yaml"
    config.write_text(config_text(pager), encoding="utf-8")
    env = infra.stack_env(config, TEAM_TOKEN=TOKEN, HERALD_ACK_SECRET="e2e-ack-secret")
    env["HERALD_NOTIFIER_URL"] = f"http://127.0.0.1:{env['HERALD_NOTIFIER_PORT']}"
    only = ("ingest", "correlator", "notifier")
    async with Stack(env, out=sys.stderr, only=only) as running:
        yield running


async def test_alerts_of_the_payments_team_page_the_teams_policy(
    team_stack: Stack, pager: Receiver
) -> None:
    hook = f"{team_stack.url('ingest')}/hooks/inbound/{TOKEN}"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.post(hook, json=webhook("firing"))).status_code == 200
        page = (await pager.next("/payments")).body
        assert page["type"] == "incident.opened"
        assert page["service"]["id"] == "checkout"
        assert page["recipient"] == "pat@example.com"
        assert (await http.post(hook, json=webhook("resolved"))).status_code == 200
        assert (await pager.next("/payments")).body["type"] == "incident.resolved"
    assert pager.count("/search") == 0


async def test_an_acknowledge_link_reaches_the_timeline_and_a_resolve_link_resolves(
    team_stack: Stack, pager: Receiver
) -> None:
    """The page's links, followed by the on-call: the acknowledgement is told to everyone paged
    and lands on the incident's internal timeline (the correlator owns it, told over
    RESPONSES); the resolve link resolves the incident itself, and its resolve is paged."""
    hook = f"{team_stack.url('ingest')}/hooks/inbound/{TOKEN}"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.post(hook, json=webhook("firing"))).status_code == 200
        page = (await pager.next("/payments")).body
        assert page["type"] == "incident.opened"
        acked = await http.post(page["ack_url"])
        assert acked.status_code == 200, acked.text
        assert (await pager.next("/payments")).body["type"] == "incident.acknowledged"
        asked = await http.post(page["resolve_url"])
        assert asked.status_code == 200, asked.text
        # paged only once the correlator resolved it (the link itself only stops the escalation)
        assert (await pager.next("/payments")).body["type"] == "incident.resolved"
        read = await http.get(f"{team_stack.url('correlator')}/api/v1/incidents")
        (incident,) = read.json()["incidents"]
    assert incident["status"] == "resolved"
    entries = [(e["body"], e["public"]) for e in incident["timeline"]]
    assert entries.count(("Acknowledged by pat.", False)) == 1
    assert entries[-1][0] == "Resolved by pat."
