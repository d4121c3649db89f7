"""What readers see of an incident (`public_view`): its public status and public updates only,
and the incident itself (no copy) when readers see it as it is."""

from datetime import UTC, datetime, timedelta

from herald.shared.events import (
    ComponentStatus,
    Impact,
    Incident,
    IncidentStatus,
    TimelineEntry,
)
from herald.shared.public_page import public_status, public_view

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def incident(**kw: object) -> Incident:
    doc: dict[str, object] = {
        "id": "api-1",
        "service": "api",
        "title": "Payments failing",
        "body": "Card payments return 500.",
        "status": IncidentStatus.INVESTIGATING,
        "impact": Impact.MAJOR,
        "component_status": ComponentStatus.PARTIAL_OUTAGE,
        "started_at": T0,
        "updated_at": T0,
        "public_status": IncidentStatus.INVESTIGATING,
        "timeline": (TimelineEntry(at=T0, status=IncidentStatus.INVESTIGATING, body="Api."),),
    }
    doc.update(kw)
    return Incident.model_validate(doc)


def test_an_incident_readers_see_as_it_is_is_its_own_public_view() -> None:
    open_one = incident()
    assert public_view(open_one) is open_one
    done = incident(
        status=IncidentStatus.RESOLVED,
        public_status=IncidentStatus.RESOLVED,
        resolved_at=T0 + timedelta(minutes=5),
    )
    assert public_view(done) is done
    assert public_status(done) is IncidentStatus.RESOLVED


def test_internal_alerts_and_updates_stay_out_of_the_public_view() -> None:
    internal = TimelineEntry(
        at=T0 + timedelta(minutes=1), status=IncidentStatus.IDENTIFIED, body="db-7", public=False
    )
    kept_open = incident(
        public_status=IncidentStatus.RESOLVED,
        public_resolved_at=T0 + timedelta(minutes=2),
        timeline=(*incident().timeline, internal),
    )
    seen = public_view(kept_open)
    assert seen.status is IncidentStatus.RESOLVED
    assert public_status(kept_open) is IncidentStatus.RESOLVED
    assert seen.resolved_at == T0 + timedelta(minutes=2)
    assert [e.body for e in seen.timeline] == ["Api."]
    resolved_for_readers = incident(public_status=IncidentStatus.RESOLVED)
    assert public_view(resolved_for_readers).resolved_at == T0  # its last update
