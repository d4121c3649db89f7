"""The public HTML page and the Atom feed, rendered from a PageView.

Jinja2 with autoescape always on: incident titles and bodies come from alert annotations
(untrusted) and are only ever rendered as text. Every value written by a template first loses
the characters XML 1.0 forbids (escaped or not: C0 controls but tab, LF and CR, lone
surrogates, U+FFFE, U+FFFF), so one pasted ANSI colour code cannot make the Atom feed
unparseable; the HTML page gets the same clean text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from herald.shared.events import Incident
from herald.statuspage.status import (
    INCIDENT_STATUS_WORDS,
    STATUS_WORDS,
    PageView,
    iso,
    layout,
)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Anything outside XML 1.0's Char production."""


def printable(text: str) -> str:
    """`text` without the characters no XML (nor sane HTML) may hold."""
    return _NOT_XML_CHAR.sub("", text)


def _finalize(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if hasattr(value, "__html__"):  # Markup, already escaped (e.g. `|e`): keep it so
        return type(value)(printable(value))
    return printable(value)


def environment() -> jinja2.Environment:
    """The template environment: autoescape on for every template, undefined names are errors,
    every value written cleaned of the characters XML forbids."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )


def human(moment: datetime) -> str:
    """A time as people read it on the page (always UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _incident(view: PageView, incident: Incident) -> dict[str, Any]:
    svc = view.config.services.get(incident.service)
    return {
        "id": incident.id,
        "service": incident.service,
        "service_name": svc.name if svc is not None else incident.service,
        "title": incident.title,
        "body": incident.body,
        "status": str(incident.status),
        "status_words": INCIDENT_STATUS_WORDS[incident.status],
        "impact": str(incident.impact),
        "started_at": iso(incident.started_at),
        "started_human": human(incident.started_at),
        "updated_at": iso(incident.updated_at),
        "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
        "resolved_human": human(incident.resolved_at) if incident.resolved_at else None,
    }


def _service(view: PageView, service: str) -> dict[str, Any]:
    svc = view.config.services[service]
    status = view.state(service).component_status
    return {
        "id": service,
        "name": svc.name,
        "description": svc.description,
        "status": str(status),
        "status_words": STATUS_WORDS[status],
    }


def context(view: PageView) -> dict[str, Any]:
    """Everything the page template shows, as plain values."""
    rows: list[dict[str, Any]] = []
    for entry in layout(view.config):
        if entry.is_group:
            grp = view.config.groups[entry.id]
            status = view.group_status(entry.id)
            rows.append(
                {
                    "id": entry.id,
                    "is_group": True,
                    "name": grp.name,
                    "description": grp.description,
                    "status": str(status),
                    "status_words": STATUS_WORDS[status],
                    "children": [_service(view, sid) for sid in entry.children],
                }
            )
        else:
            rows.append({"is_group": False, **_service(view, entry.id)})
    page_status = view.status()
    return {
        "title": view.config.page.title,
        "indicator": page_status.indicator,
        "description": page_status.description,
        "updated_at": iso(view.updated_at()),
        "updated_human": human(view.updated_at()),
        "rows": rows,
        "open": [_incident(view, i) for i in view.open_incidents()],
        "resolved": [_incident(view, i) for i in view.resolved_incidents()],
    }


def render_page(env: jinja2.Environment, view: PageView) -> str:
    return env.get_template("page.html").render(context(view))


def render_feed(env: jinja2.Environment, view: PageView) -> str:
    """Atom: one entry per open or recently resolved incident, newest first."""
    base = view.config.page.url.rstrip("/")
    entries = [_incident(view, i) for i in (*view.open_incidents(), *view.resolved_incidents())]
    return env.get_template("feed.atom").render(
        title=view.config.page.title,
        page_id=view.page_id,
        base=base,
        updated_at=iso(view.updated_at()),
        entries=entries,
    )
