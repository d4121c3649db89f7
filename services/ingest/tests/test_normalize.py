from __future__ import annotations

from datetime import UTC, datetime

from herald.ingest.alertmanager import WebhookMessage, fingerprint
from herald.ingest.normalize import event_id, normalize
from herald.shared.events import AlertReceived, AlertState

from .payloads import alert, message

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def events_of(
    doc: dict[str, object], integration: str = "am", now: datetime = NOW
) -> list[AlertReceived]:
    return normalize(WebhookMessage.model_validate(doc), integration, now)


def test_firing_alert_occurs_at_its_start() -> None:
    [ev] = events_of(message(alert(fingerprint="abc")))
    assert ev.status is AlertState.FIRING
    assert ev.occurred_at == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert ev.starts_at == ev.occurred_at
    assert ev.ends_at is None
    assert ev.received_at == NOW
    assert ev.integration == "am"
    assert ev.fingerprint == "abc"
    assert ev.labels["alertname"] == "HighErrorRate"
    assert ev.annotations["description"] == "<b>5xx</b> > 5%"  # kept as text, untouched
    assert ev.receiver == "herald"
    assert ev.group_key == '{}:{service="payments-api"}'
    assert ev.external_url == "http://alertmanager:9093"
    assert ev.generator_url.startswith("http://prometheus:9090/")


def test_resolved_alert_occurs_at_its_end() -> None:
    [ev] = events_of(message(alert(status="resolved", ends_at="2024-05-01T10:30:00Z")))
    assert ev.status is AlertState.RESOLVED
    assert ev.occurred_at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert ev.ends_at == ev.occurred_at


def test_resolved_alert_without_end_occurs_on_arrival() -> None:
    [ev] = events_of(message(alert(status="resolved")))  # endsAt is Go's zero time
    assert ev.ends_at is None
    assert ev.occurred_at == NOW


def test_missing_fingerprint_is_computed_from_labels() -> None:
    [ev] = events_of(message(alert()))
    assert ev.fingerprint == fingerprint(ev.labels)
    [again] = events_of(message(alert()))
    assert again.fingerprint == ev.fingerprint


def test_extra_fields_are_ignored() -> None:
    doc = message(alert(), notification_reason="repeat", routeLabels={"x": "y"})
    doc["alerts"][0]["somethingNew"] = 1
    [ev] = events_of(doc)
    assert ev.status is AlertState.FIRING


def test_one_event_per_alert_in_order() -> None:
    evs = events_of(
        message(alert("A"), alert("B", status="resolved", ends_at="2024-05-01T11:00:00Z"))
    )
    assert [e.labels["alertname"] for e in evs] == ["A", "B"]
    assert [e.status for e in evs] == [AlertState.FIRING, AlertState.RESOLVED]


def test_event_id_is_stable_across_resends_and_arrival_times() -> None:
    first = events_of(message(alert()), now=NOW)
    later = events_of(
        message(alert(), notification_reason="repeat"), now=datetime(2024, 5, 2, tzinfo=UTC)
    )
    assert [e.event_id for e in first] == [e.event_id for e in later]


def test_event_id_ignores_the_offset_startsat_is_written_in() -> None:
    a = events_of(message(alert(starts_at="2024-05-01T10:00:00Z")))
    b = events_of(message(alert(starts_at="2024-05-01T12:00:00+02:00")))
    assert a[0].event_id == b[0].event_id


def test_event_id_differs_by_each_part_of_the_identity() -> None:
    start = datetime(2024, 5, 1, 10, tzinfo=UTC)
    base = event_id("am", "fp1", AlertState.FIRING, start)
    others = {
        event_id("other", "fp1", AlertState.FIRING, start),
        event_id("am", "fp2", AlertState.FIRING, start),
        event_id("am", "fp1", AlertState.RESOLVED, start),
        event_id("am", "fp1", AlertState.FIRING, datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)),
    }
    assert base not in others
    assert len(others) == 4


def test_resolved_and_firing_of_one_alert_are_distinct_events() -> None:
    firing, resolved = events_of(
        message(alert(), alert(status="resolved", ends_at="2024-05-01T10:30:00Z"))
    )
    assert firing.fingerprint == resolved.fingerprint
    assert firing.event_id != resolved.event_id


def test_event_round_trips_through_json() -> None:
    [ev] = events_of(message(alert()))
    assert AlertReceived.model_validate_json(ev.model_dump_json()) == ev


def test_events_are_what_validating_them_would_make() -> None:
    """Events are constructed without validation: each is equal, field for field and as JSON,
    to the event validated from its own JSON."""
    doc = message(
        alert(status="firing", ends_at="0001-01-01T00:00:00Z"),
        alert("B", status="resolved", ends_at="2024-05-01T11:00:00Z", x="é" * 5000),
    )
    for event in events_of(doc):
        again = AlertReceived.model_validate_json(event.model_dump_json())
        assert again == event
        assert again.model_dump_json() == event.model_dump_json()
