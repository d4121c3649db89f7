from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from herald.ingest.alertmanager import WebhookMessage, fingerprint
from herald.shared.events import AlertState

from .payloads import alert, message


def test_fingerprint_matches_prometheus_label_set_fingerprint() -> None:
    # Vectors from prometheus/common model/signature_test.go (FNV-1a 64, 0xff separators).
    assert fingerprint({}) == f"{14695981039346656037:016x}"
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert fingerprint(labels) == f"{5799056148416392346:016x}"


def test_fingerprint_ignores_label_order_but_not_values() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1", "b": "2"}) != fingerprint({"a": "1", "b": "3"})
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


def test_full_alertmanager_payload_with_extra_fields() -> None:
    doc = message(alert(fingerprint="c0ffee0000000001"), notification_reason="new_alerts")
    doc["alerts"][0]["routeLabels"] = {"team": "payments"}
    msg = WebhookMessage.model_validate(doc)
    assert msg.version == "4"
    assert msg.receiver == "herald"
    assert msg.external_url == "http://alertmanager:9093"
    [a] = msg.alerts
    assert a.status is AlertState.FIRING
    assert a.starts_at == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert a.ends_at is None  # Go's zero time means "no end"
    assert a.effective_fingerprint() == "c0ffee0000000001"


def test_minimal_hand_written_payload() -> None:
    msg = WebhookMessage.model_validate(
        {
            "alerts": [
                {
                    "status": "resolved",
                    "labels": {"alertname": "X"},
                    "startsAt": "2024-05-01T10:00:00",
                }
            ]
        }
    )
    [a] = msg.alerts
    assert a.starts_at.tzinfo is not None  # naive times are taken as UTC
    assert a.annotations == {}
    assert a.ends_at is None
    assert a.effective_fingerprint() == fingerprint({"alertname": "X"})


def test_null_maps_and_empty_end_are_tolerated() -> None:
    doc = message(alert(ends_at=""))
    doc["commonAnnotations"] = None
    doc["alerts"][0]["annotations"] = None
    msg = WebhookMessage.model_validate(doc)
    assert msg.common_annotations == {}
    assert msg.alerts[0].annotations == {}
    assert msg.alerts[0].ends_at is None


def test_offsets_are_converted_to_utc() -> None:
    msg = WebhookMessage.model_validate(
        message(alert(starts_at="2024-05-01T12:00:00+02:00", ends_at="2024-05-01T13:00:00+02:00"))
    )
    assert msg.alerts[0].starts_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert msg.alerts[0].ends_at == datetime(2024, 5, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda a: a.pop("startsAt"), ("alerts", 0, "startsAt")),
        (lambda a: a.pop("labels"), ("alerts", 0, "labels")),
        (lambda a: a.update(status="pending"), ("alerts", 0, "status")),
        (lambda a: a.update(startsAt="yesterday"), ("alerts", 0, "startsAt")),
        (lambda a: a["labels"].update(port=8080), ("alerts", 0, "labels", "port")),
    ],
)
def test_schema_errors_name_the_field(
    mutate: Callable[[dict[str, Any]], object], loc: tuple[str | int, ...]
) -> None:
    doc = message(alert())
    mutate(doc["alerts"][0])
    with pytest.raises(ValidationError) as err:
        WebhookMessage.model_validate(doc)
    assert loc in [e["loc"] for e in err.value.errors()]


def test_alerts_list_is_required() -> None:
    with pytest.raises(ValidationError) as err:
        WebhookMessage.model_validate({"version": "4"})
    assert [e["loc"] for e in err.value.errors()] == [("alerts",)]
