"""The security pass over every HTTP surface, on the whole stack as processes (as `make run`
runs it) with known secrets configured: webhooks, the admin API, ack links and the notifier's
API, sign-up, the SSE stream, feeds and badges. Authentication where it must be, rate limits
holding, the page's security headers, the probes and metrics off the public ports; then every
configured secret is looked for in the captured logs of the four services, in their /metrics
and in every response body this test received. Results: docs/reliability.md."""

from __future__ import annotations

import io
import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.processes import Stack
from herald.shared.security import CONTENT_SECURITY_POLICY
from tests.infra import Infra
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "herald.yaml"
FIRING = ROOT / "examples" / "alerts" / "crashloop-firing.json"
SERVICES = ("statuspage", "ingest", "correlator", "notifier")
PROBES = ("/healthz", "/readyz", "/metrics")
PAGER = "/page"
"""The stand-in pager's path (the receiver keeps the headers of its requests)."""

pytestmark = pytest.mark.e2e


def known_secrets() -> dict[str, str]:
    """Every secret the stack is configured with (env var -> value), distinctive enough that
    finding one anywhere is a leak, not a coincidence."""
    names = (
        "SEC_HOOK_TOKEN",
        "SEC_HOOK_BEARER",
        "SEC_LIMITED_TOKEN",
        "SEC_ADMIN_TOKEN",
        "SEC_ACK_SECRET",
        "SEC_API_TOKEN",
        "SEC_SUBSCRIBERS_SECRET",
        "SEC_PAGER_SIGNING_KEY",
        "SEC_PAGER_HEADER",
    )
    return {name: f"{name.lower().replace('_', '')}{secrets.token_hex(12)}" for name in names}


def write_config(path: Path, notifier_url: str) -> None:
    """examples/herald.yaml with every kind of secret set from the environment."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["integrations"] = {
        "alertmanager": {
            "token": {"env": "SEC_HOOK_TOKEN"},
            "authorization": {"credentials": {"env": "SEC_HOOK_BEARER"}},
        },
        "limited": {
            "token": {"env": "SEC_LIMITED_TOKEN"},
            "rate_limit": {"per_second": 0.001, "burst": 2},
        },
    }
    doc["channels"]["pager"] = {
        "type": "webhook",
        "url": {"env": "HERALD_DEMO_PAGER_URL"},
        "secret": {"env": "SEC_PAGER_SIGNING_KEY"},
        "headers": {"X-Pager-Key": {"env": "SEC_PAGER_HEADER"}},
    }
    doc["admin"] = {"tokens": {"ops": {"env": "SEC_ADMIN_TOKEN"}}}
    doc["notifier"] = {
        "public_url": notifier_url,
        "ack_secret": {"env": "SEC_ACK_SECRET"},
        "api_tokens": [{"env": "SEC_API_TOKEN"}],
    }
    doc["subscribers"] = {
        "enabled": True,
        "secret": {"env": "SEC_SUBSCRIBERS_SECRET"},
        "sender": "Acme Status <status@example.com>",
        "signups_per_ip": 2,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


class Recorder:
    """An HTTP client that keeps every response body it received (to look for secrets)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.bodies: list[str] = []

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kw)
        self.bodies.append(response.text)  # the body only: our own URLs carry tokens
        return response


@pytest.fixture
async def pager() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


async def test_every_surface_authenticates_limits_and_leaks_no_secret(
    infra: Infra, pager: Receiver, tmp_path: Path
) -> None:
    secret_env = known_secrets()
    config = tmp_path / "herald.yaml"
    env = infra.stack_env(config, HERALD_DEMO_PAGER_URL=pager.url_for(PAGER), **secret_env)
    env.pop("HERALD_DEMO_ADMIN_TOKEN", None)  # only the configured admin token
    notifier_url = f"http://127.0.0.1:{env['HERALD_NOTIFIER_PORT']}"
    write_config(config, notifier_url)
    logs = io.StringIO()
    stack = Stack(env, out=logs)
    metrics: dict[str, str] = {}
    try:
        async with stack, httpx.AsyncClient(timeout=10) as client:
            http = Recorder(client)
            await exercise(stack, http, pager, secret_env)
            for name in SERVICES:
                response = await client.get(f"{stack.internal_url(name)}/metrics")
                metrics[name] = response.text
        bodies = "\n".join(http.bodies)
    except BaseException:
        print(logs.getvalue())
        raise
    captured = logs.getvalue()
    assert "ingest" in captured
    assert "notifier" in captured
    for name, value in secret_env.items():
        assert value not in captured, f"{name} in a log line"
        for service, text in metrics.items():
            assert value not in text, f"{name} in {service}'s /metrics"
        assert value not in bodies, f"{name} in a response body"


