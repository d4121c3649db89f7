"""Bounds, batching, stream limits, rotation and the Grafana and PagerDuty sources against a
real NATS JetStream (the `infra` fixture)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import DiscardPolicy, Header, StreamConfig
from starlette.applications import Starlette

from herald.ingest.limits import CLIPPED_ANNOTATION, DEFAULT_LIMITS, MAX_EVENT_BYTES
from herald.ingest.options import IngestOptions
from herald.shared.config import parse_config
from herald.shared.events import AlertReceived, AlertState
from herald.shared.streams import MIN_ALERTS_MSG_SIZE, StreamLimits
from herald.shared.subjects import ALERT_EVENT_SUBJECTS, ALERTS_STREAM, ALERTS_SUBJECTS
from tests.asgi import metrics_of
from tests.infra import Infra

from .payloads import alert, message
from .running import WAIT, running_ingest, stored_alerts

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
CONFIG = parse_config(
    """
integrations:
  am:
    token: tok-am
    tokens: [tok-am-next]
"""
)


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


OPTIONS = IngestOptions(
    max_body=8 * 1024 * 1024, publish_timeout=5.0, connect_timeout=1.0, reconnect_wait=0.05
)


@asynccontextmanager
async def running(nats_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    async with running_ingest(nats_url, CONFIG, OPTIONS) as ingest:
        yield ingest.client, ingest.app


@pytest.fixture
async def nc(infra: Infra) -> AsyncIterator[NATS]:
    conn = await nats.connect(infra.nats_url)
    yield conn
    await conn.close()


@pytest.fixture
async def ingest(infra: Infra) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    async with running(infra.nats_url) as pair:
        yield pair


async def read_alerts(nc: NATS, n: int) -> list[tuple[str, AlertReceived, int]]:
    """(Nats-Msg-Id, event, payload bytes) of the first n messages of ALERTS."""
    sub = await nc.jetstream().pull_subscribe(ALERT_EVENT_SUBJECTS, stream=ALERTS_STREAM)
    out: list[tuple[str, AlertReceived, int]] = []
    while len(out) < n:
        for m in await sub.fetch(min(n - len(out), 1000), timeout=WAIT):
            headers = m.headers or {}
            out.append(
                (headers[Header.MSG_ID], AlertReceived.model_validate_json(m.data), len(m.data))
            )
    await sub.unsubscribe()
    return out


async def test_one_megabyte_description_is_stored_clipped_not_503(
    ingest: tuple[httpx.AsyncClient, Starlette], nc: NATS
) -> None:
    client, _ = ingest
    doc = alert()
    doc["annotations"]["description"] = "d" * 1_000_000
    resp = await client.post("/hooks/inbound/tok-am", json=message(doc))
    assert resp.status_code == 200, resp.text
    [(_, event, size)] = await read_alerts(nc, 1)
    assert size <= MAX_EVENT_BYTES
    assert len(event.annotations["description"]) == DEFAULT_LIMITS.annotation_value
    assert "annotations.description" in event.annotations[CLIPPED_ANNOTATION]


async def test_5400_tiny_alerts_with_a_huge_group_key_are_all_stored(
    ingest: tuple[httpx.AsyncClient, Starlette], nc: NATS
) -> None:
    client, _ = ingest
    alerts = [
        {"status": "firing", "labels": {"a": str(i)}, "startsAt": "2024-05-01T10:00:00Z"}
        for i in range(5400)
    ]
    body = {"groupKey": "g" * 500_000, "alerts": alerts}
    resp = await client.post("/hooks/inbound/tok-am", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ok", "alerts": 5400, "duplicates": 0}
    assert await stored_alerts(nc) == 5400
    info = await nc.jetstream().stream_info(ALERTS_STREAM)
    assert (info.state.bytes or 0) < 5400 * (DEFAULT_LIMITS.group_key + 2048)


async def test_streams_are_created_bounded(
    ingest: tuple[httpx.AsyncClient, Starlette], nc: NATS
) -> None:
    client, _ = ingest
    await client.post("/hooks/inbound/tok-am", json=message(alert()))
    cfg = (await nc.jetstream().stream_info(ALERTS_STREAM)).config
    defaults = StreamLimits()
    assert cfg.max_bytes == defaults.alerts_max_bytes
    assert cfg.max_msg_size == defaults.alerts_max_msg_size >= MIN_ALERTS_MSG_SIZE
    assert cfg.discard == DiscardPolicy.NEW.value


async def test_a_full_alerts_stream_answers_503_and_the_gauge_shows_it(
    infra: Infra, nc: NATS
) -> None:
    # An operator-made ALERTS with a tiny max_bytes (ingest leaves an existing stream as it is).
    await nc.jetstream().add_stream(
        StreamConfig(
            name=ALERTS_STREAM,
            subjects=[ALERTS_SUBJECTS],
            max_bytes=4096,
            discard=DiscardPolicy.NEW,
        )
    )
    async with running(infra.nats_url) as (client, app):
        codes = []
        for i in range(20):
            resp = await client.post("/hooks/inbound/tok-am", json=message(alert(f"A{i}")))
            codes.append(resp.status_code)
            if resp.status_code == 503:
                assert resp.headers["retry-after"]
                break
        assert codes[0] == 200
        assert codes[-1] == 503
        kept = await stored_alerts(nc)
        assert kept == len(codes) - 1  # nothing old was dropped to make room
        await app.state.stream_usage.refresh()
        metrics = await metrics_of(app)
        assert 'herald_stream_max_bytes{stream="ALERTS"} 4096.0' in metrics
        ratio = next(
            line
            for line in metrics.splitlines()
            if line.startswith('herald_stream_usage_ratio{stream="ALERTS"}')
        )
        assert float(ratio.split()[-1]) > 0.5


async def test_rotated_token_is_the_same_alert(
    ingest: tuple[httpx.AsyncClient, Starlette], nc: NATS
) -> None:
    client, _ = ingest
    assert (await client.post("/hooks/inbound/tok-am", json=message(alert()))).json()[
        "duplicates"
    ] == 0
    again = await client.post("/hooks/inbound/tok-am-next", json=message(alert()))
    assert again.json() == {"status": "ok", "alerts": 1, "duplicates": 1}
    assert await stored_alerts(nc) == 1


async def test_grafana_alerts_are_stored_like_alertmanagers(
    ingest: tuple[httpx.AsyncClient, Starlette], nc: NATS
) -> None:
    client, _ = ingest
    resp = await client.post("/hooks/inbound/tok-am", json=load("grafana-firing.json"))
    assert resp.status_code == 200
    by_fp = {ev.fingerprint: (msg_id, ev) for msg_id, ev, _ in await read_alerts(nc, 2)}
    msg_id, firing = by_fp["c6eadffa33fcdf37"]
    assert msg_id == firing.event_id
    assert firing.annotations["grafana_org_id"] == "1"
    assert by_fp["bc97ff14869b13e3"][1].status is AlertState.RESOLVED


async def test_pagerduty_trigger_then_resolve(
    ingest: tuple[httpx.AsyncClient, Starlette], nc: NATS
) -> None:
    client, _ = ingest
    trigger = await client.post("/v2/enqueue", json=load("pagerduty-trigger.json"))
    assert trigger.status_code == 202
    assert trigger.json()["dedup_key"] == "payments-api/db-connections"
    ack = await client.post("/v2/enqueue", json=load("pagerduty-acknowledge.json"))
    assert ack.status_code == 202
    resolve = await client.post("/v2/enqueue", json=load("pagerduty-resolve.json"))
    assert resolve.status_code == 202
    (id1, firing, _), (id2, resolved, _) = await read_alerts(nc, 2)
    assert await stored_alerts(nc) == 2  # the acknowledge stored nothing
    assert (id1, id2) == (firing.event_id, resolved.event_id)
    assert firing.fingerprint == resolved.fingerprint
    assert firing.status is AlertState.FIRING
    assert resolved.status is AlertState.RESOLVED
    assert firing.labels["severity"] == "critical"
    retried = await client.post("/v2/enqueue", json=load("pagerduty-trigger.json"))
    assert retried.status_code == 202
    assert await stored_alerts(nc) == 2  # same trigger, same timestamp: a duplicate
