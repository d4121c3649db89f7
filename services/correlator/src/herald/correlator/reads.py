"""The correlator's read API (`/api/v1/...` GET): what it holds, for `herald incident list`,
`herald alert list`, `herald maintenance list` and the audit. The correlator owns the state, so
it answers; ingest's admin API forwards these reads here after checking the admin token (the
correlator's port stays inside the cluster, as for /api/unrouted). Handlers only translate."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.shared.events import AlertState, Incident, MaintenanceWindow

if TYPE_CHECKING:
    from herald.correlator.consumer import Correlator


def _problem(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status)


def _services(use: Correlator, request: Request) -> list[str] | Response:
    service = request.query_params.get("service")
    if service is None:
        return list(use.config.services)
    if service not in use.config.services:
        return _problem(404, f"no service {service!r} in the configuration")
    return [service]


def _incident(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="json", exclude={"alerts", "timeline"}) | {
        "timeline": [e.model_dump(mode="json") for e in incident.timeline]
    }


async def incidents(request: Request) -> Response:
    """Open incidents, then the recently resolved ones, per service."""
    use: Correlator = request.state.correlator
    services = _services(use, request)
    if isinstance(services, Response):
        return services
    try:
        statuses = await use.store.statuses(services)
    except Exception:
        return _problem(503, "Redis is not answering; try again")
    rows: list[dict[str, Any]] = []
    for status in statuses:
        if status is None:
            continue
        if status.incident is not None:
            rows.append(_incident(status.incident))
        rows.extend(_incident(i) for i in status.recent)
    rows.sort(key=lambda r: (r["resolved_at"] is not None, r["started_at"]), reverse=False)
    return JSONResponse({"incidents": rows})


async def alerts(request: Request) -> Response:
    """What Herald holds as firing: since when, through which integration."""
    use: Correlator = request.state.correlator
    services = _services(use, request)
    if isinstance(services, Response):
        return services
    since_raw = request.query_params.get("since")
    since = None
    if since_raw:
        try:
            since = datetime.fromisoformat(since_raw)
        except ValueError:
            return _problem(400, f"since={since_raw!r} is not an ISO 8601 time")
        if since.tzinfo is None:
            return _problem(400, "since needs a time zone (e.g. 2025-01-01T00:00:00Z)")
    integration = request.query_params.get("integration")
    rows = []
    try:
        for service in services:
            for r in await use.store.firing(service):
                if r.status is not AlertState.FIRING:
                    continue
                if since is not None and r.starts_at < since:
                    continue
                if integration is not None and integration not in (
                    r.integrations or (r.integration,)
                ):
                    continue
                rows.append(
                    {
                        "service": service,
                        "fingerprint": r.fingerprint,
                        "alertname": r.alertname,
                        "severity": r.severity,
                        "summary": r.summary,
                        "starts_at": r.starts_at.isoformat(),
                        "integration": r.integration,
                        "integrations": list(r.integrations),
                        "incident": r.incident,
                        "labels": r.labels,
                    }
                )
    except Exception:
        return _problem(503, "Redis is not answering; try again")
    rows.sort(key=lambda r: str(r["starts_at"]))
    return JSONResponse({"alerts": rows})


async def maintenances(request: Request) -> Response:
    """Every service's windows, one row per window (with all its services)."""
    use: Correlator = request.state.correlator
    services = _services(use, request)
    if isinstance(services, Response):
        return services
    try:
        controls = await use.store.controls(services)
    except Exception:
        return _problem(503, "Redis is not answering; try again")
    windows: dict[str, MaintenanceWindow] = {}
    for control in controls:
        for w in control.maintenances:
            held = windows.get(w.id)
            if held is None or w.updated_at > held.updated_at:
                windows[w.id] = w
    rows = sorted(windows.values(), key=lambda w: w.starts_at)
    return JSONResponse({"maintenances": [w.model_dump(mode="json") for w in rows]})


async def audit(request: Request) -> Response:
    """Who changed what, when: every service's audit, newest first."""
    use: Correlator = request.state.correlator
    services = _services(use, request)
    if isinstance(services, Response):
        return services
    try:
        controls = await use.store.controls(services)
    except Exception:
        return _problem(503, "Redis is not answering; try again")
    entries = [e for c in controls for e in c.audit]
    command = request.query_params.get("command_id")
    if command:
        entries = [e for e in entries if e.command_id == command]
    entries.sort(key=lambda e: e.applied_at, reverse=True)
    return JSONResponse({"audit": [e.model_dump(mode="json") for e in entries]})


def read_routes() -> list[Route]:
    return [
        Route("/api/v1/incidents", incidents, methods=["GET"]),
        Route("/api/v1/alerts", alerts, methods=["GET"]),
        Route("/api/v1/maintenances", maintenances, methods=["GET"]),
        Route("/api/v1/audit", audit, methods=["GET"]),
    ]
