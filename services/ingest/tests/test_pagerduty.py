"""PagerDuty Events API v2 events -> AlertReceived (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from herald.ingest.limits import CLIPPED_ANNOTATION
from herald.ingest.pagerduty import (
    Action,
    InvalidEvent,
    alert_fingerprint,
    pagerduty_alert,
    parse_event,
)
from herald.shared.events import AlertState

DATA = Path(__file__).parent / "data"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


def test_trigger_maps_every_field() -> None:
    event = parse_event(load("pagerduty-trigger.json"))
    assert event.action is Action.TRIGGER
    alert = pagerduty_alert(event, "am", NOW, severity_label="severity")
    assert alert is not None
    assert alert.status is AlertState.FIRING
    assert alert.starts_at == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert alert.occurred_at == alert.starts_at
    assert alert.ends_at is None
    assert alert.fingerprint == alert_fingerprint("am", "payments-api/db-connections")
    assert alert.labels == {
        "alertname": "connection pool",
        "severity": "critical",
        "source": "db-1.payments.example.com",
        "component": "payments-api",
        "group": "prod-payments",
        "class": "connection pool",
        "dedup_key": "payments-api/db-connections",
    }
    assert alert.annotations["summary"] == (
        "payments-api: database connection pool exhausted on db-1"
    )
    details = json.loads(alert.annotations["description"])
    assert details["note"] == "<b>check the pgbouncer</b>"  # kept as text
    assert (
        json.loads(alert.annotations["links"])[0]["href"] == "https://runbooks.example.com/db-pool"
    )
    assert json.loads(alert.annotations["images"])[0]["alt"] == "Connections"
    assert alert.annotations["client"] == "Example Monitoring"
    assert alert.generator_url == "https://monitoring.example.com/checks/db-pool"


def test_resolve_is_the_same_alert_and_supersedes_the_trigger() -> None:
    trigger = pagerduty_alert(parse_event(load("pagerduty-trigger.json")), "am", NOW)
    resolve = pagerduty_alert(parse_event(load("pagerduty-resolve.json")), "am", NOW)
    assert trigger is not None
    assert resolve is not None
    assert resolve.fingerprint == trigger.fingerprint
    assert resolve.status is AlertState.RESOLVED
    assert resolve.starts_at == resolve.ends_at == NOW
    assert resolve.starts_at > trigger.starts_at  # the correlator takes the later instance


def test_acknowledge_stores_nothing() -> None:
    event = parse_event(load("pagerduty-acknowledge.json"))
    assert event.action is Action.ACKNOWLEDGE
    assert pagerduty_alert(event, "am", NOW) is None


def test_identity_does_not_depend_on_the_routing_key() -> None:
    one = load("pagerduty-trigger.json")
    other = {**one, "routing_key": "tok-am-next"}
    a = pagerduty_alert(parse_event(one), "am", NOW)
    b = pagerduty_alert(parse_event(other), "am", NOW)
    assert a is not None
    assert b is not None
    assert (a.event_id, a.fingerprint) == (b.event_id, b.fingerprint)
    c = pagerduty_alert(parse_event(one), "other-integration", NOW)
    assert c is not None
    assert c.fingerprint != a.fingerprint


def test_trigger_without_dedup_key_gets_a_stable_one() -> None:
    doc = load("pagerduty-trigger.json")
    del doc["dedup_key"]
    first = parse_event(doc)
    again = parse_event({**doc, "routing_key": "another"})
    assert first.dedup_key == again.dedup_key
    assert len(first.dedup_key) == 32
    changed = parse_event({**doc, "payload": {**doc["payload"], "summary": "other"}})
    assert changed.dedup_key != first.dedup_key


def test_trigger_without_timestamp_starts_at_arrival_and_info_is_kept() -> None:
    doc = load("pagerduty-trigger.json")
    del doc["payload"]["timestamp"]
    doc["payload"]["severity"] = "info"
    alert = pagerduty_alert(parse_event(doc), "am", NOW, severity_label="level")
    assert alert is not None
    assert alert.starts_at == NOW
    assert alert.labels["level"] == "info"
    assert "severity" not in alert.labels


def test_long_summary_is_clipped_to_pagerdutys_limit() -> None:
    doc = load("pagerduty-trigger.json")
    doc["payload"]["summary"] = "s" * 5000
    alert = pagerduty_alert(parse_event(doc), "am", NOW)
    assert alert is not None
    assert len(alert.annotations["summary"]) == 1024
    assert "payload.summary" in alert.annotations[CLIPPED_ANNOTATION]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"routing_key": None}, "'routing_key' is missing or blank"),
        ({"routing_key": 5}, "'routing_key' must be a string"),
        ({"event_action": "explode"}, "'event_action' is invalid"),
        ({"event_action": None}, "'event_action' is invalid"),
        ({"dedup_key": "k" * 256}, "'dedup_key' is too long"),
        ({"payload": None}, "'payload' is missing"),
        ({"payload": []}, "'payload' must be an object"),
        ({"payload": {"source": "s", "severity": "critical"}}, "'payload.summary' is missing"),
        ({"payload": {"summary": "s", "severity": "critical"}}, "'payload.source' is missing"),
        ({"payload": {"summary": "s", "source": "s", "severity": "fatal"}}, "'payload.severity'"),
        ({"payload": {"summary": 1, "source": "s", "severity": "info"}}, "'payload.summary' must"),
        (
            {"payload": {"summary": "s", "source": "s", "severity": "info", "timestamp": "noon"}},
            "'payload.timestamp'",
        ),
        ({"links": {"href": "x"}}, "'links' must be a list of objects"),
        ({"images": ["x"]}, "'images' must be a list of objects"),
    ],
)
def test_invalid_events_say_why(change: dict[str, Any], error: str) -> None:
    doc = {**load("pagerduty-trigger.json"), **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(InvalidEvent) as exc:
        parse_event(doc)
    assert any(e.startswith(error) for e in exc.value.errors), exc.value.errors


def test_resolve_needs_a_dedup_key() -> None:
    with pytest.raises(InvalidEvent, match="'dedup_key' is missing"):
        parse_event({"routing_key": "k", "event_action": "resolve"})
