"""The projection: events fold in by version; stale events and older snapshots change nothing."""

from __future__ import annotations

from datetime import timedelta

from herald.shared.events import ComponentStatus, IncidentStatus
from herald.statuspage.projection import Projection, apply_event


def test_opened_sets_the_incident_and_the_component_status(make):
    p = Projection(history_size=3)
    inc = make.incident(component_status=ComponentStatus.MAJOR_OUTAGE)

    assert p.apply(make.opened(1, inc)) is True

    assert p["api"].incident == inc
    assert p["api"].component_status is ComponentStatus.MAJOR_OUTAGE
    assert p["api"].version == 1
    assert p["api"].updated_at == inc.started_at


def test_updated_replaces_the_incident(make):
    p = Projection(history_size=3)
    p.apply(make.opened(1))
    later = make.incident(
        status=IncidentStatus.IDENTIFIED, component_status=ComponentStatus.DEGRADED_PERFORMANCE
    )

    p.apply(make.updated(2, later))

    assert p["api"].incident == later
    assert p["api"].component_status is ComponentStatus.DEGRADED_PERFORMANCE


def test_resolved_moves_the_incident_to_recent_newest_first_and_bounded(make):
    p = Projection(history_size=2)
    version = 0
    for n in range(3):
        version += 1
        p.apply(make.opened(version, make.incident(id=f"inc-{n}")))
        version += 1
        p.apply(make.resolved(version, make.resolved_incident(id=f"inc-{n}")))

    assert p["api"].incident is None
    assert [i.id for i in p["api"].recent] == ["inc-2", "inc-1"]
    assert p["api"].recent[0].status is IncidentStatus.RESOLVED


def test_component_status_changed(make):
    p = Projection(history_size=3)

    p.apply(make.component(1, ComponentStatus.DEGRADED_PERFORMANCE))

    assert p["api"].component_status is ComponentStatus.DEGRADED_PERFORMANCE


def test_stale_and_duplicate_events_are_ignored(make):
    p = Projection(history_size=3)
    p.apply(make.component(5, ComponentStatus.MAJOR_OUTAGE))

    assert p.apply(make.component(5, ComponentStatus.OPERATIONAL)) is False  # duplicate version
    assert p.apply(make.component(3, ComponentStatus.OPERATIONAL)) is False  # older
    assert p.apply(make.opened(4)) is False

    assert p["api"].component_status is ComponentStatus.MAJOR_OUTAGE
    assert p["api"].incident is None
    assert p["api"].version == 5


def test_the_same_event_twice_changes_nothing(make):
    event = make.opened(1)
    once = apply_event(None, event, 3)
    assert once is not None

    assert apply_event(once, event, 3) is None


def test_a_snapshot_replaces_state_only_when_newer(make):
    p = Projection(history_size=3)
    p.apply(make.component(4, ComponentStatus.PARTIAL_OUTAGE))

    older = make.status(version=3, component_status=ComponentStatus.OPERATIONAL)
    assert p.load(older) is False
    assert p["api"].component_status is ComponentStatus.PARTIAL_OUTAGE

    newer = make.status(
        version=7, component_status=ComponentStatus.MAJOR_OUTAGE, incident=make.incident()
    )
    assert p.load(newer) is True
    assert p["api"] == newer

    # an event the snapshot already contains is stale now
    assert p.apply(make.component(6, ComponentStatus.OPERATIONAL)) is False


def test_a_snapshot_recent_list_is_bounded(make):
    p = Projection(history_size=1)
    recent = tuple(make.resolved_incident(id=f"inc-{n}") for n in range(3))

    p.load(make.status(version=1, recent=recent))

    assert [i.id for i in p["api"].recent] == ["inc-0"]


def test_unknown_service_defaults_to_operational(make):
    p = Projection(history_size=3)

    state = p.get_or_default("nodes")

    assert state.component_status is ComponentStatus.OPERATIONAL
    assert state.version == 0
    assert "nodes" not in p


def test_events_carry_event_time(make):
    p = Projection(history_size=3)
    at = make.t0 + timedelta(hours=1)

    p.apply(make.component(1, ComponentStatus.DEGRADED_PERFORMANCE, at=at))

    assert p["api"].updated_at == at


def test_an_internal_incident_is_kept_but_never_changes_the_component(make):
    p = Projection(history_size=3)
    internal = make.incident(public=False, component_status=ComponentStatus.MAJOR_OUTAGE)

    assert p.apply(make.opened(1, internal)) is True

    assert p["api"].incident == internal
    assert p["api"].component_status is ComponentStatus.OPERATIONAL
    assert p["api"].version == 1
