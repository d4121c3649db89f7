"""The message handler: INCIDENTS messages in, projection changes and SSE events out."""

from __future__ import annotations

import json

from herald.shared.events import ComponentStatus
from herald.statuspage.app import Board


def board(make) -> Board:
    return Board(config=make.config(), since=make.t0)


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
    b = board(make)
    b.start_at(10)

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
    b = board(make)
    good = make.status(service="nodes", version=2, component_status=ComponentStatus.PARTIAL_OUTAGE)

    b.load({"api": b"not json", "nodes": good.model_dump_json(), "deployments": None})

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
