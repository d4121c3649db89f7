"""The board, a fold over the subscription's items: a Reset (the Redis snapshots) or a Received
INCIDENTS message in, projection changes and SSE events out."""

from __future__ import annotations

import json
from datetime import timedelta

from herald.shared.events import (
    ComponentStatus,
    Impact,
    IncidentStatus,
    MaintenanceChanged,
    MaintenanceStatus,
    MaintenanceWindow,
)
from herald.statuspage.board import Board, Received, Reset
from herald.statuspage.page import Reader, render_page
from herald.statuspage.sse import EventId

HISTORY_0 = """
page:
  title: Acme Status
  url: https://status.example.com
  history_size: 0
services:
  api:
    name: Payments API
"""


def board(make, *, loaded: bool = True) -> Board:
    """A board; `loaded`: its first Reset (no snapshots) was folded in."""
    b = Board(config=make.config(), since=make.t0)
    if loaded:
        b.apply(Reset(epoch=0, floor=0))
    return b


def message(event, seq: int) -> Received:
    return Received(event.model_dump_json().encode(), seq)


def test_a_message_becomes_an_sse_event_with_its_stream_sequence(make):
    b = board(make)
    event = make.component(1, ComponentStatus.DEGRADED_PERFORMANCE)

    sse = b.receive(event.model_dump_json().encode(), seq=42)

    assert sse is not None
    assert (sse.id, sse.event) == (42, "component.status_changed")
    data = json.loads(sse.data)
    assert data["component"]["status"] == "degraded_performance"
    assert b.projection["api"].version == 1
    assert b.fanout.buffer.last_id == 42


def test_redeliveries_are_skipped(make):
    b = board(make, loaded=False)
    b.apply(Reset(epoch=0, floor=10))

    assert (
        b.receive(
            make.component(1, ComponentStatus.MAJOR_OUTAGE).model_dump_json().encode(), seq=10
        )
        is None
    )
    assert "api" not in b.projection
    assert (
        b.receive(
            make.component(1, ComponentStatus.MAJOR_OUTAGE).model_dump_json().encode(), seq=11
        )
        is not None
    )
    assert (
        b.receive(make.component(2, ComponentStatus.OPERATIONAL).model_dump_json().encode(), seq=11)
        is None
    )
    assert b.projection["api"].component_status is ComponentStatus.MAJOR_OUTAGE


def test_invalid_messages_and_other_services_are_not_pushed(make):
    b = board(make)

    assert b.receive(b'{"kind": "nope"}', seq=1) is None
    other = make.component(1, ComponentStatus.MAJOR_OUTAGE, service="_unrouted")
    assert b.receive(other.model_dump_json().encode(), seq=2) is None
    assert b.fanout.buffer.since(0) == []


def test_invalid_snapshots_are_skipped(make):
    b = board(make, loaded=False)
    good = make.status(service="nodes", version=2, component_status=ComponentStatus.PARTIAL_OUTAGE)

    b.apply(Reset(0, 0, {"api": b"not json", "nodes": good.model_dump_json(), "deployments": None}))

    assert b.snapshot_loaded
    assert "api" not in b.projection
    assert b.projection["nodes"] == good


def test_internal_incidents_are_not_pushed(make):
    b = board(make)
    internal = make.incident(public=False, title="db-7 disk full (internal)")

    assert b.receive(make.opened(1, internal).model_dump_json().encode(), seq=1) is None

    assert b.projection["api"].version == 1
    assert b.fanout.buffer.since(0) == []
    public = make.incident(public=True, title="Payments slow")
    sse = b.receive(make.updated(2, public).model_dump_json().encode(), seq=2)
    assert sse is not None
    assert json.loads(sse.data)["incident"]["name"] == "Payments slow"


