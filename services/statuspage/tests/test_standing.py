"""The page roll-up counted service by service (standing.py) says what counting every service
says, after any sequence of events and snapshots; and the board's view, reused from event to
event, shows every change of what it holds."""

from __future__ import annotations

import random
from datetime import timedelta

from herald.shared.events import (
    ComponentStatus,
    Impact,
    IncidentStatus,
    MaintenanceChanged,
    MaintenanceStatus,
    MaintenanceWindow,
)
from herald.shared.statuses import worst
from herald.statuspage.board import Board, Received, Reset
from herald.statuspage.projection import Projection
from herald.statuspage.status import PageStatus, PageView, publicly_open, rollup

SERVICES = ("api", "nodes", "deployments", "_unrouted")
"""The config's services and one it does not have."""


def counted_every_time(view: PageView) -> PageStatus:
    """The roll-up as the page computed it before the standing: every service, every time."""
    states = [view.state(sid) for sid in view.config.services]
    return rollup(
        (s.component_status for s in states),
        (i.impact for s in states if (i := publicly_open(s.incident)) is not None),
    )


def random_event(make, rng: random.Random, service: str, version: int):
    status = rng.choice(list(ComponentStatus))
    incident = make.incident(
        service,
        f"inc-{service}-{rng.randint(1, 3)}",
        impact=rng.choice(list(Impact)),
        component_status=status,
        public=rng.random() < 0.8,
    )
    if rng.random() < 0.2:  # open for internal alerts only: resolved on the public page
        incident = incident.model_copy(update={"public_status": IncidentStatus.RESOLVED})
    kind = rng.choice(("opened", "updated", "resolved", "component"))
    if kind == "opened":
        return make.opened(version, incident)
    if kind == "updated":
        return make.updated(version, incident)
    if kind == "resolved":
        resolved = incident.model_copy(
            update={"status": IncidentStatus.RESOLVED, "resolved_at": make.t0}
        )
        return make.resolved(version, resolved)
    return make.component(version, status, service=service)


def test_the_counted_roll_up_is_the_roll_up_of_every_service(make):
    config = make.config()
    rng = random.Random(7)
    projection = Projection(3, config.services)
    versions = dict.fromkeys(SERVICES, 0)
    for _ in range(600):
        service = rng.choice(SERVICES)
        versions[service] += rng.choice((1, 1, 1, -1))  # now and then a stale one
        event = random_event(make, rng, service, versions[service])
        if rng.random() < 0.1:  # a snapshot instead of the event
            state = make.status(
                service,
                versions[service] + 1,
                component_status=rng.choice(list(ComponentStatus)),
                incident=getattr(event, "incident", None),
            )
            versions[service] += 1
            projection.load(state)
        else:
            projection.apply(event)
        live = PageView(config, projection, make.t0)
        assert live.standing is projection.standing  # read, not counted again
        assert live.status() == counted_every_time(live)
        plain = PageView(config, dict(projection), make.t0)
        assert plain.standing is not projection.standing
        assert plain.status() == live.status()
        for group in ("cluster", "empty"):
            children = [s for s, svc in config.services.items() if svc.group == group]
            assert live.group_status(group) == worst(
                live.state(s).component_status for s in children
            )


def test_a_projection_counting_other_services_is_not_read_as_the_page(make):
    projection = Projection(3, ("nodes",))  # not the configuration's services
    projection.apply(make.component(1, ComponentStatus.MAJOR_OUTAGE, service="api"))

    view = PageView(make.config(), projection, make.t0)

    assert view.status().indicator == "critical"


def window(make, status: MaintenanceStatus, version: int) -> MaintenanceChanged:
    w = MaintenanceWindow(
        id="mw-1",
        title="Database upgrade",
        services=("api",),
        status=status,
        starts_at=make.t0 + timedelta(hours=1),
        ends_at=make.t0 + timedelta(hours=2),
        created_at=make.t0,
        updated_at=make.t0 + timedelta(minutes=version),
    )
    return MaintenanceChanged(
        event_id=f"mw-1-{version}",
        occurred_at=w.updated_at,
        service="api",
        version=version,
        maintenance=w,
    )


def test_the_boards_view_follows_the_maintenance_windows_created_and_snapshots(make):
    board = Board(config=make.config(), since=make.t0)
    board.apply(Reset(epoch=0, floor=0))
    first = board.view()
    board.apply(
        Received(make.component(1, ComponentStatus.MAJOR_OUTAGE).model_dump_json().encode(), 1)
    )
    assert board.view() is first  # nothing it holds by value changed: the same view
    assert board.view().status().indicator == "critical"

    board.apply(
        Received(window(make, MaintenanceStatus.SCHEDULED, 2).model_dump_json().encode(), 2)
    )
    assert [w.status for w in board.view().maintenances] == [MaintenanceStatus.SCHEDULED]
    board.apply(
        Received(window(make, MaintenanceStatus.IN_PROGRESS, 3).model_dump_json().encode(), 3)
    )
    assert [w.status for w in board.view().maintenances] == [MaintenanceStatus.IN_PROGRESS]

    board.created = {"api": make.t0 - timedelta(days=3)}
    assert board.view().created_at("api") == make.t0 - timedelta(days=3)

    snapshot = make.status("nodes", 5, component_status=ComponentStatus.DEGRADED_PERFORMANCE)
    board.apply(Reset(epoch=0, floor=3, snapshots={"nodes": snapshot.model_dump_json()}))
    assert board.view().state("nodes").component_status is ComponentStatus.DEGRADED_PERFORMANCE
    assert board.view().group_status("cluster") is ComponentStatus.DEGRADED_PERFORMANCE
    assert [w.status for w in board.view().maintenances] == [MaintenanceStatus.IN_PROGRESS]
