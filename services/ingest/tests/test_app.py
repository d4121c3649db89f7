"""The webhook receiver against a real NATS JetStream (the `infra` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import Header

from herald.ingest.normalize import event_id
from herald.ingest.options import IngestOptions
from herald.shared.config import parse_config
from herald.shared.events import AlertReceived, AlertState, GroupReported
from herald.shared.subjects import ALERT_EVENT_SUBJECTS, ALERTS_STREAM, alert_subject, group_subject
from tests.infra import Infra

from .payloads import alert, message
from .running import NOW, WAIT, Ingest, running_ingest, stored_alerts

pytestmark = pytest.mark.integration

"""Upper bound when awaiting an event: a hang fails the test instead of blocking the run."""
MAX_BODY = 4096

CONFIG = parse_config(
    """
integrations:
  am:
    token: tok-am
  secured:
    token: tok-secured
    authorization:
      credentials: bearer-secret
"""
)


OPTIONS = IngestOptions(
    max_body=MAX_BODY, publish_timeout=1.0, connect_timeout=1.0, reconnect_wait=0.05
)


def running(nats_url: str, *, wait_connected: bool = True) -> AbstractAsyncContextManager[Ingest]:
    return running_ingest(nats_url, CONFIG, OPTIONS, wait_connected=wait_connected)


@pytest.fixture
async def ingest(infra: Infra) -> AsyncIterator[Ingest]:
    async with running(infra.nats_url) as served:
        yield served


@pytest.fixture
async def nc(infra: Infra) -> AsyncIterator[NATS]:
    conn = await nats.connect(infra.nats_url)
    yield conn
    await conn.close()


async def read_alerts(nc: NATS, n: int) -> list[tuple[str, str, AlertReceived]]:
    """(subject, Nats-Msg-Id, event) of the first n messages of the ALERTS stream."""
    sub = await nc.jetstream().pull_subscribe(ALERT_EVENT_SUBJECTS, stream=ALERTS_STREAM)
    msgs = await sub.fetch(n, timeout=WAIT)
    await sub.unsubscribe()
    return [
        (m.subject, (m.headers or {})[Header.MSG_ID], AlertReceived.model_validate_json(m.data))
        for m in msgs
    ]


def two_alerts() -> dict[str, Any]:
    return message(
        alert("HighErrorRate", fingerprint="1111111111111111"),
        alert(
            "HighLatency",
            status="resolved",
            ends_at="2024-05-01T11:00:00Z",
            fingerprint="2222222222222222",
        ),
    )


async def test_valid_post_stores_one_message_per_alert(ingest: Ingest, nc: NATS) -> None:
    resp = await ingest.post(two_alerts())
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "alerts": 2, "duplicates": 0}

    stored = await read_alerts(nc, 2)
    assert await stored_alerts(nc) == 2
    by_fp = {ev.fingerprint: (subject, msg_id, ev) for subject, msg_id, ev in stored}
    subject, msg_id, firing = by_fp["1111111111111111"]
    assert subject == alert_subject("am")
    assert msg_id == firing.event_id
    assert firing.event_id == event_id(
        "am",
        "1111111111111111",
        AlertState.FIRING,
        datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
    )
    assert firing.received_at == NOW
    assert firing.integration == "am"
    _, msg_id, resolved = by_fp["2222222222222222"]
    assert msg_id == resolved.event_id
    assert resolved.status is AlertState.RESOLVED
    assert resolved.occurred_at == datetime(2024, 5, 1, 11, tzinfo=UTC)


async def test_resending_the_same_payload_stores_nothing_new(ingest: Ingest, nc: NATS) -> None:
    first = await ingest.post(two_alerts())
    assert first.json() == {"status": "ok", "alerts": 2, "duplicates": 0}
    again = await ingest.post(two_alerts())
    assert again.status_code == 200
    assert again.json() == {"status": "ok", "alerts": 2, "duplicates": 2}
    assert await stored_alerts(nc) == 2

    metrics = (await ingest.probes.get("/metrics")).text
    assert 'herald_ingest_requests_total{code="200"} 2.0' in metrics
    assert 'herald_ingest_alerts_published_total{integration="am"} 2.0' in metrics
    assert 'herald_ingest_alerts_duplicate_total{integration="am"} 2.0' in metrics
    assert "herald_ingest_publish_duration_seconds_count 2.0" in metrics


async def test_empty_alert_list_is_accepted(ingest: Ingest, nc: NATS) -> None:
    resp = await ingest.post(message())
    assert resp.json() == {"status": "ok", "alerts": 0, "duplicates": 0}
    assert await stored_alerts(nc) == 0


async def test_bearer_integration(ingest: Ingest, nc: NATS) -> None:
    ok = await ingest.post(
        message(alert()), token="tok-secured", headers={"Authorization": "Bearer bearer-secret"}
    )
    assert ok.status_code == 200
    [(subject, _, ev)] = await read_alerts(nc, 1)
    assert subject == alert_subject("secured")
    assert ev.integration == "secured"


async def chunks(total: int, size: int = 1000) -> AsyncIterator[bytes]:
    sent = 0
    yield b'{"alerts": [], "padding": "'
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize(
    ("token", "kwargs", "code"),
    [
        ("wrong-token", {"json": message(alert())}, 401),
        ("tok-secured", {"json": message(alert())}, 401),
        (
            "tok-secured",
            {"json": message(alert()), "headers": {"Authorization": "Bearer nope"}},
            401,
        ),
        (
            "tok-secured",
            {"json": message(alert()), "headers": {"Authorization": "Basic bearer-secret"}},
            401,
        ),
        ("tok-am", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ("tok-am", {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400),
        ("tok-am", {"json": [message(alert())]}, 400),
        ("tok-am", {"json": "alerts"}, 400),
        ("tok-am", {"content": b"x" * (MAX_BODY + 1)}, 413),
        ("tok-am", {"content": chunks(MAX_BODY * 2)}, 413),
        ("tok-am", {"json": {"version": "4"}}, 422),
        ("tok-am", {"json": message(alert(), {"status": "firing", "labels": {}})}, 422),
    ],
    ids=[
        "wrong-token",
        "missing-bearer",
        "wrong-bearer",
        "wrong-scheme",
        "malformed-json",
        "not-utf8",
        "json-array",
        "json-string",
        "too-large-by-length",
        "too-large-streamed",
        "no-alerts",
        "alert-without-startsAt",
    ],
)
async def test_bad_requests_get_their_code_and_publish_nothing(
    ingest: Ingest, nc: NATS, token: str, kwargs: dict[str, Any], code: int
) -> None:
    resp = await ingest.client.post(f"/hooks/inbound/{token}", **kwargs)
    assert resp.status_code == code, resp.text
    assert "error" in resp.json()
    assert await stored_alerts(nc) == 0
    metrics = (await ingest.probes.get("/metrics")).text
    assert f'herald_ingest_requests_total{{code="{code}"}} 1.0' in metrics


async def test_schema_errors_name_the_fields(ingest: Ingest, nc: NATS) -> None:
    bad = alert()
    del bad["startsAt"]
    bad["status"] = "pending"
    resp = await ingest.post(message(alert(), bad))
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"]
    assert {d["loc"] for d in body["details"]} == {"alerts.1.startsAt", "alerts.1.status"}
    assert all(d["msg"] for d in body["details"])
    assert await stored_alerts(nc) == 0


async def test_probes(ingest: Ingest) -> None:
    assert (await ingest.probes.get("/healthz")).status_code == 200
    ready = await ingest.probes.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"nats": "ok"}


async def test_nats_stopped_answers_503_then_recovers(
    ingest: Ingest, infra: Infra, nc: NATS
) -> None:
    assert infra.nats is not None
    infra.nats.stop()
    await asyncio.wait_for(ingest.nats.disconnected.wait(), WAIT)

    resp = await ingest.post(two_alerts())
    assert resp.status_code == 503
    assert "error" in resp.json()
    assert (await ingest.probes.get("/readyz")).status_code == 503
    assert (await ingest.probes.get("/healthz")).status_code == 200

    infra.nats.start()
    await asyncio.wait_for(ingest.nats.connected.wait(), WAIT)
    resp = await ingest.post(two_alerts())
    assert resp.status_code == 200
    assert resp.json()["duplicates"] == 0


async def test_nats_stopped_mid_request_answers_503(ingest: Ingest, infra: Infra) -> None:
    # No waiting for the client to notice: either "not connected" or "no ack in time", never 2xx/500.
    assert infra.nats is not None
    infra.nats.stop()
    resp = await ingest.post(two_alerts())
    assert resp.status_code == 503


async def test_no_ack_in_time_answers_503(ingest: Ingest, nc: NATS) -> None:
    # The stream vanishes and something that never answers listens on its subjects:
    # the publish request gets no acknowledgement.
    await nc.jetstream().delete_stream(ALERTS_STREAM)
    silent = await nc.subscribe("alerts.>")
    await nc.flush()
    # The server tears the deleted stream down asynchronously; until it has, a request can still
    # meet "no responders". Wait until a request on the subject times out instead.
    for _ in range(50):
        try:
            await nc.request("alerts.probe", b"", timeout=0.1)
        except NatsTimeoutError:
            break
        except NoRespondersError:
            continue
    else:
        pytest.fail("the silent subscriber never became the only responder")
    resp = await ingest.post(two_alerts())
    assert resp.status_code == 503
    assert "in time" in resp.json()["error"]
    await silent.unsubscribe()


async def test_deleted_stream_answers_503_and_is_recreated(ingest: Ingest, nc: NATS) -> None:
    await nc.jetstream().delete_stream(ALERTS_STREAM)
    first = await ingest.post(two_alerts())
    assert first.status_code == 503
    second = await ingest.post(two_alerts())
    assert second.status_code == 200
    assert await stored_alerts(nc) == 2


async def test_starts_while_nats_is_down(infra: Infra, nc: NATS) -> None:
    assert infra.nats is not None
    await nc.close()
    infra.nats.stop()
    async with running(infra.nats_url, wait_connected=False) as ingest:
        resp = await ingest.post(two_alerts())
        assert resp.status_code == 503
        assert resp.headers["retry-after"]
        assert (await ingest.probes.get("/readyz")).status_code == 503

        infra.nats.start()
        await asyncio.wait_for(ingest.nats.connected.wait(), WAIT)
        resp = await ingest.post(two_alerts())
        assert resp.status_code == 200
        assert resp.json() == {"status": "ok", "alerts": 2, "duplicates": 0}


async def test_secrets_are_never_logged(
    ingest: Ingest, nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await ingest.post(message(alert()), token="guess-token")
    await ingest.post(
        message(alert()), token="tok-secured", headers={"Authorization": "Bearer wrong-secret"}
    )
    await ingest.post(
        message(alert()), token="tok-secured", headers={"Authorization": "Bearer bearer-secret"}
    )
    await ingest.post(message(alert()), token="tok-am")
    # Ours only: the test's own HTTP client logs URLs (uvicorn's access log is off in main()).
    ours = [r for r in caplog.records if r.name.startswith("herald")]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "secured" in logged  # the integration id is what identifies a request
    for secret in ("guess-token", "wrong-secret", "bearer-secret", "tok-secured", "tok-am"):
        assert secret not in logged


async def test_a_notification_is_reported_whole_after_its_alerts(ingest: Ingest, nc: NATS) -> None:
    """The group report lists every alert of the notification, on its own subject, stored after
    them (the correlator ends what a later complete report no longer lists)."""
    doc = two_alerts()
    doc["truncatedAlerts"] = 3
    assert (await ingest.post(doc)).status_code == 200
    sub = await nc.jetstream().pull_subscribe(">", stream=ALERTS_STREAM)
    msgs = await sub.fetch(3, timeout=WAIT)
    await sub.unsubscribe()
    assert [m.subject for m in msgs] == [alert_subject("am")] * 2 + [group_subject("am")]
    report = GroupReported.model_validate_json(msgs[2].data)
    assert sorted(report.fingerprints) == ["1111111111111111", "2222222222222222"]
    assert report.firing == ("1111111111111111",)
    assert report.group_key == AlertReceived.model_validate_json(msgs[0].data).group_key
    assert report.occurred_at == NOW
    assert report.truncated_alerts == 3
    assert not report.complete
    assert (msgs[2].headers or {})[Header.MSG_ID] == report.event_id