async def exercise(stack: Stack, http: Recorder, pager: Receiver, sec: dict[str, str]) -> None:
    ingest, page, notifier = (stack.url(n) for n in ("ingest", "statuspage", "notifier"))

    # The probes and metrics: on the internal ports only.
    for name in SERVICES:
        for path in PROBES:
            public = await http.request("GET", f"{stack.url(name)}{path}")
            assert public.status_code == 404, f"{name} {path} on the public port"
            internal = await http.request("GET", f"{stack.internal_url(name)}{path}")
            assert internal.status_code == 200, f"{name} {path} on the internal port"

    # Webhooks: the path token and the bearer are both required.
    firing = json.loads(FIRING.read_text())
    hook = f"{ingest}/hooks/inbound/{sec['SEC_HOOK_TOKEN']}"
    bearer = {"Authorization": f"Bearer {sec['SEC_HOOK_BEARER']}"}
    wrong = await http.request("POST", f"{ingest}/hooks/inbound/not-a-token", json=firing)
    assert wrong.status_code in (401, 404), wrong.text
    no_bearer = await http.request("POST", hook, json=firing)
    assert no_bearer.status_code == 401, no_bearer.text
    bad_bearer = await http.request(
        "POST", hook, json=firing, headers={"Authorization": "Bearer nope"}
    )
    assert bad_bearer.status_code == 401, bad_bearer.text
    # the right bearer on another integration's token is refused too
    crossed = await http.request(
        "POST", f"{ingest}/hooks/inbound/nope{sec['SEC_HOOK_TOKEN'][4:]}", json=firing
    )
    assert crossed.status_code in (401, 404)
    stored = await http.request("POST", hook, json=firing, headers=bearer)
    assert stored.status_code == 200, stored.text
    assert "server" not in stored.headers  # no version banner
    pd = await http.request("POST", f"{ingest}/v2/enqueue", json={"routing_key": "nope"})
    assert 400 <= pd.status_code < 500

    # Rate limit: past the burst, 503 with Retry-After (Alertmanager retries), nothing lost.
    limited = f"{ingest}/hooks/inbound/{sec['SEC_LIMITED_TOKEN']}"
    codes = [(await http.request("POST", limited, json=firing)).status_code for _ in range(3)]
    assert codes[:2] == [200, 200], codes
    refused = await http.request("POST", limited, json=firing)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1

    # The page is signed with the key, carries the configured header, and an ack link.
    paged = await pager.next(PAGER)
    assert paged.headers["x-pager-key"] == sec["SEC_PAGER_HEADER"]  # sent, to the pager only
    assert paged.headers.get("x-herald-signature")
    ack_url = paged.body.get("ack_url", "")
    assert ack_url.startswith(f"{notifier}/ack/"), paged.body

    # Ack links: a forged or altered token is refused; the real one works.
    forged = await http.request("GET", f"{notifier}/ack/forged-token")
    assert 400 <= forged.status_code < 500
    token = ack_url.rsplit("/", 1)[1]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    tampered = await http.request("POST", f"{notifier}/ack/{altered}")
    assert 400 <= tampered.status_code < 500
    assert (await http.request("GET", ack_url)).status_code == 200

    # The notifier's API: its bearer token.
    for headers in ({}, {"Authorization": "Bearer nope"}):
        for method, path in (
            ("POST", "/api/incidents/x/ack"),
            ("GET", "/api/oncall"),
            ("GET", "/api/deliveries/failed"),
            ("GET", "/api/subscribers"),
            ("DELETE", "/api/subscribers/abc"),
        ):
            r = await http.request(method, f"{notifier}{path}", headers=headers)
            assert r.status_code == 401, f"{method} {path} {headers}: {r.status_code}"
    api = {"Authorization": f"Bearer {sec['SEC_API_TOKEN']}"}
    listed = await http.request("GET", f"{notifier}/api/subscribers", headers=api)
    assert listed.status_code == 200
    # Open without a token: the calendars, read by calendar apps, which send none.

    # The notifier's HTML (the ack page) and ingest's answers carry the browser headers too.
    for url in (f"{notifier}/ack/forged", f"{ingest}/hooks/inbound/nope"):
        r = await http.request("GET" if "/ack/" in url else "POST", url)
        assert r.headers["x-content-type-options"] == "nosniff", url
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], url
        assert r.headers["referrer-policy"] == "no-referrer", url

    # The admin API: its named token, nothing else (not the webhook's).
    for headers in ({}, {"Authorization": "Bearer nope"}, bearer):
        for method, path in (
            ("GET", "/api/v1/incidents"),
            ("POST", "/api/v1/incidents"),
            ("GET", "/api/v1/audit"),
            ("PUT", "/api/v1/components/payments-api/override"),
        ):
            r = await http.request(method, f"{ingest}{path}", headers=headers, json={})
            assert r.status_code == 401, f"{method} {path}: {r.status_code}"
    admin = {"Authorization": f"Bearer {sec['SEC_ADMIN_TOKEN']}"}
    listed = await http.request("GET", f"{ingest}/api/v1/incidents", headers=admin)
    assert listed.status_code == 200, listed.text

    # Sign-up: limited per client address (429 + Retry-After), bad input a 400.
    assert (
        await http.request("POST", f"{page}/api/subscribers", json={"email": 7})
    ).status_code == 400
    signups = [
        (
            await http.request(
                "POST", f"{page}/api/subscribers", json={"email": f"reader{i}@example.com"}
            )
        ).status_code
        for i in range(3)
    ]
    assert signups[:2] == [202, 202] or all(c < 300 for c in signups[:2]), signups
    assert signups[2] == 429, signups
    bad_confirm = await http.request(
        "POST", f"{page}/api/subscribers/confirm", json={"token": "forged"}
    )
    assert 400 <= bad_confirm.status_code < 500

    # The public page's surfaces: its security headers on every one, errors included.
    for path in (
        "/",
        "/api/v2/summary.json",
        "/feed.atom",
        "/feed.rss",
        "/badge.svg",
        "/subscribe",
        "/history",
        "/nope",
        "/metrics",
    ):
        r = await http.request("GET", f"{page}{path}")
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
    async with http.http.stream("GET", f"{page}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        assert events.headers["x-content-type-options"] == "nosniff"
        assert events.headers["cache-control"].startswith("no-cache")
    # Untrusted text stays text: a script in a query never comes back unescaped.
    evil = "<script>alert(1)</script>"
    r = await http.request("GET", f"{page}/badge.svg", params={"component": evil})
    assert evil not in r.text
    r = await http.request("GET", f"{page}/history", params={"page": evil})
    assert r.status_code == 400
    assert evil not in r.text
    assert re.search(r"<script(?! src=\"/static/)", (await http.request("GET", page)).text) is None
