"""The inbound endpoints over ASGI, with the in-memory publisher (no NATS: see test_sources.py
for the same paths against a real JetStream)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from herald.ingest.app import create_app
from herald.ingest.limits import CLIPPED_ANNOTATION, DEFAULT_LIMITS, MAX_EVENT_BYTES
from herald.ingest.options import IngestOptions
from herald.shared.config import parse_config
from herald.shared.listeners import ByPort
from herald.shared.settings import Settings

from .memory_publisher import MemoryPublisher
from .payloads import alert, message

DATA = Path(__file__).parent / "data"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CONFIG = parse_config(
    """
integrations:
  am:
    token: tok-am
    tokens: [tok-am-next]
  limited:
    token: tok-limited
    rate_limit: {per_second: 0.001, burst: 2}
  secured:
    token: tok-secured
    authorization:
      credentials: [bearer-old, bearer-new]
"""
)
SETTINGS = Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env={})
INTERNAL = f"http://ingest:{SETTINGS.internal_port}"
"""The internal port: probes and metrics."""


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


async def client_for(
    publisher: MemoryPublisher, options: IngestOptions | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CONFIG, SETTINGS, options, publisher=publisher, clock=lambda: NOW)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        # as served: the probes on the internal port (INTERNAL), the rest on the public one
        transport = httpx.ASGITransport(app=ByPort(app, app.state.probes, SETTINGS.internal_port))
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
async def client(publisher: MemoryPublisher) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_for(
        publisher, IngestOptions(max_body=16 * 1024 * 1024, publish_batch=100)
    ):
        yield c


async def test_grafana_payload_on_the_alertmanager_endpoint(
    client: httpx.AsyncClient, publisher: MemoryPublisher
) -> None:
    resp = await client.post("/hooks/inbound/tok-am", json=load("grafana-firing.json"))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ok", "alerts": 2, "duplicates": 0}
    assert {e.fingerprint for e in publisher.stored.values()} == {
        "c6eadffa33fcdf37",
        "bc97ff14869b13e3",
    }


async def test_invalid_grafana_payload_is_named_as_such(client: httpx.AsyncClient) -> None:
    doc = load("grafana-firing.json")
    doc["alerts"][0]["values"] = {"B": "high"}
    resp = await client.post("/hooks/inbound/tok-am", json=doc)
    assert resp.status_code == 422
    assert "Grafana" in resp.json()["error"]
    assert resp.json()["details"][0]["loc"].startswith("alerts.0.values")


async def test_one_megabyte_description_is_stored_clipped(
    client: httpx.AsyncClient, publisher: MemoryPublisher
) -> None:
    doc = alert()
    doc["annotations"]["description"] = "d" * 1_000_000
    resp = await client.post("/hooks/inbound/tok-am", json=message(doc))
    assert resp.status_code == 200
    [stored] = publisher.stored.values()
    assert len(stored.annotations["description"]) == DEFAULT_LIMITS.annotation_value
    assert "annotations.description" in stored.annotations[CLIPPED_ANNOTATION]
    metrics = (await client.get(f"{INTERNAL}/metrics")).text
    assert 'herald_ingest_alerts_clipped_total{integration="am"} 1.0' in metrics


async def test_many_tiny_alerts_with_a_huge_group_key_are_published_in_bounded_batches(
    client: httpx.AsyncClient, publisher: MemoryPublisher
) -> None:
    alerts = [
        {"status": "firing", "labels": {"a": str(i)}, "startsAt": "2024-05-01T10:00:00Z"}
        for i in range(5400)
    ]
    resp = await client.post(
        "/hooks/inbound/tok-am", json={"groupKey": "g" * 500_000, "alerts": alerts}
    )
    assert resp.status_code == 200
    assert resp.json()["alerts"] == 5400
    assert len(publisher.stored) == 5400
    assert max(publisher.batches) == 100
    assert publisher.largest <= MAX_EVENT_BYTES
    assert all(len(e.group_key) == DEFAULT_LIMITS.group_key for e in publisher.stored.values())


async def test_batches_are_also_bounded_by_bytes(publisher: MemoryPublisher) -> None:
    opts = IngestOptions(max_body=16 * 1024 * 1024, publish_batch=1000, publish_batch_bytes=50_000)
    alerts = [alert(str(i)) for i in range(20)]
    for a in alerts:
        a["annotations"]["description"] = "x" * 10_000
    async for client in client_for(publisher, opts):
        resp = await client.post("/hooks/inbound/tok-am", json=message(*alerts))
        assert resp.status_code == 200
    assert len(publisher.stored) == 20
    assert len(publisher.batches) >= 4
    assert max(publisher.batches) <= 5


async def test_rotated_tokens_give_the_same_alert_identity(
    client: httpx.AsyncClient, publisher: MemoryPublisher
) -> None:
    first = await client.post("/hooks/inbound/tok-am", json=message(alert()))
    second = await client.post("/hooks/inbound/tok-am-next", json=message(alert()))
    assert first.json()["duplicates"] == 0
    assert second.json() == {"status": "ok", "alerts": 1, "duplicates": 1}
    assert len(publisher.stored) == 1
    for creds in ("bearer-old", "bearer-new"):
        resp = await client.post(
            "/hooks/inbound/tok-secured",
            json=message(alert()),
            headers={"Authorization": f"Bearer {creds}"},
        )
        assert resp.status_code == 200


async def test_rate_limit_answers_503_with_retry_after(client: httpx.AsyncClient) -> None:
    codes = [
        (await client.post("/hooks/inbound/tok-limited", json=message(alert()))).status_code
        for _ in range(2)
    ]
    assert codes == [200, 200]
    refused = await client.post("/hooks/inbound/tok-limited", json=message(alert()))
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert (await client.post("/hooks/inbound/tok-am", json=message(alert()))).status_code == 200
    pd = await client.post(
        "/v2/enqueue", json={**load("pagerduty-trigger.json"), "routing_key": "tok-limited"}
    )
    assert pd.status_code == 503
    assert pd.json()["status"] == "throttle event"
    metrics = (await client.get(f"{INTERNAL}/metrics")).text
    assert 'herald_ingest_rate_limited_total{integration="limited"} 2.0' in metrics


async def test_pagerduty_trigger_acknowledge_resolve(
    client: httpx.AsyncClient, publisher: MemoryPublisher
) -> None:
    trigger = await client.post("/v2/enqueue", json=load("pagerduty-trigger.json"))
    assert trigger.status_code == 202
    assert trigger.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "payments-api/db-connections",
    }
    ack = await client.post("/v2/enqueue", json=load("pagerduty-acknowledge.json"))
    assert ack.status_code == 202
    assert len(publisher.stored) == 1
    resolve = await client.post("/v2/enqueue", json=load("pagerduty-resolve.json"))
    assert resolve.status_code == 202
    firing, resolved = publisher.stored.values()
    assert firing.fingerprint == resolved.fingerprint
    assert (firing.status.value, resolved.status.value) == ("firing", "resolved")
    metrics = (await client.get(f"{INTERNAL}/metrics")).text
    assert 'herald_ingest_pagerduty_events_total{action="acknowledge"} 1.0' in metrics


async def test_pagerduty_trigger_through_a_rotated_token_is_the_same_alert(
    client: httpx.AsyncClient, publisher: MemoryPublisher
) -> None:
    await client.post("/v2/enqueue", json=load("pagerduty-trigger.json"))
    again = {**load("pagerduty-trigger.json"), "routing_key": "tok-am-next"}
    assert (await client.post("/v2/enqueue", json=again)).status_code == 202
    assert len(publisher.stored) == 1


async def test_pagerduty_trigger_without_dedup_key_returns_the_one_it_got(
    client: httpx.AsyncClient,
) -> None:
    doc = load("pagerduty-trigger.json")
    del doc["dedup_key"]
    first = (await client.post("/v2/enqueue", json=doc)).json()
    again = (await client.post("/v2/enqueue", json=doc)).json()
    assert first["dedup_key"] == again["dedup_key"]


@pytest.mark.parametrize(
    ("body", "code", "error"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (json.dumps({"event_action": "trigger"}).encode(), 400, "'routing_key' is missing"),
        (
            json.dumps({**load("pagerduty-trigger.json"), "routing_key": "nope"}).encode(),
            400,
            "Invalid routing key",
        ),
    ],
)
async def test_pagerduty_bad_input_is_answered_as_pagerduty_does(
    client: httpx.AsyncClient, publisher: MemoryPublisher, body: bytes, code: int, error: str
) -> None:
    resp = await client.post(
        "/v2/enqueue", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == code
    doc = resp.json()
    assert doc["status"] == "invalid event"
    assert doc["message"] == "Event object is invalid"
    assert any(error in e for e in doc["errors"]), doc
    assert not publisher.stored


async def test_pagerduty_with_wrong_credentials_is_401(client: httpx.AsyncClient) -> None:
    doc = {**load("pagerduty-trigger.json"), "routing_key": "tok-secured"}
    assert (await client.post("/v2/enqueue", json=doc)).status_code == 401
    ok = await client.post("/v2/enqueue", json=doc, headers={"Authorization": "Bearer bearer-new"})
    assert ok.status_code == 202


async def test_pagerduty_not_stored_is_503(
    client: httpx.AsyncClient, publisher: MemoryPublisher
) -> None:
    publisher.fail = True
    resp = await client.post("/v2/enqueue", json=load("pagerduty-trigger.json"))
    assert resp.status_code == 503
    assert resp.headers["retry-after"]


async def test_probes_and_metrics_are_on_the_internal_port_only(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.get(f"{INTERNAL}/healthz")).status_code == 200
    assert "herald_ingest" in (await client.get(f"{INTERNAL}/metrics")).text
    # the internal port serves nothing else
    resp = await client.post(f"{INTERNAL}/hooks/inbound/tok-am", json=message(alert()))
    assert resp.status_code == 404


async def test_unknown_paths_and_methods_are_answered_in_json(client: httpx.AsyncClient) -> None:
    # a mistyped URL (a token of "..", a missing segment) is told, in JSON, what is wrong
    for path in ("/hooks/inbound", "/hooks", "/nope"):
        resp = await client.post(path, content=b"{}")
        assert resp.status_code == 404, path
        assert resp.json()["error"] == f"no such endpoint: POST {path}"
    resp = await client.get("/hooks/inbound/tok-am")
    assert resp.status_code == 405
    assert resp.json()["error"] == "method not allowed: GET /hooks/inbound/tok-am"
    assert resp.headers["allow"] == "POST"
