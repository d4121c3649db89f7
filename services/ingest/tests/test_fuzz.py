"""Property-based fuzzing of every inbound endpoint: whatever the bytes, headers, token or JSON
shape, ingest answers (never a 5xx: the publisher stand-in works, so a 5xx would be ours), no
exception escapes the app, and whatever it stores fits a NATS message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from herald.ingest.app import create_app
from herald.ingest.limits import MAX_EVENT_BYTES
from herald.ingest.options import IngestOptions
from herald.shared.config import parse_config
from herald.shared.settings import Settings

from .memory_publisher import MemoryPublisher

CONFIG = parse_config(
    """
integrations:
  am:
    token: tok-am
  secured:
    token: tok-secured
    basic_auth: {username: am, password: [p1, p2]}
"""
)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
times = st.sampled_from(
    [
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.123456789+02:00",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "",
        "yesterday",
    ]
) | st.text(max_size=30)
string_maps = st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=5)
alert_docs = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]) | json_values, "startsAt": times},
    optional={
        "labels": string_maps | json_values,
        "annotations": string_maps | json_values,
        "endsAt": times | st.none(),
        "generatorURL": st.text(max_size=50) | json_values,
        "fingerprint": st.text(max_size=70) | st.none() | json_values,
        "values": st.dictionaries(st.text(max_size=5), st.floats() | st.none()) | json_values,
        "silenceURL": st.text(max_size=20) | json_values,
        "dashboardURL": st.text(max_size=20),
    },
)
webhook_docs = st.fixed_dictionaries(
    {"alerts": st.lists(alert_docs, max_size=4) | json_values},
    optional={
        "version": st.sampled_from(["4", "1", "99"]) | json_values,
        "groupKey": st.text(max_size=50) | json_values,
        "truncatedAlerts": st.integers() | json_values,
        "status": st.sampled_from(["firing", "resolved"]) | json_values,
        "receiver": st.text(max_size=20) | json_values,
        "groupLabels": string_maps | json_values,
        "commonLabels": string_maps | json_values,
        "commonAnnotations": string_maps | json_values,
        "externalURL": st.text(max_size=20) | json_values,
        "orgId": st.integers() | json_values,
        "state": st.text(max_size=10) | json_values,
        "title": st.text(max_size=10) | json_values,
        "message": st.text(max_size=10) | json_values,
    },
)
pagerduty_docs = st.fixed_dictionaries(
    {},
    optional={
        "routing_key": st.sampled_from(["tok-am", "tok-secured", "nope", ""]) | json_values,
        "event_action": st.sampled_from(["trigger", "acknowledge", "resolve", "x"]) | json_values,
        "dedup_key": st.text(max_size=300) | json_values,
        "payload": st.fixed_dictionaries(
            {},
            optional={
                "summary": st.text(max_size=40) | json_values,
                "source": st.text(max_size=20) | json_values,
                "severity": st.sampled_from(["critical", "error", "warning", "info", "x"])
                | json_values,
                "timestamp": times | json_values,
                "component": st.text(max_size=10) | json_values,
                "group": st.text(max_size=10) | json_values,
                "class": st.text(max_size=10) | json_values,
                "custom_details": json_values,
            },
        )
        | json_values,
        "links": st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=2), max_size=2)
        | json_values,
        "images": st.lists(
            st.dictionaries(st.text(max_size=5), json_values, max_size=2), max_size=2
        )
        | json_values,
        "client": st.text(max_size=10) | json_values,
        "client_url": st.text(max_size=10) | json_values,
    },
)


def encoded(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


bodies = (
    webhook_docs.map(encoded)
    | pagerduty_docs.map(encoded)
    | json_values.map(encoded)
    | st.binary(max_size=200)
    | st.sampled_from(
        [
            b'"\\ud800"',
            b'{"alerts": [{"status": "firing", "labels": {"\\udc00": "\\ud800"}, "startsAt": "2024-05-01T10:00:00Z"}]}',
            b"[" * 50_000,
            b'{"alerts": [], "x": ' + b"[" * 3000 + b"]" * 3000 + b"}",
            b'{"alerts": [{"status": "firing", "labels": {}, "startsAt": "2024-05-01T10:00:00Z", "fingerprint": 1e999}]}',
        ]
    )
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "", "multipart/form-data"]
        ),
        "Authorization": st.sampled_from(
            ["Basic YW06cDE=", "Basic YW06cDI=", "Bearer x", "", "Basic"]
        ),
        "Content-Length": st.sampled_from(["abc", "-1", "0", "999999999999"]),
    },
)
tokens = st.sampled_from(["tok-am", "tok-secured", "nope", ".", ".."]) | st.text(
    alphabet=st.characters(blacklist_characters="/?#%", blacklist_categories=["Cc", "Cs"]),
    min_size=1,
    max_size=20,
)


@pytest.fixture(scope="module")
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture(scope="module")
def client(publisher: MemoryPublisher) -> Iterator[TestClient]:
    app = create_app(
        CONFIG,
        Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env={}),
        IngestOptions(max_body=16 * 1024 * 1024),  # the body limit itself: test_app.py
        publisher=publisher,  # type: ignore[arg-type]
    )
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


def answered(resp: Any) -> None:
    """A 2xx-4xx with a JSON object body."""
    assert 200 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert isinstance(resp.json(), dict), (resp.status_code, resp.text[:300])


@FUZZ
@given(token=tokens, body=bodies, extra=headers)
def test_webhook_endpoint(
    client: TestClient, publisher: MemoryPublisher, token: str, body: bytes, extra: dict[str, str]
) -> None:
    resp = client.post(f"/hooks/inbound/{token}", content=body, headers=extra)
    answered(resp)
    assert publisher.largest <= MAX_EVENT_BYTES


@FUZZ
@given(body=bodies, extra=headers)
def test_pagerduty_endpoint(
    client: TestClient, publisher: MemoryPublisher, body: bytes, extra: dict[str, str]
) -> None:
    resp = client.post("/v2/enqueue", content=body, headers=extra)
    answered(resp)
    assert publisher.largest <= MAX_EVENT_BYTES


@FUZZ
@given(doc=webhook_docs)
def test_structured_webhooks_with_a_valid_token(
    client: TestClient, publisher: MemoryPublisher, doc: dict[str, Any]
) -> None:
    resp = client.post("/hooks/inbound/tok-am", content=encoded(doc))
    answered(resp)
    assert resp.status_code in {200, 400, 422}


@FUZZ
@given(doc=pagerduty_docs)
def test_structured_pagerduty_events(
    client: TestClient, publisher: MemoryPublisher, doc: dict[str, Any]
) -> None:
    resp = client.post("/v2/enqueue", content=encoded(doc))
    answered(resp)
    assert resp.status_code in {202, 400, 401}


valid_alerts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(st.text(max_size=300), st.text(max_size=1000), max_size=40),
        "startsAt": st.sampled_from(
            ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456789+02:00", "1970-01-01T00:00:00Z"]
        ),
    },
    optional={
        "annotations": st.dictionaries(st.text(max_size=300), st.text(max_size=20000), max_size=4),
        "fingerprint": st.text(max_size=100),
        "generatorURL": st.text(max_size=5000),
    },
)


@FUZZ
@given(
    alerts=st.lists(valid_alerts, min_size=1, max_size=3),
    group_key=st.text(max_size=5000),
    grafana=st.booleans(),
)
def test_any_valid_webhook_is_stored(
    client: TestClient,
    publisher: MemoryPublisher,
    alerts: list[dict[str, Any]],
    group_key: str,
    grafana: bool,
) -> None:
    doc: dict[str, Any] = {"alerts": alerts, "groupKey": group_key}
    if grafana:
        doc["orgId"] = 1
    resp = client.post("/hooks/inbound/tok-am", content=encoded(doc))
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["alerts"] == len(alerts)
    assert publisher.largest <= MAX_EVENT_BYTES
