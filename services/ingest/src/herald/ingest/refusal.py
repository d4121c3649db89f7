"""What the correlator would refuse, told before the command is stored.

Pure. The correlator owns the rules (herald.correlator.commands raises `Rejected`, written to
its audit): one open incident per service; an update or a resolve needs the incident open; a
postmortem needs it open or resolved, once; a maintenance window completes once; an alert
resolved by hand must be firing. A command it will refuse used to get 202 accepted and say
nothing. The admin API reads what the correlator holds (its read API: `/api/v1/incidents`,
`/api/v1/maintenances`, `/api/v1/alerts`) and asks these functions; a `Refusal` is its answer
instead of the 202 (404 for what the correlator does not hold, 409 for a state that forbids
the command). When the correlator cannot be read the command is stored all the same and the
correlator decides (never lost for a read that failed), except an alert's resolve: 503 (an
alert without a remembered route is a command no service takes: nobody would ever be told it
did nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

IncidentAction = Literal["update", "resolve", "postmortem"]
MaintenanceAction = Literal["cancel", "complete", "verify"]
PAST: dict[MaintenanceAction, str] = {
    "cancel": "cancelled",
    "complete": "completed",
    "verify": "marked verifying",
}


@dataclass(frozen=True)
class Refusal:
    """An answer in place of 202: status, a problem document's title, detail and hint, and the
    fields naming what it is about (e.g. `open_incident`)."""

    status: int
    title: str
    detail: str
    hint: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {"title": self.title, "detail": self.detail, "hint": self.hint, **self.fields}


def _rows(rows: Iterable[Any]) -> list[Mapping[str, Any]]:
    return [r for r in rows if isinstance(r, Mapping)]


def second_open(rows: Iterable[Any], service: str) -> Refusal | None:
    """An open on `service` while it has an open incident (`rows`: the correlator's incidents
    of the service)."""
    open_id = next(
        (
            str(r.get("id"))
            for r in _rows(rows)
            if r.get("service") == service and not r.get("resolved_at")
        ),
        None,
    )
    if open_id is None:
        return None
    return Refusal(
        409,
        "incident already open",
        (
            f"{service} already has an open incident, {open_id}: Herald keeps one incident per "
            "service, so a second one is not opened"
        ),
        (
            f"update it instead: herald incident update {open_id} --status identified --body "
            f"'...' (or POST /api/v1/incidents/{open_id}/updates); resolve it first to open a "
            "new one"
        ),
        {"open_incident": open_id},
    )


def incident_command(
    rows: Iterable[Any], incident_id: str, action: IncidentAction
) -> Refusal | None:
    """An update, resolve or postmortem of `incident_id` (`rows`: the correlator's incidents of
    its service: the open one and the recent ones it keeps)."""
    found = next((r for r in _rows(rows) if r.get("id") == incident_id), None)
    if found is None:
        return Refusal(
            404,
            "unknown incident",
            (
                f"no incident {incident_id} is open or among the recent ones the correlator "
                "keeps, so it cannot be changed"
            ),
            "herald incident list shows the incidents it holds",
            {"incident": incident_id},
        )
    status = str(found.get("status", ""))
    resolved = bool(found.get("resolved_at"))
    if action == "postmortem":
        if status != "postmortem":
            return None
        return Refusal(
            409,
            "postmortem already written",
            f"incident {incident_id} already has its postmortem",
            "a postmortem is written once",
            {"incident": incident_id, "incident_status": status},
        )
    if not resolved:
        return None
    return Refusal(
        409,
        "incident resolved",
        (
            f"incident {incident_id} is {status or 'resolved'}: it can no longer be "
            f"{'updated' if action == 'update' else 'resolved'}, only a postmortem can follow"
        ),
        (
            f"herald incident postmortem {incident_id} --body '...'; open a new incident "
            "if it is happening again"
        ),
        {"incident": incident_id, "incident_status": status},
    )


def maintenance_command(
    rows: Iterable[Any], maintenance_id: str, action: MaintenanceAction
) -> Refusal | None:
    """A cancel, complete or verify of `maintenance_id` (`rows`: the correlator's windows). A
    verify needs the window in progress (not scheduled, not verifying already)."""
    found = next((r for r in _rows(rows) if r.get("id") == maintenance_id), None)
    if found is None:
        return Refusal(
            404,
            "unknown maintenance",
            f"no maintenance {maintenance_id} is held by the correlator",
            "herald maintenance list shows the windows it holds",
            {"maintenance": maintenance_id},
        )
    status = found.get("status")
    if action == "verify" and status in ("scheduled", "verifying"):
        hint = (
            "it starts at its starts_at; verify it once it is in progress"
            if status == "scheduled"
            else "it already is: herald maintenance complete ends it (or its end time does)"
        )
        return Refusal(
            409,
            "maintenance not in progress",
            f"maintenance {maintenance_id} is {status}: only a window in progress can be "
            "marked verifying",
            hint,
            {"maintenance": maintenance_id, "maintenance_status": str(status)},
        )
    if status != "completed":
        return None
    how = "cancelled" if found.get("cancelled") else "completed"
    return Refusal(
        409,
        "maintenance already over",
        f"maintenance {maintenance_id} is already {how}: it cannot be {PAST[action]}",
        "schedule a new window: herald maintenance schedule ...",
        {"maintenance": maintenance_id, "maintenance_status": "completed"},
    )


def alert_resolve(rows: Iterable[Any], fingerprint: str, service: str | None) -> Refusal | None:
    """A resolve by hand of alert `fingerprint` (`rows`: the correlator's firing alerts, of
    `service` when given): refused when Herald holds no such firing alert."""
    if any(r.get("fingerprint") == fingerprint for r in _rows(rows)):
        return None
    where = f" of {service}" if service else ""
    return Refusal(
        404,
        "unknown alert",
        f"no firing alert {fingerprint}{where}: Herald holds no such alert as firing, so "
        "there is nothing to resolve",
        "see `herald alert list` for the alerts Herald holds as firing (and their fingerprints)",
        {"fingerprint": fingerprint} | ({"service": service} if service else {}),
    )
