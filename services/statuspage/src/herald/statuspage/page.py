"""The public HTML pages (status, an incident, the history) and the Atom and RSS feeds, rendered
from a PageView.

Jinja2 with autoescape always on: incident titles and bodies come from alert annotations
(untrusted) and are only ever rendered as text. Every value written by a template first loses
the characters XML 1.0 forbids (escaped or not: C0 controls but tab, LF and CR, lone
surrogates, U+FFFE, U+FFFF), so one pasted ANSI colour code cannot make the Atom feed
unparseable; the HTML page gets the same clean text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2

from herald.shared.events import Incident
from herald.shared.public_page import iso, public_view
from herald.statuspage import catalogue, history, timeline, uptime
from herald.statuspage.maintenance import Window
from herald.statuspage.options import POLL_SECONDS
from herald.statuspage.status import PageView, layout

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


def environment(poll_seconds: int = POLL_SECONDS) -> jinja2.Environment:
    """The template environment: autoescape on for every template, undefined names are errors,
    every value written cleaned of the characters XML forbids. Every page carries
    `poll_seconds` (how often live.js polls when the live stream is refused)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.globals["poll_seconds"] = poll_seconds
    return env


def human(moment: datetime) -> str:
    """A time as people read it without JS (UTC; live.js shows it in the reader's zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Reader:
    """Who reads the page: their language and the time the page is rendered at."""

    language: str
    now: datetime

    @property
    def t(self) -> dict[str, str]:
        return catalogue.strings(self.language)


def _updates(view: PageView, incident: Incident, t: dict[str, str]) -> list[dict[str, Any]]:
    svc = view.config.services.get(incident.service)
    name = svc.name if svc is not None else incident.service
    words = t[str(incident.component_status)]
    out = []
    for entry in timeline.entries(incident, name, words):
        out.append(
            {
                "id": entry.id,
                "kind": entry.kind,
                "status": str(entry.status),
                "status_words": t[str(entry.status)],
                "body": entry.body,
                "at": iso(entry.at),
                "at_human": human(entry.at),
            }
        )
    return out


def _incident(
    view: PageView, incident: Incident, t: dict[str, str] | None = None
) -> dict[str, Any]:
    t = t or catalogue.strings("en")
    svc = view.config.services.get(incident.service)
    return {
        "id": incident.id,
        "service": incident.service,
        "service_name": svc.name if svc is not None else incident.service,
        "title": incident.title,
        "body": incident.body,
        "status": str(incident.status),
        "status_words": t[str(incident.status)],
        "impact": str(incident.impact),
        "started_at": iso(incident.started_at),
        "started_human": human(incident.started_at),
        "updated_at": iso(incident.updated_at),
        "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
        "resolved_human": human(incident.resolved_at) if incident.resolved_at else None,
        "updates": _updates(view, incident, t),
        "link": f"/incidents/{incident.id}",
        "shortlink": view.shortlink(incident.id),
    }


def _bars(view: PageView, service: str, reader: Reader) -> dict[str, Any]:
    t = reader.t
    found = view.bars(service, reader.now)
    days = [
        {
            "date": d.day.isoformat(),
            "status": str(d.status) if d.status is not None else "none",
            "text": t["uptime_day"].format(
                date=d.day.isoformat(),
                status=t[str(d.status)] if d.status is not None else t["no_data"],
            ),
        }
        for d in found.days
    ]
    summary = t["uptime"].format(
        percent=uptime.percent(found.uptime, t["no_data"]), days=len(found.days)
    )
    return {"days": days, "summary": summary}


def _service(view: PageView, service: str, reader: Reader | None = None) -> dict[str, Any]:
    reader = reader or Reader("en", view.since)
    svc = view.config.services[service]
    status = view.state(service).component_status
    return {
        "id": service,
        "name": svc.name,
        "description": svc.description,
        "status": str(status),
        "status_words": reader.t[str(status)],
        "bars": _bars(view, service, reader),
    }


def _maintenance(view: PageView, window: Window, t: dict[str, str]) -> dict[str, Any]:
    return {
        "id": window.id,
        "name": window.name,
        "title": window.name,
        "status": str(window.status),
        "status_words": t[str(window.status)],
        "link": f"/incidents/{window.id}",
        "scheduled_for": iso(window.scheduled_for),
        "scheduled_for_human": human(window.scheduled_for),
        "scheduled_until": iso(window.scheduled_until),
        "scheduled_until_human": human(window.scheduled_until),
        "services": [
            view.config.services[s].name for s in window.services if s in view.config.services
        ],
        "updates": [
            {
                "id": u.id,
                "kind": f"maintenance-{u.status}",
                "status": str(u.status),
                "status_words": t[str(u.status)],
                "body": u.body,
                "at": iso(u.at),
                "at_human": human(u.at),
            }
            for u in window.updates
        ],
    }


def chrome(view: PageView, reader: Reader) -> dict[str, Any]:
    """What every page shows: title, logo, links, language, strings (also for live.js)."""
    t = reader.t
    page = view.config.page
    client = {k: t[k] for k in LIVE_STRINGS}
    return {
        "title": page.title,
        "logo": page.logo,
        "links": [{"name": link.name, "url": link.url} for link in page.links],
        "lang": reader.language,
        "t": t,
        "strings_json": json.dumps(client, ensure_ascii=False),
        "subscribe_offered": view.config.subscribers.enabled,
    }


LIVE_STRINGS = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "postmortem",
    "since",
    "to",
    "live",
    "reconnecting",
    "polling",
    "changed",
    "uptime",
    "uptime_day",
    "no_data",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
    "affects",
    *catalogue.DESCRIPTION_IDS.values(),
)
"""What live.js needs to write the page in the reader's language."""