def test_an_open_incident_survives_a_replay_that_arrives_before_the_snapshot(make):
    # At start-up the replayed messages are delivered while the snapshots are read from Redis:
    # folded onto nothing, they would reach the snapshot's version from partial history and
    # the snapshot would be dropped as "not newer".
    b = board(make, loaded=False)
    # last_seq 2000, replay 1000: messages 1001..2000 are replayed
    # The incident was opened at v10 (seq 500, before the window) and escalated at v11 (seq
    # 1000, the window's floor). The window only holds the component change at v12.
    incident = make.incident(component_status=ComponentStatus.MAJOR_OUTAGE, impact=Impact.CRITICAL)
    stored = make.status(
        version=12,
        component_status=ComponentStatus.MAJOR_OUTAGE,
        incident=incident,
        updated_at=make.t0,
    )
    change = make.component(
        12, ComponentStatus.MAJOR_OUTAGE, previous=ComponentStatus.PARTIAL_OUTAGE
    )

    # Replayed while Redis answers: the subscription yields it after the snapshots' Reset.
    b.apply(Reset(0, 1000, {"api": stored.model_dump_json()}))
    b.apply(message(change, 1500))

    assert b.projection["api"].incident == incident
    assert [i["id"] for i in b.view().summary_json()["incidents"]] == [incident.id]


def test_resolved_history_survives_a_replay_that_arrives_before_the_snapshot(make):
    b = board(make, loaded=False)
    older = make.resolved_incident(id="inc-old")
    newest = make.incident(id="inc-new", started_at=make.t0 + timedelta(hours=2))
    newest_resolved = newest.model_copy(
        update={
            "status": IncidentStatus.RESOLVED,
            "resolved_at": make.t0 + timedelta(hours=3),
            "updated_at": make.t0 + timedelta(hours=3),
        }
    )
    stored = make.status(version=21, recent=(newest_resolved, older), updated_at=make.t0)

    b.apply(Reset(0, 1000, {"api": stored.model_dump_json()}))
    b.apply(message(make.opened(20, newest), 1800))
    b.apply(message(make.resolved(21, newest_resolved), 1801))

    assert [i.id for i in b.projection["api"].recent] == ["inc-new", "inc-old"]


def test_messages_after_the_reset_are_folded_in_on_top_of_the_snapshots_and_pushed(make):
    # What the subscription received while Redis answered comes after the Reset.
    b = board(make, loaded=False)
    incident = make.incident(component_status=ComponentStatus.PARTIAL_OUTAGE)
    stored = make.status(
        version=2, component_status=ComponentStatus.PARTIAL_OUTAGE, incident=incident
    )

    stale = make.component(2, ComponentStatus.PARTIAL_OUTAGE)  # already in the snapshot
    newer = make.component(3, ComponentStatus.MAJOR_OUTAGE, previous=ComponentStatus.PARTIAL_OUTAGE)
    b.apply(Reset(0, 10, {"api": stored.model_dump_json()}))
    assert b.fanout.buffer.since(10) == []
    b.apply(message(stale, 11))
    b.apply(message(newer, 12))
    assert b.apply(message(newer, 12)) is None  # a redelivery

    state = b.projection["api"]
    assert (state.version, state.incident, state.component_status) == (
        3,
        incident,
        ComponentStatus.MAJOR_OUTAGE,
    )
    pushed = b.fanout.buffer.since(10)
    assert pushed is not None
    assert [e.id for e in pushed] == [11, 12]
    # Built on top of the snapshot: the open incident is in every payload.
    assert [json.loads(e.data)["incident"]["id"] for e in pushed] == [incident.id, incident.id]


def test_a_resolve_pushes_the_services_recent_incidents_as_the_page_shows_them(make):
    b = board(make)
    b.receive(make.opened(1).model_dump_json().encode(), seq=1)
    sse = b.receive(make.resolved(2).model_dump_json().encode(), seq=2)

    assert sse is not None
    pushed = json.loads(sse.data)
    assert pushed["incident"] is None  # nothing open any more
    assert [(i["id"], i["status"]) for i in pushed["recent"]] == [("inc-1", "resolved")]
    assert pushed["recent"] == b.view().snapshot_json()["resolved"]


