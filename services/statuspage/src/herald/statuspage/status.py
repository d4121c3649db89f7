"""The page roll-up and the Atlassian Statuspage v2 JSON shapes.

Pure: plain data in (the configuration, the projection, the time the page started), JSON-ready
dicts out. Only services declared in the configuration appear on the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from herald.shared.config import HeraldConfig
from herald.shared.events import (
    ComponentStatus,
    Impact,
    Incident,
    IncidentStatus,
    MaintenanceStatus,
    ServiceStatus,
)
from herald.shared.public_page import (
    COMPONENT_STATUS_WORDS,
    INDICATOR_WORDS,
    incident_link,
    iso,
    page_id,
    public_view,
)
from herald.shared.statuses import indicator_of, worst, worst_indicator
from herald.statuspage import history, maintenance, timeline, uptime
from herald.statuspage.history import Changes
from herald.statuspage.maintenance import Window
from herald.statuspage.projection import Projection
from herald.statuspage.standing import Standing

JSON = dict[str, Any]

RESOLVED_BODY = timeline.RESOLVED_BODY


def publicly_open(incident: Incident | None) -> Incident | None:
    """The public view of a service's open incident, None when the page shows none open."""
    if incident is None or not incident.public:
        return None
    view = public_view(incident)
    return None if view.status is IncidentStatus.RESOLVED else view


@dataclass(frozen=True)
class PageStatus:
    """The page roll-up, as Statuspage's `status` object."""

    indicator: str
    """none, minor, major, critical (or maintenance)."""
    description: str

    def to_json(self) -> JSON:
        return {"indicator": self.indicator, "description": self.description}


def rollup(statuses: Iterable[ComponentStatus], impacts: Iterable[Impact] = ()) -> PageStatus:
    """The page indicator: the worst of the components' statuses and the open incidents' impacts."""
    worst_of = worst(statuses)
    from_components = indicator_of(worst_of)
    from_incidents = worst_indicator(*(str(i) for i in impacts))
    indicator = worst_indicator(from_components, from_incidents)
    description = INDICATOR_WORDS[indicator]
    if indicator == "minor" and (
        from_incidents != "minor" and worst_of is ComponentStatus.DEGRADED_PERFORMANCE
    ):
        description = "Partially Degraded Service"
    return PageStatus(indicator, description)


def runs(values: Iterable[str]) -> list[list[str | int]]:
    """`a a a b` as `[[a, 3], [b, 1]]`."""
    out: list[list[str | int]] = []
    for value in values:
        if out and out[-1][0] == value:
            out[-1][1] = int(out[-1][1]) + 1
        else:
            out.append([value, 1])
    return out


@dataclass(frozen=True)
class Entry:
    """One row of the page: a service (group_id None or set) or a group with its services."""

    id: str
    is_group: bool
    children: tuple[str, ...] = ()


def layout(config: HeraldConfig) -> tuple[Entry, ...]:
    """Ungrouped services first (config order), then each non-empty group with its services."""
    rows = [Entry(sid, False) for sid, svc in config.services.items() if svc.group is None]
    for gid in config.groups:
        children = tuple(sid for sid, svc in config.services.items() if svc.group == gid)
        if children:
            rows.append(Entry(gid, True, children))
    return tuple(rows)