def context(view: PageView, reader: Reader | None = None) -> dict[str, Any]:
    """Everything the page template shows, as plain values."""
    reader = reader or Reader(view.config.page.language, view.since)
    t = reader.t
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
                    "status_words": t[str(status)],
                    "children": [_service(view, sid, reader) for sid in entry.children],
                }
            )
        else:
            rows.append({"is_group": False, **_service(view, entry.id, reader)})
    page_status = view.status()
    return {
        **chrome(view, reader),
        "indicator": page_status.indicator,
        "description": t[catalogue.DESCRIPTION_IDS.get(page_status.description, "indicator_none")],
        "updated_at": iso(view.updated_at()),
        "updated_human": human(view.updated_at()),
        "rows": rows,
        "open": [_incident(view, i, t) for i in view.open_incidents()],
        "resolved": [_incident(view, i, t) for i in view.resolved_incidents()],
        "maintenances": [_maintenance(view, w, t) for w in view.current_maintenances()],
    }


def render_page(env: jinja2.Environment, view: PageView, reader: Reader | None = None) -> str:
    return env.get_template("page.html").render(context(view, reader))


def render_incident(
    env: jinja2.Environment, view: PageView, incident: Incident, reader: Reader
) -> str:
    return env.get_template("incident.html").render(
        **chrome(view, reader),
        updated_at=iso(view.updated_at()),
        updated_human=human(view.updated_at()),
        inc=_incident(view, incident, reader.t),
    )


def render_maintenance(
    env: jinja2.Environment, view: PageView, window: Window, reader: Reader
) -> str:
    """A maintenance window's own page (its shortlink `/incidents/<id>`, as Statuspage's)."""
    return env.get_template("maintenance.html").render(
        **chrome(view, reader),
        updated_at=iso(view.updated_at()),
        updated_human=human(view.updated_at()),
        m=_maintenance(view, window, reader.t),
    )


def render_history(
    env: jinja2.Environment,
    view: PageView,
    reader: Reader,
    page: int,
    archived: Sequence[Incident] = (),
    unavailable: bool = False,
) -> str:
    """Page `page` of the history: the archived incidents (archive.py) of its months, with the
    open and recent ones the projection knows (which win by id: they are newer)."""
    t = reader.t
    known = [*view.open_incidents(), *view.resolved_incidents()]
    every = history.merged((public_view(i) for i in archived), known)
    found = history.months(every, reader.now, page)
    return env.get_template("history.html").render(
        **chrome(view, reader),
        updated_at=iso(view.updated_at()),
        updated_human=human(view.updated_at()),
        months=[
            {
                "label": m.first_day.strftime("%Y-%m"),
                "incidents": [_incident(view, i, t) for i in m.incidents],
            }
            for m in found
        ],
        unavailable=unavailable,
        newer=page - 1 if page > 0 else None,
        older=page + 1 if page + 1 < history.MAX_PAGES else None,
    )


FEED_ENTRIES = 50
"""Incidents in the Atom and RSS feeds (as incidents.json lists the 50 most recent)."""


def feed_entries(view: PageView, archived: Sequence[Incident] = ()) -> list[dict[str, Any]]:
    """The incidents the page knows (open, recently resolved), then the stored history's
    (archive.py), newest first, with their updates (for Atom and RSS)."""
    known = [*view.open_incidents(), *view.resolved_incidents()]
    every = history.merged((public_view(i) for i in archived), known)[:FEED_ENTRIES]
    return [_incident(view, i) for i in every]


def render_feed(env: jinja2.Environment, view: PageView, archived: Sequence[Incident] = ()) -> str:
    """Atom: one entry per incident (open, recently resolved, then the history's)."""
    base = view.config.page.url.rstrip("/")
    return env.get_template("feed.atom").render(
        title=view.config.page.title,
        page_id=view.page_id,
        base=base,
        updated_at=iso(view.updated_at()),
        entries=feed_entries(view, archived),
    )


def render_rss(env: jinja2.Environment, view: PageView, archived: Sequence[Incident] = ()) -> str:
    """RSS 2.0: the same entries as the Atom feed (RFC 822 dates)."""
    base = view.config.page.url.rstrip("/")
    entries = feed_entries(view, archived)
    for entry in entries:
        moment = datetime.fromisoformat(entry["resolved_at"] or entry["updated_at"])
        entry["rfc822"] = format_datetime(moment.astimezone(UTC), usegmt=True)
    return env.get_template("feed.rss").render(
        title=view.config.page.title,
        base=base,
        updated=format_datetime(view.updated_at().astimezone(UTC), usegmt=True),
        entries=entries,
    )
