"""Plain-data builders for the status page tests (a fixture, since test folders are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald.shared.config import HeraldConfig, parse_config
from herald.shared.events import (
    ComponentStatus,
    ComponentStatusChanged,
    Impact,
    Incident,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    ServiceStatus,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

CONFIG_YAML = """
page:
  title: Acme Status
  url: https://status.example.com
  history_size: 3
groups:
  cluster:
    name: Kubernetes cluster
    description: The platform.
  empty:
    name: Nothing in here
services:
  api:
    name: Payments API
    description: Card payments.
  nodes:
    name: Nodes
    group: cluster
  deployments:
    name: Deployments
    group: cluster
"""


class Factory:
    """Builds configs, incidents and events with sensible defaults."""

    t0 = T0

    def config(self, text: str = CONFIG_YAML, *, page: str = "") -> HeraldConfig:
        """`text` parsed; `page`: more lines (YAML) under its `page:`."""
        return parse_config(text.replace("page:\n", f"page:\n{page}", 1))

    def incident(
        self,
        service: str = "api",
        id: str = "inc-1",
        *,
        title: str = "Payments failing",
        body: str = "Card payments return 500.",
        status: IncidentStatus = IncidentStatus.INVESTIGATING,
        impact: Impact = Impact.MAJOR,
        component_status: ComponentStatus = ComponentStatus.PARTIAL_OUTAGE,
        started_at: datetime = T0,
        resolved_at: datetime | None = None,
        public: bool = True,
    ) -> Incident:
        return Incident(
            id=id,
            service=service,
            title=title,
            body=body,
            status=IncidentStatus.RESOLVED if resolved_at else status,
            impact=impact,
            component_status=component_status,
            started_at=started_at,
            updated_at=resolved_at or started_at,
            resolved_at=resolved_at,
            public=public,
        )

    def resolved_incident(self, service: str = "api", id: str = "inc-1", **kw: object) -> Incident:
        return self.incident(service, id, resolved_at=T0 + timedelta(minutes=30), **kw)  # type: ignore[arg-type]

    def opened(self, version: int, incident: Incident | None = None) -> IncidentOpened:
        inc = incident or self.incident()
        return IncidentOpened(
            event_id=f"{inc.id}-opened-{version}",
            occurred_at=inc.started_at,
            service=inc.service,
            version=version,
            incident=inc,
        )

    def updated(self, version: int, incident: Incident) -> IncidentUpdated:
        return IncidentUpdated(
            event_id=f"{incident.id}-updated-{version}",
            occurred_at=incident.updated_at,
            service=incident.service,
            version=version,
            incident=incident,
        )

    def resolved(self, version: int, incident: Incident | None = None) -> IncidentResolved:
        inc = incident or self.resolved_incident()
        return IncidentResolved(
            event_id=f"{inc.id}-resolved-{version}",
            occurred_at=inc.resolved_at or inc.updated_at,
            service=inc.service,
            version=version,
            incident=inc,
        )

    def component(
        self,
        version: int,
        status: ComponentStatus,
        service: str = "api",
        previous: ComponentStatus = ComponentStatus.OPERATIONAL,
        at: datetime = T0,
    ) -> ComponentStatusChanged:
        return ComponentStatusChanged(
            event_id=f"{service}-component-{version}",
            occurred_at=at,
            service=service,
            version=version,
            status=status,
            previous_status=previous,
        )

    def status(self, service: str = "api", version: int = 1, **kw: object) -> ServiceStatus:
        return ServiceStatus(service=service, version=version, **kw)  # type: ignore[arg-type]


@pytest.fixture
def make() -> Factory:
    return Factory()
