"""The HTML page, the Atom feed and the security headers (no NATS or Redis: lifespan not run)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from herald.shared.events import ComponentStatus
from herald.shared.security import CONTENT_SECURITY_POLICY
from herald.shared.settings import Settings
from herald.statuspage.app import create_app
from tests.asgi import internal

EVIL = "<script>alert(1)</script>"


SETTINGS = Settings(
    nats_url="nats://127.0.0.1:1",
    redis_url="redis://127.0.0.1:1/0",
    config_path="",
    host="127.0.0.1",
    port=0,
    log_level="INFO",
    log_format="text",
)


@pytest.fixture
def app(make):
    return create_app(make.config(), SETTINGS, clock=lambda: make.t0)


@pytest.fixture
async def client(app):
    # httpx's ASGI transport does not run the lifespan: no NATS, no Redis here.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://page") as c:
        yield c


async def test_page_shows_every_service_in_words_grouped(client):
    r = await client.get("/")

    assert r.status_code == 200
    html = r.text
    assert "<title>Acme Status</title>" in html
    assert "All Systems Operational" in html
    assert html.index("Payments API") < html.index("Kubernetes cluster") < html.index("Nodes")
    assert html.count(">Operational</span>") == 4  # 3 services + 1 group
    assert "No open incidents." in html


async def test_page_shows_an_open_incident_and_colours_in_words(app, client, make):
    board = app.state.board
    board.projection.apply(
        make.opened(
            1, make.incident(service="nodes", component_status=ComponentStatus.MAJOR_OUTAGE)
        )
    )

    html = (await client.get("/")).text

    assert "Major System Outage" in html  # component major_outage -> indicator critical
    assert "Major Outage" in html
    assert 'class="status status-major_outage"' in html
    assert "Payments failing" in html
    assert '<time class="started" datetime="2024-05-01T12:00:00.000Z">' in html


async def test_annotations_are_text_never_html(app, client, make):
    board = app.state.board
    board.projection.apply(make.opened(1, make.incident(title=EVIL, body=f'"quoted" & {EVIL}')))
    board.projection.apply(make.opened(2, make.incident(id="inc-0", title=EVIL, body=EVIL)))
    board.projection.apply(make.resolved(3, make.resolved_incident(id="inc-0", title=EVIL)))
    board.projection.apply(make.opened(4, make.incident(title=EVIL, body=f'"quoted" & {EVIL}')))

    r = await client.get("/")

    assert EVIL not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "&#34;quoted&#34; &amp; " in r.text
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<script>" not in r.text.replace('<script src="/static/live.js" defer></script>', "")
    assert "style=" not in r.text


async def test_every_response_has_the_security_headers(client):
    for path in ("/", "/api/v2/summary.json", "/static/live.js", "/healthz", "/nope"):
        r = await client.get(path)
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path


async def test_static_assets_have_the_right_types(client):
    js = await client.get("/static/live.js")
    css = await client.get("/static/style.css")

    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert "innerHTML" not in js.text
    assert "EventSource" in js.text
    assert css.headers["content-type"].startswith("text/css")


async def test_api_documents(app, client, make):
    app.state.board.projection.apply(make.opened(1))

    summary = (await client.get("/api/v2/summary.json")).json()
    assert summary["status"]["indicator"] == "major"
    assert [i["id"] for i in summary["incidents"]] == ["inc-1"]
    assert (await client.get("/api/v2/status.json")).json()["status"] == summary["status"]
    assert len((await client.get("/api/v2/components.json")).json()["components"]) == 4
    assert len((await client.get("/api/v2/incidents.json")).json()["incidents"]) == 1
    assert len((await client.get("/api/v2/incidents/unresolved.json")).json()["incidents"]) == 1
    assert (await client.get("/api/v2/summary.json")).headers["access-control-allow-origin"] == "*"


async def test_atom_feed_escapes_and_parses(app, client, make):
    app.state.board.projection.apply(make.opened(1, make.incident(title=EVIL)))

    r = await client.get("/feed.atom")

    assert r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)  # noqa: S314 (our own output, under test)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert titles == [EVIL]  # text in the XML, escaped on the wire
    assert EVIL not in r.text


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\x08", "\x0c", "\ufffe", "\uffff", "\ud800"])
async def test_a_control_character_in_an_annotation_keeps_the_feed_well_formed(
    app, client, make, char
):
    # An annotation such as "disk \x1b[31mfull\x1b[0m" (ANSI colours pasted from a terminal) or
    # a form feed: valid JSON from Alertmanager, but not allowed anywhere in XML 1.0, escaped
    # or not. One such incident must not make the whole feed unparseable for every reader.
    app.state.board.projection.apply(
        make.opened(1, make.incident(title=f"disk {char}[31mfull", body=f"see {char} here"))
    )

    r = await client.get("/feed.atom")

    root = ET.fromstring(r.content)  # noqa: S314 (our own output, under test)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)] == [
        "disk [31mfull"
    ]
    html = (await client.get("/")).text
    assert "disk [31mfull" in html
    assert "see  here" in html
    assert char not in html


async def test_not_ready_before_the_lifespan_ran(app, client):
    async with internal(app) as probes:  # the internal port
        assert (await probes.get("/healthz")).status_code == 200
        r = await probes.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"nats": "unavailable", "snapshot": "unavailable"}
        assert "herald_statuspage_sse_clients" in (await probes.get("/metrics")).text
    for path in ("/healthz", "/readyz", "/metrics"):  # never on the public port
        assert (await client.get(path)).status_code == 404, path


async def test_internal_incidents_are_not_rendered(app, client, make):
    secret = "db-7 disk full on 10.0.0.7"
    app.state.board.projection.apply(make.opened(1, make.incident(title=secret, public=False)))

    for path in ("/", "/feed.atom", "/api/v2/summary.json", "/api/v2/incidents.json"):
        assert secret not in (await client.get(path)).text, path


async def test_every_page_says_how_often_it_polls_when_refused_the_live_stream(client, make):
    """live.js reads <body data-poll-seconds>: the default, or the status page's option."""
    assert 'data-poll-seconds="30"' in (await client.get("/")).text
    quick = create_app(make.config(), SETTINGS, clock=lambda: make.t0, poll_seconds=2)
    transport = httpx.ASGITransport(app=quick)
    async with httpx.AsyncClient(transport=transport, base_url="http://page") as other:
        assert 'data-poll-seconds="2"' in (await other.get("/")).text