def test_history_size_0_a_resolved_incident_is_not_pushed_into_the_resolved_list(make):
    # history_size 0 (allowed by the schema): the page keeps no resolved incident. What an open
    # browser is pushed must agree with what a reload (or a page without JS) shows.
    b = Board(config=make.config(HISTORY_0), since=make.t0)
    b.apply(Reset(0, 0))
    b.receive(make.opened(1).model_dump_json().encode(), seq=1)
    sse = b.receive(make.resolved(2).model_dump_json().encode(), seq=2)
    assert sse is not None
    pushed = json.loads(sse.data)

    html = render_page(b.templates, b.view())
    assert "No recent incidents." in html
    assert 'id="no-resolved" class="empty" hidden' not in html
    assert b.view().snapshot_json()["resolved"] == []
    assert pushed["incident"] is None or pushed["incident"]["status"] != "resolved"
    assert pushed["recent"] == []


def test_after_a_restart_sequences_start_over_and_browsers_get_the_page_again(make):
    b = board(make)
    first = make.component(1, ComponentStatus.DEGRADED_PERFORMANCE)
    assert b.receive(first.model_dump_json().encode(), seq=5) is not None
    client = b.fanout.connect(EventId(b.fanout.epoch, 5), b.snapshot_event)
    assert client.pending is not None
    client.pending.popleft()  # the retry hint; nothing was missed since 5
    lost = make.status(version=2, component_status=ComponentStatus.MAJOR_OUTAGE)
    later = make.component(3, ComponentStatus.PARTIAL_OUTAGE, previous=ComponentStatus.MAJOR_OUTAGE)

    # The INCIDENTS stream was re-created: a Reset with what the old stream had and we never
    # received, then the new stream from its start.
    b.apply(Reset(b.fanout.epoch + 1, 0, {"api": lost.model_dump_json()}))
    assert b.apply(message(later, 1)) is not None  # not taken for a redelivery

    resync = client.pending.popleft().event
    assert resync is not None
    assert (resync.id, resync.event) == (0, "snapshot")
    components = {c["id"]: c["status"] for c in json.loads(resync.data)["components"]}
    assert components["api"] == "major_outage"
    change = client.pending.popleft().event
    assert change is not None
    assert change.id == 1
    assert json.loads(change.data)["component"]["status"] == "partial_outage"
    assert b.highest_seq == 1
    assert b.fanout.buffer.since(5) is None  # an old id resumes with a snapshot


def test_a_resumed_id_of_the_old_epoch_gets_a_snapshot(make):
    b = board(make)
    b.apply(message(make.component(1, ComponentStatus.DEGRADED_PERFORMANCE), 5))
    old = b.fanout.epoch

    b.apply(Reset(old + 1, 0))

    client = b.fanout.connect(EventId(old, 5), b.snapshot_event)
    assert client.pending is not None
    kinds = [f.event.event for f in client.pending if f.event is not None]
    assert kinds == ["snapshot"]


def clocked(make, now) -> Board:
    """A board whose page started two days before t0, at `now` on its clock."""
    b = Board(config=make.config(), since=make.t0 - timedelta(days=2), clock=lambda: now)
    b.apply(Reset(epoch=0, floor=0))
    return b


def test_a_pushed_change_carries_the_uptime_bars_from_its_day_to_today(make):
    now = make.t0 + timedelta(hours=1)
    b = clocked(make, now)

    sse = b.apply(message(make.component(1, ComponentStatus.MAJOR_OUTAGE), 1))

    assert sse is not None
    bars = json.loads(sse.data)["bars"]
    assert bars["from"] == make.t0.date().isoformat()
    assert bars["days"] == [["major_outage", 1]]  # today's bar follows the component
    assert bars["count"] == 90
    assert bars["percent"] is not None
    assert bars["percent"] != "100.00%"
    # What the server-rendered page shows for today, live.
    html = render_page(b.templates, b.view(), Reader("en", now))
    assert f'data-date="{make.t0.date()}" title="{make.t0.date()}: Major Outage"' in html


