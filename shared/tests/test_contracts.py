from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    INCIDENT_EVENT_NAMES,
    ComponentStatus,
    ComponentStatusChanged,
    Impact,
    Incident,
    IncidentOpened,
    IncidentStatus,
)
from herald.shared.keys import (
    archived_incident_key,
    incident_history_key,
    status_history_key,
    status_key,
)
from herald.shared.subjects import alert_subject, incident_subject, subject_token

NOW = datetime(2026, 5, 28, 14, 32, tzinfo=UTC)


def test_subjects_are_single_safe_tokens() -> None:
    assert incident_subject("payments-api", "opened") == "incidents.payments-api.opened"
    assert alert_subject("Alert Manager.prod") == "alerts.alert_manager_prod"
    assert subject_token("*>") == "_"


def test_redis_keys_share_the_service_hash_tag() -> None:
    assert status_key("payments-api") == "herald:{payments-api}:status"
    # the 90 days of history too: one service's keys stay in one Redis Cluster slot
    assert status_history_key("payments-api") == "herald:{payments-api}:history:status"
    assert incident_history_key("payments-api") == "herald:{payments-api}:history:incidents"
    assert archived_incident_key("payments-api", "payments-api-7") == (
        "herald:{payments-api}:history:incident:payments-api-7"
    )


def test_incident_events_round_trip_through_the_discriminated_union() -> None:
    incident = Incident(
        id="i1",
        service="payments-api",
        title="t",
        body="b",
        status=IncidentStatus.INVESTIGATING,
        impact=Impact.CRITICAL,
        component_status=ComponentStatus.MAJOR_OUTAGE,
        started_at=NOW,
        updated_at=NOW,
    )
    events = [
        IncidentOpened(
            event_id="payments-api:1",
            occurred_at=NOW,
            service="payments-api",
            version=1,
            incident=incident,
        ),
        ComponentStatusChanged(
            event_id="payments-api:2",
            occurred_at=NOW,
            service="payments-api",
            version=2,
            status=ComponentStatus.MAJOR_OUTAGE,
            previous_status=ComponentStatus.OPERATIONAL,
        ),
    ]
    for event in events:
        parsed = INCIDENT_EVENT_ADAPTER.validate_json(event.model_dump_json())
        assert parsed == event
        assert parsed.kind in INCIDENT_EVENT_NAMES


def test_contracts_are_frozen_and_tolerate_new_fields() -> None:
    raw = (
        '{"kind":"component.status_changed","event_id":"e","occurred_at":"2026-05-28T14:32:00Z",'
        '"service":"s","version":3,"status":"major_outage","previous_status":"operational","new":1}'
    )
    event = INCIDENT_EVENT_ADAPTER.validate_json(raw)
    assert isinstance(event, ComponentStatusChanged)
    with pytest.raises(ValidationError):
        event.version = 4  # type: ignore[misc]


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValidationError):
        INCIDENT_EVENT_ADAPTER.validate_json('{"kind":"incident.exploded","event_id":"e"}')
