"""The JSON API against a JSON Schema of Statuspage v2 (docs/statuspage-v2.schema.json), its
caching and CORS headers, and the other public documents: incident pages, history, RSS,
badges, languages. In process, no lifespan (no NATS or Redis): the board is filled by hand."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest

from herald.shared.events import (
    ComponentStatus,
    IncidentStatus,
    MaintenanceChanged,
    MaintenanceStatus,
    MaintenanceWindow,
)
from herald.shared.public_page import MaintenanceUpdate
from herald.shared.settings import Settings
from herald.statuspage.app import create_app
from herald.statuspage.maintenance import Window
from herald.statuspage.status import PageView

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "statuspage-v2.schema.json").read_text()
)
EVIL = '<script>alert(1)</script> & "x"'

DOCUMENTS = {
    "summary": "summary",
    "status": "statusDocument",
    "components": "componentsDocument",
    "incidents": "incidentsDocument",
    "incidents/unresolved": "incidentsDocument",
    "scheduled-maintenances": "maintenancesDocument",
    "scheduled-maintenances/upcoming": "maintenancesDocument",
    "scheduled-maintenances/active": "maintenancesDocument",
}


def validate(doc: object, definition: str) -> None:
    schema = {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


@pytest.fixture
def app(make):
    settings = Settings(
        nats_url="nats://127.0.0.1:1",
        redis_url="redis://127.0.0.1:1/0",
        config_path="",
        host="127.0.0.1",
        port=0,
        log_level="INFO",
        log_format="text",
    )
    return create_app(make.config(), settings, clock=lambda: make.t0 + timedelta(hours=1))


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://page") as c:
        yield c


def fill(app, make) -> None:
    """An open incident (changed since it opened), a resolved one, another service degraded."""
    p = app.state.board.projection
    p.apply(make.opened(1, make.incident(id="inc-1", title=EVIL, body=EVIL)))
    p.apply(make.resolved(2, make.resolved_incident(id="inc-1", title=EVIL, body=EVIL)))
    later = make.incident(
        id="inc-2", started_at=make.t0 + timedelta(minutes=40), status=IncidentStatus.IDENTIFIED
    )
    p.apply(make.opened(3, later))
    p.apply(
        make.updated(
            4,
            later.model_copy(
                update={
                    "updated_at": make.t0 + timedelta(minutes=50),
                    "component_status": ComponentStatus.MAJOR_OUTAGE,
                }
            ),
        )
    )
    p.apply(make.component(1, ComponentStatus.DEGRADED_PERFORMANCE, service="nodes"))


@pytest.mark.parametrize("name", list(DOCUMENTS))
async def test_every_endpoint_answers_the_statuspage_v2_shape(app, client, make, name):
    validate((await client.get(f"/api/v2/{name}.json")).json(), DOCUMENTS[name])
    fill(app, make)
    r = await client.get(f"/api/v2/{name}.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    validate(r.json(), DOCUMENTS[name])


def test_maintenance_windows_answer_the_statuspage_shape(make):
    window = Window(
        id="mw-1",
        name="Database upgrade",
        status=MaintenanceStatus.SCHEDULED,
        scheduled_for=make.t0 + timedelta(days=1),
        scheduled_until=make.t0 + timedelta(days=1, hours=2),
        created_at=make.t0,
        updated_at=make.t0,
        services=("api",),
        updates=(
            MaintenanceUpdate("mw-1-u1", MaintenanceStatus.SCHEDULED, "We upgrade.", make.t0),
        ),
    )
    view = PageView(make.config(), {}, make.t0, maintenances=(window,))

    validate(view.upcoming_json(), "maintenancesDocument")
    validate(view.summary_json(), "summary")
    assert [m["id"] for m in view.upcoming_json()["scheduled_maintenances"]] == ["mw-1"]
    assert view.active_json()["scheduled_maintenances"] == []


async def test_incident_updates_are_the_timeline_newest_first(app, client, make):
    fill(app, make)
    every = (await client.get("/api/v2/incidents.json")).json()["incidents"]
    by_id = {i["id"]: i for i in every}

    assert [u["status"] for u in by_id["inc-1"]["incident_updates"]] == [
        "resolved",
        "investigating",
    ]
    opened = by_id["inc-2"]["incident_updates"]
    assert [u["status"] for u in opened] == ["identified", "identified"]
    assert opened[0]["created_at"] == "2024-05-01T12:50:00.000Z"
    assert opened[0]["affected_components"][0]["new_status"] == "major_outage"
    # Stable ids: the same on a second read (and on any replica: built from the incident).
    again = (await client.get("/api/v2/incidents.json")).json()["incidents"]
    assert [u["id"] for i in again for u in i["incident_updates"]] == [
        u["id"] for i in every for u in i["incident_updates"]
    ]


async def test_components_created_at_is_when_they_first_appeared(app, client, make):
    app.state.board.created = {"api": make.t0 - timedelta(days=400)}

    components = {
        c["id"]: c for c in (await client.get("/api/v2/components.json")).json()["components"]
    }

    assert components["api"]["created_at"] == "2023-03-28T12:00:00.000Z"
    assert components["api"]["start_date"] == "2023-03-28"
    # Not known: when this process started.
    assert components["nodes"]["created_at"] == "2024-05-01T13:00:00.000Z"


async def test_etag_and_last_modified_answer_304(app, client, make):
    fill(app, make)
    first = await client.get("/api/v2/summary.json")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert "stale-while-revalidate=" in first.headers["cache-control"]
    assert modified == "Wed, 01 May 2024 12:50:00 GMT"

    again = await client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    since = await client.get("/api/v2/summary.json", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    stale = await client.get("/api/v2/summary.json", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200

    app.state.board.projection.apply(make.component(5, ComponentStatus.OPERATIONAL))
    changed = await client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_cors_is_open_for_get(client):
    r = await client.get("/api/v2/status.json", headers={"Origin": "https://elsewhere.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "ETag" in r.headers["access-control-expose-headers"]
    pre = await client.options(
        "/api/v2/summary.json",
        headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 204
    assert "GET" in pre.headers["access-control-allow-methods"]
    assert "If-None-Match" in pre.headers["access-control-allow-headers"]


async def test_an_incident_has_its_own_page(app, client, make):
    fill(app, make)
    shortlink = (await client.get("/api/v2/incidents.json")).json()["incidents"][0]["shortlink"]
    assert shortlink == "https://status.example.com/incidents/inc-2"

    r = await client.get("/incidents/inc-1")
    assert r.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<script>alert" not in r.text
    assert "This incident has been resolved." in r.text
    # Not in the projection: the stored history would tell, but this app's Redis does not
    # answer, so the page says so (and to retry) rather than "no such incident".
    unknown = await client.get("/incidents/nope")
    assert unknown.status_code == 503
    assert unknown.headers["retry-after"] == "30"
    assert "try again" in unknown.text


async def test_a_maintenance_window_has_its_own_page_at_its_shortlink(app, client, make):
    started = make.t0 + timedelta(minutes=30)
    window = MaintenanceWindow(
        id="mnt-7",
        title=EVIL,
        body=f"We upgrade {EVIL}",
        services=("api", "gone"),
        status=MaintenanceStatus.IN_PROGRESS,
        starts_at=started,
        ends_at=started + timedelta(hours=2),
        created_at=make.t0,
        updated_at=started,
        started_at=started,
    )
    app.state.board.projection.apply(
        MaintenanceChanged(
            event_id="api:9", occurred_at=started, service="api", version=9, maintenance=window
        )
    )
    listed = (await client.get("/api/v2/scheduled-maintenances.json")).json()
    (shortlink,) = [m["shortlink"] for m in listed["scheduled_maintenances"]]
    assert shortlink == "https://status.example.com/incidents/mnt-7"

    r = await client.get("/incidents/mnt-7")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in r.text
    assert (
        '<h1 class="title">&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;</h1>' in r.text
    )
    assert "In progress" in r.text
    assert "Payments API" in r.text
    assert ">2024-05-01 12:30 UTC</time> to <time" in r.text.replace("\n", "")
    assert "The maintenance is in progress." in r.text
    assert "We upgrade &lt;script&gt;" in r.text
    german = await client.get("/incidents/mnt-7", headers={"Accept-Language": "de"})
    assert '<html lang="de">' in german.text
    assert "Geplante Wartung" in german.text
    # The page's list links each window to it.
    assert 'href="/incidents/mnt-7"' in (await client.get("/")).text


async def test_a_verifying_window_shows_as_verifying_with_its_update(app, client, make):
    """`herald maintenance verify`: the window's status in the Statuspage v2 documents is
    `verifying`, it is still active (under way), and its page and updates show what the
    verify said, newest first."""
    started = make.t0 + timedelta(minutes=30)
    checked = started + timedelta(minutes=20)
    window = MaintenanceWindow(
        id="mnt-8",
        title="Database upgrade",
        body="Writes pause for a minute.",
        services=("api",),
        status=MaintenanceStatus.VERIFYING,
        starts_at=started,
        ends_at=started + timedelta(hours=2),
        created_at=make.t0,
        updated_at=checked,
        started_at=started,
        verifying_at=checked,
        verifying_body="Upgrade done; checking the replicas.",
    )
    app.state.board.projection.apply(
        MaintenanceChanged(
            event_id="api:9", occurred_at=checked, service="api", version=9, maintenance=window
        )
    )
    for path in ("scheduled-maintenances", "scheduled-maintenances/active", "summary"):
        doc = (await client.get(f"/api/v2/{path}.json")).json()
        validate(doc, DOCUMENTS[path])
        (listed,) = doc["scheduled_maintenances"]
        assert (listed["id"], listed["status"]) == ("mnt-8", "verifying")
        assert listed["resolved_at"] is None
    assert (await client.get("/api/v2/scheduled-maintenances/upcoming.json")).json()[
        "scheduled_maintenances"
    ] == []
    updates = listed["incident_updates"]
    assert [u["id"] for u in updates] == ["mnt-8-verifying", "mnt-8-in_progress", "mnt-8-scheduled"]
    assert updates[0]["status"] == "verifying"
    assert updates[0]["body"] == "Upgrade done; checking the replicas."
    page = await client.get("/incidents/mnt-8")
    assert page.status_code == 200
    assert "Verifying" in page.text
    assert "Upgrade done; checking the replicas." in page.text


async def test_history_lists_months_and_pages(app, client, make):
    fill(app, make)
    r = await client.get("/history")
    assert r.status_code == 200
    assert ">2024-05<" in r.text
    assert ">2024-03<" in r.text
    assert 'href="/incidents/inc-1"' in r.text
    older = await client.get("/history?page=1")
    assert ">2024-02<" in older.text
    assert "No incidents in this period." in older.text
    assert (await client.get("/history?page=x")).status_code == 400
    assert (await client.get("/history?page=999")).status_code == 404


async def test_rss_and_atom_carry_the_updates_escaped(app, client, make):
    fill(app, make)
    rss = await client.get("/feed.rss")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    items = ET.fromstring(rss.content).findall("./channel/item")  # noqa: S314 (our own output)
    assert {i.findtext("title") for i in items} >= {f"[Resolved] {EVIL}"}
    assert any(
        "This incident has been resolved." in (i.findtext("description") or "") for i in items
    )
    atom = await client.get("/feed.atom")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    links = [e.get("href") for e in ET.fromstring(atom.content).findall("./a:entry/a:link", ns)]  # noqa: S314
    assert "https://status.example.com/incidents/inc-1" in links


async def test_badges_overall_and_per_component(app, client, make):
    fill(app, make)
    overall = await client.get("/badge.svg")
    assert overall.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(overall.content)  # noqa: S314 (our own output)
    assert svg.findtext("{http://www.w3.org/2000/svg}title") == "status: Major System Outage"
    nodes = await client.get("/badge.svg", params={"component": "nodes"})
    assert "Nodes: Degraded Performance" in nodes.text
    assert "<script" not in nodes.text
    assert (await client.get("/badge.svg", params={"component": "nope"})).status_code == 404


async def test_the_page_speaks_the_readers_language(client):
    german = await client.get("/", headers={"Accept-Language": "fr;q=0.9, de-CH;q=0.8"})
    assert '<html lang="de">' in german.text
    assert "Alle Systeme betriebsbereit" in german.text
    assert german.headers["content-language"] == "de"
    assert "Accept-Language" in german.headers["vary"]
    english = await client.get("/", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in english.text
    assert "All Systems Operational" in english.text


async def test_the_page_has_uptime_bars_with_text_and_a_live_region(app, client, make):
    fill(app, make)
    app.state.board.created = dict.fromkeys(
        ("api", "nodes", "deployments"), make.t0 - timedelta(days=100)
    )
    html = (await client.get("/")).text
    assert html.count('class="bar bar-') == 90 * 3
    assert "2024-05-01: Major Outage" in html  # the open incident's day, in words
    assert 'aria-live="polite"' in html
    assert 'id="reconnecting"' in html
    assert "<noscript>" in html
