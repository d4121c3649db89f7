"""The page roll-up and the Statuspage v2 shapes, from plain values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from herald.shared.events import ComponentStatus, Impact, IncidentStatus
from herald.shared.public_page import iso
from herald.statuspage.projection import Projection
from herald.statuspage.status import PageView, layout, rollup

C = ComponentStatus


@pytest.mark.parametrize(
    ("statuses", "impacts", "indicator", "description"),
    [
        ([], [], "none", "All Systems Operational"),
        ([C.OPERATIONAL, C.OPERATIONAL], [], "none", "All Systems Operational"),
        ([C.OPERATIONAL, C.DEGRADED_PERFORMANCE], [], "minor", "Partially Degraded Service"),
        ([C.DEGRADED_PERFORMANCE], [Impact.MINOR], "minor", "Minor Service Outage"),
        ([C.OPERATIONAL], [Impact.MINOR], "minor", "Minor Service Outage"),
        ([C.PARTIAL_OUTAGE, C.DEGRADED_PERFORMANCE], [], "major", "Partial System Outage"),
        ([C.MAJOR_OUTAGE, C.PARTIAL_OUTAGE], [Impact.MINOR], "critical", "Major System Outage"),
        ([C.OPERATIONAL], [Impact.CRITICAL], "critical", "Major System Outage"),
        ([C.UNDER_MAINTENANCE, C.OPERATIONAL], [], "maintenance", "Service Under Maintenance"),
        ([C.UNDER_MAINTENANCE, C.DEGRADED_PERFORMANCE], [], "minor", "Partially Degraded Service"),
        ([C.OPERATIONAL], [Impact.NONE], "none", "All Systems Operational"),
    ],
)
def test_rollup(statuses, impacts, indicator, description):
    status = rollup(statuses, impacts)

    assert (status.indicator, status.description) == (indicator, description)


def test_layout_puts_ungrouped_services_first_and_skips_empty_groups(make):
    rows = layout(make.config())

    assert [(r.id, r.is_group, r.children) for r in rows] == [
        ("api", False, ()),
        ("cluster", True, ("nodes", "deployments")),
    ]


def view(make, projection=None):
    return PageView(make.config(), projection or Projection(3), since=make.t0)


def test_summary_of_an_all_operational_page(make):
    doc = view(make).summary_json()

    assert doc["page"] == {
        "id": doc["page"]["id"],
        "name": "Acme Status",
        "url": "https://status.example.com",
        "time_zone": "Etc/UTC",
        "updated_at": "2024-05-01T12:00:00.000Z",
    }
    assert len(doc["page"]["id"]) == 12
    assert doc["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert doc["incidents"] == []
    assert doc["scheduled_maintenances"] == []
    assert [(c["id"], c["group"], c["position"]) for c in doc["components"]] == [
        ("api", False, 1),
        ("cluster", True, 2),
        ("nodes", False, 3),
        ("deployments", False, 4),
    ]
    api = doc["components"][0]
    assert api == {
        "id": "api",
        "name": "Payments API",
        "status": "operational",
        "created_at": "2024-05-01T12:00:00.000Z",
        "updated_at": "2024-05-01T12:00:00.000Z",
        "position": 1,
        "description": "Card payments.",
        "showcase": True,
        "start_date": "2024-05-01",
        "group_id": None,
        "page_id": doc["page"]["id"],
        "group": False,
        "only_show_if_degraded": False,
    }
    cluster = doc["components"][1]
    assert cluster["components"] == ["nodes", "deployments"]
    assert doc["components"][2]["group_id"] == "cluster"


def test_summary_with_an_open_incident(make):
    p = Projection(3)
    inc = make.incident(service="nodes", component_status=C.MAJOR_OUTAGE, impact=Impact.CRITICAL)
    p.apply(make.opened(1, inc))

    doc = view(make, p).summary_json()

    assert doc["status"] == {"indicator": "critical", "description": "Major System Outage"}
    by_id = {c["id"]: c for c in doc["components"]}
    assert by_id["nodes"]["status"] == "major_outage"
    assert by_id["cluster"]["status"] == "major_outage"  # a group shows its worst child
    assert by_id["deployments"]["status"] == "operational"
    [incident] = doc["incidents"]
    assert incident["id"] == "inc-1"
    assert incident["name"] == "Payments failing"
    assert incident["status"] == "investigating"
    assert incident["impact"] == "critical"
    assert incident["resolved_at"] is None
    assert incident["monitoring_at"] is None
    assert incident["started_at"] == iso(make.t0)
    # The incident's own page (Statuspage's shortlink is the incident's permalink).
    assert incident["shortlink"] == "https://status.example.com/incidents/inc-1"
    assert incident["page_id"] == doc["page"]["id"]
    assert [c["id"] for c in incident["components"]] == ["nodes"]
    [update] = incident["incident_updates"]
    assert set(update) == {
        "id",
        "status",
        "body",
        "incident_id",
        "created_at",
        "updated_at",
        "display_at",
        "affected_components",
        "deliver_notifications",
        "custom_tweet",
        "tweet_id",
    }
    assert update["body"] == "Card payments return 500."
    assert update["incident_id"] == "inc-1"
    assert update["affected_components"][0]["new_status"] == "major_outage"


def test_resolved_incidents_are_listed_in_incidents_json_only(make):
    p = Projection(3)
    p.apply(make.opened(1))
    p.apply(make.resolved(2))
    p.apply(make.opened(3, make.incident(id="inc-2")))

    v = view(make, p)

    assert [i["id"] for i in v.summary_json()["incidents"]] == ["inc-2"]
    assert [i["id"] for i in v.unresolved_json()["incidents"]] == ["inc-2"]
    every = v.incidents_json()["incidents"]
    assert [i["id"] for i in every] == ["inc-2", "inc-1"]
    resolved = every[1]
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert [u["status"] for u in resolved["incident_updates"]] == ["resolved", "investigating"]


def test_incidents_of_services_not_on_the_page_are_not_shown(make):
    p = Projection(3)
    p.apply(make.opened(1, make.incident(service="_unrouted", impact=Impact.CRITICAL)))

    doc = view(make, p).summary_json()

    assert doc["incidents"] == []
    assert doc["status"]["indicator"] == "none"


def test_status_and_components_documents(make):
    v = view(make)

    assert set(v.status_json()) == {"page", "status"}
    assert set(v.components_json()) == {"page", "components"}


def test_change_payload(make):
    p = Projection(3)
    inc = make.incident(service="nodes", status=IncidentStatus.IDENTIFIED)
    p.apply(make.opened(4, inc))

    doc = view(make, p).change_json("incident.opened", "nodes")

    assert doc["kind"] == "incident.opened"
    assert doc["service"] == "nodes"
    assert doc["version"] == 4
    assert doc["component"]["id"] == "nodes"
    assert doc["component"]["status"] == "partial_outage"
    assert doc["group"]["id"] == "cluster"
    assert doc["incident"]["id"] == "inc-1"
    assert doc["status"] == {"indicator": "major", "description": "Partial System Outage"}


def test_change_payload_after_resolution_lists_the_services_recent_incidents(make):
    p = Projection(2)
    for n in range(3):  # three incidents opened and resolved: the page keeps the last two
        opened = make.incident(id=f"inc-{n}", started_at=make.t0 + timedelta(hours=n))
        p.apply(make.opened(2 * n + 1, opened))
        p.apply(make.resolved(2 * n + 2, make.resolved_incident(id=f"inc-{n}")))
    p.apply(make.opened(7, make.incident(id="inc-hidden", public=False)))
    p.apply(make.resolved(8, make.resolved_incident(id="inc-hidden", public=False)))

    doc = view(make, p).change_json("incident.resolved", "api")

    assert doc["incident"] is None  # nothing open
    # What the server-rendered page lists for the service, bounded by history_size, newest
    # first; internal incidents never.
    assert [(i["id"], i["status"]) for i in doc["recent"]] == [("inc-2", "resolved")]
    assert doc["recent"] == view(make, p).snapshot_json()["resolved"]


def test_a_resolved_incident_still_says_what_the_component_went_through(make):
    # Contract with the correlator: a resolved incident keeps, in `component_status`, the status
    # the component had while the incident was open (its worst), not "operational".
    resolved = make.resolved_incident(component_status=ComponentStatus.MAJOR_OUTAGE)
    assert resolved.status is IncidentStatus.RESOLVED
    view_ = PageView(make.config(), {}, make.t0)

    doc = view_.incident(resolved)
    opened_update = doc["incident_updates"][-1]
    resolved_update = doc["incident_updates"][0]

    # Statuspage's incident_updates[].affected_components say old -> new per update.
    assert [u["status"] for u in doc["incident_updates"]] == ["resolved", "investigating"]
    assert opened_update["affected_components"][0]["old_status"] == "operational"
    assert opened_update["affected_components"][0]["new_status"] == "major_outage"
    assert resolved_update["affected_components"][0]["old_status"] == "major_outage"
    assert resolved_update["affected_components"][0]["new_status"] == "operational"


def test_internal_incidents_are_not_on_the_page(make):
    p = Projection(3)
    p.apply(make.opened(1, make.incident(id="old", public=False)))
    p.apply(make.resolved(2, make.resolved_incident(id="old", public=False)))
    p.apply(make.opened(3, make.incident(id="now", public=False, impact=Impact.CRITICAL)))

    v = view(make, p)

    assert v.summary_json()["incidents"] == []
    assert v.incidents_json()["incidents"] == []
    assert v.status().indicator == "none"
    assert v.change_json("incident.opened", "api")["incident"] is None


def test_only_a_resolve_carries_the_resolved_list(make):
    """Other kinds leave `recent` out (the client keeps its list): rendering every resolved
    incident into every push made each one several times larger (bench/latency.py)."""
    p = Projection(history_size=5)
    p.apply(make.opened(1, make.incident(id="inc-1")))
    p.apply(make.resolved(2, make.resolved_incident(id="inc-1")))
    p.apply(make.opened(3, make.incident(id="inc-2")))
    for kind in ("incident.opened", "incident.updated", "component.status_changed"):
        assert "recent" not in view(make, p).change_json(kind, "api"), kind
    resolved = view(make, p).change_json("incident.resolved", "api")
    assert [i["id"] for i in resolved["recent"]] == ["inc-1"]


def test_an_incident_only_internal_alerts_keep_open_shows_resolved(make):
    """The banner, the indicator and the incident come from public alerts only: once none
    fires, the page shows the incident resolved while it stays open (and paged) internally."""
    from herald.shared.events import TimelineEntry

    t0 = make.t0
    internal = TimelineEntry(at=t0, status=IncidentStatus.INVESTIGATING, body="Db.", public=False)
    done = TimelineEntry(at=t0 + timedelta(minutes=5), status=IncidentStatus.RESOLVED, body="Ok.")
    open_inc = make.incident(impact=Impact.CRITICAL, component_status=C.OPERATIONAL).model_copy(
        update={
            "public_status": IncidentStatus.RESOLVED,
            "public_resolved_at": t0 + timedelta(minutes=5),
            "timeline": (
                TimelineEntry(at=t0, status=IncidentStatus.INVESTIGATING, body="Api."),
                internal,
                done,
            ),
        }
    )
    projection = Projection(3)
    projection.apply(make.opened(1, open_inc))
    doc = view(make, projection).summary_json()
    assert doc["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert doc["incidents"] == []
    (listed,) = view(make, projection).incidents_json()["incidents"]
    assert listed["status"] == "resolved"
    assert listed["resolved_at"] == iso(t0 + timedelta(minutes=5))
    assert [u["body"] for u in listed["incident_updates"]] == ["Ok.", "Card payments return 500."]
    change = view(make, projection).change_json("incident.updated", "api")
    assert change["incident"] is None
    assert [i["id"] for i in change["recent"]] == [open_inc.id]


def test_a_reopened_incident_leaves_the_recently_resolved(make):
    projection = Projection(3)
    projection.apply(make.resolved(1))
    projection.apply(make.updated(2, make.incident()))
    assert projection["api"].recent == ()
    assert [i["id"] for i in view(make, projection).summary_json()["incidents"]] == ["inc-1"]
