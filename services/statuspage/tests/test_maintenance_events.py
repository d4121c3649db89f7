"""Maintenance windows on the page come from the correlator's `maintenance.changed` events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.shared.config import parse_config
from herald.shared.events import MaintenanceChanged, MaintenanceStatus, MaintenanceWindow
from herald.shared.public_page import maintenance_updates
from herald.statuspage import maintenance
from herald.statuspage.projection import Projection
from herald.statuspage.status import PageView

CONFIG = parse_config("services:\n  api: {name: API}\n  db: {name: DB}\n")
T0 = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)


def changed(service: str, version: int, status: MaintenanceStatus) -> MaintenanceChanged:
    window = MaintenanceWindow(
        id="mnt-1",
        title="Database upgrade",
        body="Writes pause for a minute.",
        services=("api", "db"),
        status=status,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        created_at=T0 - timedelta(days=1),
        updated_at=T0 - timedelta(days=1) + timedelta(minutes=version),
        started_at=T0 if status is not MaintenanceStatus.SCHEDULED else None,
    )
    return MaintenanceChanged(
        event_id=f"{service}:{version}",
        occurred_at=window.updated_at,
        service=service,
        version=version,
        maintenance=window,
    )


def view(projection: Projection) -> PageView:
    return PageView(CONFIG, projection, T0, {}, maintenance.windows(projection))


def test_a_scheduled_window_is_upcoming_then_active_once_for_all_its_services() -> None:
    p = Projection(10)
    p.apply(changed("api", 1, MaintenanceStatus.SCHEDULED))
    p.apply(changed("db", 1, MaintenanceStatus.SCHEDULED))
    upcoming = view(p).upcoming_json()["scheduled_maintenances"]
    assert [w["id"] for w in upcoming] == ["mnt-1"]
    assert upcoming[0]["name"] == "Database upgrade"
    assert {c["name"] for c in upcoming[0]["components"]} == {"API", "DB"}

    p.apply(changed("api", 2, MaintenanceStatus.IN_PROGRESS))
    page = view(p)
    assert page.upcoming_json()["scheduled_maintenances"] == []
    (active,) = page.active_json()["scheduled_maintenances"]
    assert active["status"] == "in_progress"


def test_a_window_carries_the_shared_status_and_updates_as_the_correlator_sent_them() -> None:
    p = Projection(10)
    p.apply(changed("api", 2, MaintenanceStatus.IN_PROGRESS))
    (window,) = maintenance.windows(p)
    # The contract's own enum and update records (herald.shared), not a page-side copy.
    assert window.status is MaintenanceStatus.IN_PROGRESS
    sent = p["api"].maintenances[0]
    assert window.updates == maintenance_updates(sent)