@dataclass(frozen=True)
class PageView:
    """The page at one moment: builds the Statuspage v2 documents and the event payloads."""

    config: HeraldConfig
    services: Mapping[str, ServiceStatus]
    since: datetime
    """When this page process started: creation time of a component not in `created`."""
    created: Mapping[str, datetime] = field(default_factory=dict)
    """When each service's component first appeared on the page (persisted in Redis)."""
    maintenances: tuple[Window, ...] = ()
    """The page's maintenance windows (none until maintenance events exist)."""
    changes: Changes = field(default_factory=dict)
    """Each service's component status changes from the history (the uptime bars)."""

    @property
    def page_id(self) -> str:
        return page_id(self.config)

    def state(self, service: str) -> ServiceStatus:
        return self.services.get(service) or ServiceStatus(service=service)

    @cached_property
    def positions(self) -> dict[str, int]:
        """1-based display position of every service and group."""
        order: list[str] = []
        for row in layout(self.config):
            order.append(row.id)
            order.extend(row.children)
        return {cid: n for n, cid in enumerate(order, start=1)}

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """Each group's services, in configuration order (a group without any is absent)."""
        return {row.id: row.children for row in layout(self.config) if row.is_group}

    @property
    def standing(self) -> Standing:
        """What the roll-up is made of: the projection's own count when it counts this page's
        services, else counted now."""
        services = self.services
        if isinstance(services, Projection) and services.standing.shown is self.config.services:
            return services.standing
        return Standing.of(self.config.services, services)

    def created_at(self, service: str) -> datetime:
        return self.created.get(service, self.since)

    def group_created_at(self, group: str) -> datetime:
        """A group exists since its first service does."""
        children = self.children.get(group, ())
        return min((self.created_at(sid) for sid in children), default=self.since)

    @cached_property
    def running_bars(self) -> dict[str, uptime.Running]:
        """Each service's bars as last computed (`bars`): a view the board keeps from event to
        event computes the days before today once a day, and each of today's changes once."""
        return {}

    def bars(self, service: str, now: datetime) -> uptime.Bars:
        """The service's uptime bars at `now`. The history knows the component since its first
        change, even from before this page's first start (the component's `created_at`)."""
        changes = self.changes.get(service, ())
        since = min([self.created_at(service), *(c.at for c in changes[:1])])
        running = self.running_bars.setdefault(service, uptime.Running())
        return running.bars(self.state(service), changes, now, since)

    def bars_json(self, service: str, now: datetime, first: date | None = None) -> JSON:
        """The uptime bars for the live page: each day's worst status from `first` (the day a
        change happened; default: the first day with data) to today, as runs `[status, days]`
        (90 quiet days are one run: the snapshot stays small with many services), and the
        uptime (formatted as the page writes it; None without data). Days before `from` are as
        the page has them: a change can only alter the days from its own on."""
        found = self.bars(service, now)
        days = found.days
        today = days[-1].day
        start = first or next((d.day for d in days if d.status is not None), today)
        # One bar a day, oldest first: the bars from `start` on are the last ones.
        shown = days[max((min(start, today) - days[0].day).days, 0) :]
        return {
            "from": shown[0].day.isoformat(),
            "days": runs(str(d.status) if d.status is not None else "none" for d in shown),
            "percent": None if found.uptime is None else uptime.percent(found.uptime),
            "count": len(days),
        }

    def find_maintenance(self, window_id: str) -> Window | None:
        """A maintenance window the page knows (any status the correlator still keeps), by id:
        its `shortlink` is `/incidents/<id>` like an incident's."""
        return next((w for w in self.maintenances if w.id == window_id), None)

    def find_incident(self, incident_id: str) -> Incident | None:
        """A public incident the page knows (open or recently resolved), by id."""
        for incident in (*self.open_incidents(), *self.resolved_incidents()):
            if incident.id == incident_id:
                return incident
        return None

    def updated_at(self) -> datetime:
        times = [s.updated_at for sid in self.config.services if (s := self.state(sid)).updated_at]
        return max([t for t in times if t is not None], default=self.since)

    def page(self) -> JSON:
        return {
            "id": self.page_id,
            "name": self.config.page.title,
            "url": self.config.page.url,
            "time_zone": "Etc/UTC",
            "updated_at": iso(self.updated_at()),
        }

    def open_incidents(self) -> list[Incident]:
        """Open public incidents, newest first (internal ones never reach the page)."""
        found = [
            i
            for sid in self.config.services
            if (i := publicly_open(self.state(sid).incident)) is not None
        ]
        return sorted(found, key=lambda i: i.started_at, reverse=True)

    def resolved_incidents(self) -> list[Incident]:
        """Resolved public incidents, newest first: the recent ones, and open incidents that
        only internal alerts keep open (resolved on the public page)."""
        found = [public_view(i) for sid in self.config.services for i in self.public_recent(sid)]
        return sorted(found, key=lambda i: i.resolved_at or i.updated_at, reverse=True)

    def public_recent(self, service: str) -> list[Incident]:
        """The service's resolved public incidents as the page shows them, newest first."""
        state = self.state(service)
        found = [i for i in state.recent if i.public]
        current = state.incident
        if current is not None and current.public and publicly_open(current) is None:
            found.insert(0, current)
        return found

    def status(self) -> PageStatus:
        """The roll-up of the services' component statuses and their open incidents' impacts."""
        standing = self.standing
        return rollup(standing.statuses(), standing.impacts())

    def group_status(self, group: str) -> ComponentStatus:
        return worst(self.state(sid).component_status for sid in self.children.get(group, ()))

    def component(self, service: str) -> JSON:
        svc = self.config.services[service]
        state = self.state(service)
        return {
            "id": service,
            "name": svc.name,
            "status": str(state.component_status),
            "created_at": iso(self.created_at(service)),
            "updated_at": iso(state.updated_at or self.created_at(service)),
            "position": self.positions[service],
            "description": svc.description or None,
            "showcase": True,
            "start_date": self.created_at(service).date().isoformat(),
            "group_id": svc.group,
            "page_id": self.page_id,
            "group": False,
            "only_show_if_degraded": False,
        }

    def group(self, group: str) -> JSON:
        grp = self.config.groups[group]
        children = list(self.children.get(group, ()))
        times = [t for sid in children if (t := self.state(sid).updated_at) is not None]
        return {
            "id": group,
            "name": grp.name,
            "status": str(self.group_status(group)),
            "created_at": iso(self.group_created_at(group)),
            "updated_at": iso(max(times, default=self.group_created_at(group))),
            "position": self.positions[group],
            "description": grp.description or None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": self.page_id,
            "group": True,
            "only_show_if_degraded": False,
            "components": children,
        }

    def components(self) -> list[JSON]:
        out: list[JSON] = []
        for row in layout(self.config):
            if row.is_group:
                out.append(self.group(row.id))
                out.extend(self.component(sid) for sid in row.children)
            else:
                out.append(self.component(row.id))
        return out

    def shortlink(self, incident_id: str) -> str:
        """The incident's own page (what notifications link to)."""
        return incident_link(self.config.page.url, incident_id)

    def incident(self, incident: Incident) -> JSON:
        known = incident.service in self.config.services
        affected = [self.component(incident.service)] if known else []
        name = self.config.services[incident.service].name if known else incident.service
        entries = timeline.entries(
            incident, name, COMPONENT_STATUS_WORDS[incident.component_status]
        )
        updates = [
            {
                "id": entry.id,
                "status": str(entry.status),
                "body": entry.body,
                "incident_id": incident.id,
                "created_at": (at := iso(entry.at)),
                "updated_at": at,
                "display_at": at,
                "affected_components": [
                    {
                        "code": incident.service,
                        "name": name,
                        "old_status": str(entry.old_status),
                        "new_status": str(entry.new_status),
                    }
                ],
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for entry in entries
        ]
        return {
            "id": incident.id,
            "name": incident.title,
            "status": str(incident.status),
            "created_at": iso(incident.started_at),
            "updated_at": iso(incident.updated_at),
            "monitoring_at": (
                iso(incident.updated_at) if incident.status is IncidentStatus.MONITORING else None
            ),
            "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
            "impact": str(incident.impact),
            "shortlink": self.shortlink(incident.id),
            "started_at": iso(incident.started_at),
            "page_id": self.page_id,
            "incident_updates": updates,
            "components": affected,
        }

    def maintenance(self, window: Window) -> JSON:
        """A maintenance window in Statuspage's shape (an incident with a schedule)."""
        known = [sid for sid in window.services if sid in self.config.services]
        return {
            "id": window.id,
            "name": window.name,
            "status": str(window.status),
            "created_at": iso(window.created_at),
            "updated_at": iso(window.updated_at),
            "monitoring_at": None,
            "resolved_at": (
                iso(window.updated_at) if window.status is MaintenanceStatus.COMPLETED else None
            ),
            "impact": "maintenance",
            "shortlink": self.shortlink(window.id),
            "started_at": iso(window.scheduled_for),
            "page_id": self.page_id,
            "incident_updates": [
                {
                    "id": u.id,
                    "status": str(u.status),
                    "body": u.body,
                    "incident_id": window.id,
                    "created_at": iso(u.at),
                    "updated_at": iso(u.at),
                    "display_at": iso(u.at),
                    "affected_components": None,
                    "deliver_notifications": True,
                    "custom_tweet": None,
                    "tweet_id": None,
                }
                for u in window.updates
            ],
            "components": [self.component(sid) for sid in known],
            "scheduled_for": iso(window.scheduled_for),
            "scheduled_until": iso(window.scheduled_until),
        }

    # -- the Statuspage v2 documents ------------------------------------------------------

    def summary_json(self) -> JSON:
        return {
            "page": self.page(),
            "status": self.status().to_json(),
            "components": self.components(),
            "incidents": [self.incident(i) for i in self.open_incidents()],
            "scheduled_maintenances": [self.maintenance(w) for w in self.current_maintenances()],
        }

    def current_maintenances(self) -> list[Window]:
        """Active, then upcoming windows (what the summary lists)."""
        return [*maintenance.active(self.maintenances), *maintenance.upcoming(self.maintenances)]

    def maintenances_json(self) -> JSON:
        listed = maintenance.recent(self.maintenances)
        return {
            "page": self.page(),
            "scheduled_maintenances": [self.maintenance(w) for w in listed],
        }

    def upcoming_json(self) -> JSON:
        listed = maintenance.upcoming(self.maintenances)
        return {
            "page": self.page(),
            "scheduled_maintenances": [self.maintenance(w) for w in listed],
        }

    def active_json(self) -> JSON:
        listed = maintenance.active(self.maintenances)
        return {
            "page": self.page(),
            "scheduled_maintenances": [self.maintenance(w) for w in listed],
        }

    def status_json(self) -> JSON:
        return {"page": self.page(), "status": self.status().to_json()}

    def components_json(self) -> JSON:
        return {"page": self.page(), "components": self.components()}

    def incidents_json(self, limit: int = 50, archived: Iterable[Incident] = ()) -> JSON:
        """The `limit` most recent: open, recently resolved, then the stored history's
        (`archived`, newest first; the projection's copies win by id)."""
        known = [*self.open_incidents(), *self.resolved_incidents()]
        every = history.merged((public_view(i) for i in archived), known)[:limit]
        return {"page": self.page(), "incidents": [self.incident(i) for i in every]}

    def unresolved_json(self) -> JSON:
        return {"page": self.page(), "incidents": [self.incident(i) for i in self.open_incidents()]}

    # -- what the live page receives --------------------------------------------------------

    def live_maintenances(self) -> list[JSON]:
        """What the page's maintenance list shows (active, then upcoming), for live.js."""
        return [self.maintenance(w) for w in self.current_maintenances()]

    def live_completed(self) -> list[JSON]:
        """The windows the page still holds that are over (completed, or cancelled), the most
        recently scheduled first: not in the list, but a window's own page follows its window
        to the end."""
        return [self.maintenance(w) for w in maintenance.completed(self.maintenances)]

    def snapshot_json(self, now: datetime | None = None) -> JSON:
        """The whole page, for a browser that connects (or resumes too late); with the uptime
        bars of every service (from its first day with data) when `now` is given."""
        doc: JSON = {
            "kind": "snapshot",
            "page": self.page(),
            "status": self.status().to_json(),
            "components": self.components(),
            "incidents": [self.incident(i) for i in self.open_incidents()],
            "resolved": [self.incident(i) for i in self.resolved_incidents()],
            "versions": {sid: self.state(sid).version for sid in self.config.services},
            "maintenances": self.live_maintenances(),
            "completed": self.live_completed(),
        }
        if now is not None:
            doc["bars"] = {sid: self.bars_json(sid, now) for sid in self.config.services}
        return doc

    def change_json(
        self,
        kind: str,
        service: str,
        now: datetime | None = None,
        changed_at: datetime | None = None,
    ) -> JSON:
        """One service after a change: its component, its open incident (None when none is
        open), its recently resolved incidents (bounded by `history_size`, newest first: the
        live page replaces that service's part of "Recently resolved" with them, so it shows
        what the server-rendered page shows) and the page roll-up.

        `recent` is sent only with `incident.resolved`, the one kind that changes it: rendering
        every resolved incident into every event made each push several times larger and
        slower (measured with bench/latency.py); a client keeps its list when it is absent.

        `bars`: the service's uptime bars from the day of the change (`changed_at`) to today,
        when `now` is given (today's bar follows the component live). `maintenances`: the
        page's maintenance list, and `completed`: the windows that are over, sent only with
        `maintenance.changed` (the kind that changes them)."""
        state = self.state(service)
        svc = self.config.services[service]
        incident = publicly_open(state.incident)
        doc: JSON = {
            "kind": kind,
            "service": service,
            "version": state.version,
            "component": self.component(service),
            "group": self.group(svc.group) if svc.group is not None else None,
            "incident": self.incident(incident) if incident is not None else None,
            "status": self.status().to_json(),
        }
        current = state.incident
        if kind == "incident.resolved" or (
            kind == "incident.updated"
            and current is not None
            and current.public
            and publicly_open(current) is None
        ):
            # resolved, or resolved on the public page while internal alerts fire
            doc["recent"] = [self.incident(public_view(i)) for i in self.public_recent(service)]
        if kind == "maintenance.changed":
            doc["maintenances"] = self.live_maintenances()
            doc["completed"] = self.live_completed()
        if now is not None:
            first = changed_at.astimezone(UTC).date() if changed_at is not None else None
            doc["bars"] = self.bars_json(service, now, first)
        return doc