def page_with(make, page: str):
    """The app on the test config with more lines (YAML) under `page:`."""
    return create_app(make.config(page=page), SETTINGS, clock=lambda: make.t0)


async def test_the_logo_and_links_from_config_are_in_the_header(make):
    app = page_with(
        make,
        "  logo: /static/favicon.svg\n"
        "  links:\n"
        "    - {name: Acme home, url: 'https://acme.example.com/?a=1&b=2'}\n"
        "    - {name: Support, url: /support}\n",
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://page") as c:
        html = (await c.get("/")).text
    header = html[html.index('<header class="masthead">') : html.index("</header>")]
    assert '<img class="logo" src="/static/favicon.svg" alt="">' in header
    assert '<nav aria-label="Links">' in header
    assert '<a href="https://acme.example.com/?a=1&amp;b=2" rel="noopener">Acme home</a>' in header
    assert '<a href="/support" rel="noopener">Support</a>' in header
    assert header.index("Acme home") < header.index("Support")  # in the config's order


async def test_without_logo_or_links_the_header_has_neither(client):
    html = (await client.get("/")).text
    assert 'class="logo"' not in html
    assert 'aria-label="Links"' not in html


async def test_the_language_from_config_when_accept_language_names_none_we_ship(make):
    app = page_with(make, "  language: de\n")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://page") as c:
        french = await c.get("/", headers={"Accept-Language": "fr-FR, fr;q=0.9"})
        silent = await c.get("/")
        english = await c.get("/", headers={"Accept-Language": "en-GB"})
    for r in (french, silent):
        assert '<html lang="de">' in r.text
        assert "Alle Systeme betriebsbereit" in r.text
        assert r.headers["content-language"] == "de"
    # A language we ship that the reader asks for still wins over the config's.
    assert '<html lang="en">' in english.text
    assert "All Systems Operational" in english.text
