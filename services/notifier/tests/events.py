"""Incident events for the notifier's tests (plain values)."""

from __future__ import annotations

from datetime import UTC, datetime

from herald.shared.events import (
    ComponentStatus,
    Impact,
    Incident,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def incident(service: str = "payments-api", *, resolved: bool = False) -> Incident:
    return Incident(
        id=f"{service}-inc-1",
        service=service,
        title="Card payments failing",
        body="5% of card payments fail",
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.INVESTIGATING,
        impact=Impact.MAJOR,
        component_status=ComponentStatus.OPERATIONAL if resolved else ComponentStatus.MAJOR_OUTAGE,
        started_at=T0,
        updated_at=T1 if resolved else T0,
        resolved_at=T1 if resolved else None,
    )


def opened(service: str = "payments-api", event_id: str = "ev-open-1") -> IncidentOpened:
    return IncidentOpened(
        event_id=event_id, occurred_at=T0, service=service, version=1, incident=incident(service)
    )


def resolved(service: str = "payments-api", event_id: str = "ev-resolve-1") -> IncidentResolved:
    return IncidentResolved(
        event_id=event_id,
        occurred_at=T1,
        service=service,
        version=2,
        incident=incident(service, resolved=True),
    )