def test_a_late_change_sends_every_day_it_alters(make):
    now = make.t0 + timedelta(days=1)
    b = clocked(make, now)

    sse = b.apply(message(make.component(1, ComponentStatus.PARTIAL_OUTAGE, at=make.t0), 1))

    assert sse is not None
    bars = json.loads(sse.data)["bars"]
    assert bars["from"] == make.t0.date().isoformat()
    assert bars["days"] == [["partial_outage", 2]]  # that day and today


def test_the_snapshot_carries_every_services_bars_and_the_maintenance_list(make):
    b = clocked(make, make.t0 + timedelta(minutes=1))
    b.apply(message(make.component(1, ComponentStatus.DEGRADED_PERFORMANCE), 1))

    doc = json.loads(b.snapshot_event(1).data)

    assert set(doc["bars"]) == set(make.config().services)
    assert doc["bars"]["api"]["days"][-1] == ["degraded_performance", 1]
    assert doc["maintenances"] == []


def test_only_a_maintenance_change_carries_the_maintenance_list(make):
    b = clocked(make, make.t0)
    window = MaintenanceWindow(
        id="mnt-1",
        title="Database upgrade",
        services=("api",),
        status=MaintenanceStatus.SCHEDULED,
        starts_at=make.t0 + timedelta(hours=2),
        ends_at=make.t0 + timedelta(hours=3),
        created_at=make.t0,
        updated_at=make.t0,
    )
    event = MaintenanceChanged(
        event_id="api:2", occurred_at=make.t0, service="api", version=2, maintenance=window
    )
    other = b.apply(message(make.component(1, ComponentStatus.DEGRADED_PERFORMANCE), 1))
    sse = b.apply(message(event, 2))

    assert other is not None
    assert "maintenances" not in json.loads(other.data)
    assert sse is not None
    (listed,) = json.loads(sse.data)["maintenances"]
    assert (listed["id"], listed["name"], listed["status"]) == (
        "mnt-1",
        "Database upgrade",
        "scheduled",
    )
    assert listed == b.view().upcoming_json()["scheduled_maintenances"][0]


def test_a_window_that_is_over_leaves_the_list_but_stays_in_completed(make):
    """A window's own page follows it to the end: completed or cancelled, the maintenance
    event and the snapshot still carry it (in `completed`), out of the page's list."""
    b = clocked(make, make.t0)
    scheduled = MaintenanceWindow(
        id="mnt-1",
        title="Database upgrade",
        services=("api",),
        status=MaintenanceStatus.SCHEDULED,
        starts_at=make.t0 + timedelta(hours=2),
        ends_at=make.t0 + timedelta(hours=3),
        created_at=make.t0,
        updated_at=make.t0,
    )
    cancelled = scheduled.model_copy(
        update={
            "status": MaintenanceStatus.COMPLETED,
            "cancelled": True,
            "completed_at": make.t0 + timedelta(minutes=5),
            "updated_at": make.t0 + timedelta(minutes=5),
        }
    )
    for version, window in ((1, scheduled), (2, cancelled)):
        event = MaintenanceChanged(
            event_id=f"api:{version}",
            occurred_at=window.updated_at,
            service="api",
            version=version,
            maintenance=window,
        )
        sse = b.apply(message(event, version))
        assert sse is not None
        doc = json.loads(sse.data)
        if version == 1:
            assert [m["id"] for m in doc["maintenances"]] == ["mnt-1"]
            assert doc["completed"] == []

    assert doc["maintenances"] == []
    (over,) = doc["completed"]
    assert (over["id"], over["status"]) == ("mnt-1", "completed")
    assert [u["status"] for u in over["incident_updates"]] == ["completed", "scheduled"]
    assert "cancelled" in over["incident_updates"][0]["body"]
    snapshot = json.loads(b.snapshot_event(2).data)
    assert (snapshot["maintenances"], snapshot["completed"]) == ([], [over])
