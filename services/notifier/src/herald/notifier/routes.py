"""The notifier's HTTP routes (handlers only translate; the use case is `Escalator`).

- `GET /ack/{token}`: a small confirmation page with a button; never changes anything (link
  previews and mail scanners follow GETs). `POST /ack/{token}`: acknowledges (or asks for the
  resolve, for a resolve link). A tampered link answers 400, an expired one 410.
- `POST /api/incidents/{id}/ack`: acknowledges, with `Authorization: Bearer <api token>`.
- `GET /api/oncall`: who is on call now and next, per schedule (API token).
- `GET /api/deliveries/failed`: deliveries that failed for good, newest first (API token).
- `GET /calendars/schedules/{id}.ics`, `GET /calendars/users/{id}.ics`: iCalendar feeds of the
  shifts from 7 days back to 60 days ahead.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from html import escape

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from herald.notifier.ack_link import Action, Expired, LinkError, Links
from herald.notifier.api_tokens import ApiTokens
from herald.notifier.calendar import schedule_calendar, user_calendar
from herald.notifier.dispatch import FAILURES_KEPT, failures_key
from herald.notifier.escalator import AckResult, Busy, Escalator
from herald.notifier.schedule import now_and_next
from herald.shared.config import HeraldConfig
from herald.shared.events import Responder
from herald.shared.runtime import Clock, RedisClient

Handler = Callable[[Request], Awaitable[Response]]

CALENDAR_PAST = timedelta(days=7)
CALENDAR_AHEAD = timedelta(days=60)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1.1rem;padding:.6rem 1.4rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def _html(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _results_page(result: AckResult, incident_id: str) -> HTMLResponse:
    inc = escape(incident_id)
    if result is AckResult.ACKNOWLEDGED:
        return _html("Acknowledged", f"<p>Incident <b>{inc}</b> is acknowledged. Thank you.</p>")
    if result is AckResult.RESOLVE_REQUESTED:
        return _html("Resolve requested", f"<p>Incident <b>{inc}</b>: escalation stopped.</p>")
    if result is AckResult.RESOLVED:
        return _html("Already resolved", f"<p>Incident <b>{inc}</b> is resolved.</p>", 409)
    return _html("Unknown incident", f"<p>No escalation for <b>{inc}</b>.</p>", 404)


def notifier_routes(
    config: HeraldConfig,
    escalator: Escalator,
    links: Links | None,
    api_tokens: ApiTokens,
    clock: Clock,
    redis: RedisClient,
) -> list[Route]:
    async def link_page(request: Request) -> Response:
        if links is None:
            return _html("Not found", "<p>Acknowledge links are not enabled.</p>", 404)
        token = request.path_params["token"]
        try:
            claim = links.read(token, clock())
        except Expired as exc:
            return _html("Link expired", f"<p>{escape(str(exc))}.</p>", 410)
        except LinkError as exc:
            return _html("Invalid link", f"<p>{escape(str(exc))}.</p>", 400)
        verb = "Acknowledge" if claim.action is Action.ACK else "Resolve"
        if request.method == "GET":
            form = (
                f"<p>{verb} incident <b>{escape(claim.incident_id)}</b> of "
                f"<b>{escape(claim.service)}</b>?</p>"
                f'<form method="post"><button type="submit">{verb}</button></form>'
            )
            return _html(f"{verb} incident", form)
        responder = Responder(via="link", user=claim.user)
        try:
            if claim.action is Action.ACK:
                result = await escalator.acknowledge(claim.service, claim.incident_id, responder)
            else:
                result = await escalator.request_resolve(
                    claim.service, claim.incident_id, responder
                )
        except (Busy, RedisError, OSError):
            return _html("Try again", "<p>Herald could not record it just now.</p>", 503)
        return _results_page(result, claim.incident_id)

    def guarded(handler: Handler) -> Handler:
        """`handler` behind the API token (503 when none is configured, 401 without it)."""

        async def endpoint(request: Request) -> Response:
            refused = api_tokens.refusal(request)
            return refused if refused is not None else await handler(request)

        return endpoint

    async def api_ack(request: Request) -> Response:
        incident_id = request.path_params["incident_id"]
        service = escalator.find_service(incident_id)
        if service is None:
            return _problem(404, f"no service has incident {incident_id!r}")
        try:
            token = api_tokens.holder(request)
            responder = Responder(via="api", client=token.name if token is not None else None)
            result = await escalator.acknowledge(service, incident_id, responder)
        except (Busy, RedisError, OSError):
            return _problem(503, "could not record the acknowledgement; try again")
        status = {AckResult.ACKNOWLEDGED: 200, AckResult.RESOLVED: 409}.get(result, 404)
        return JSONResponse(
            {"incident_id": incident_id, "service": service, "result": result.value},
            status_code=status,
        )

    async def oncall(_: Request) -> Response:
        now = clock()
        out = []
        for sid, sched in config.schedules.items():
            nn = now_and_next(sched, now)
            out.append(
                {
                    "schedule": sid,
                    "name": sched.name or sid,
                    "now": nn.user,
                    "next_change": nn.next_change.isoformat() if nn.next_change else None,
                    "next": nn.next_user,
                }
            )
        return JSONResponse({"at": now.isoformat(), "schedules": out})

    def ics(body: bytes) -> Response:
        return Response(body, media_type="text/calendar; charset=utf-8")

    async def schedule_ics(request: Request) -> Response:
        sid = request.path_params["schedule_id"]
        if sid not in config.schedules:
            return _problem(404, f"no schedule {sid!r}")
        now = clock()
        return ics(schedule_calendar(config, sid, now - CALENDAR_PAST, now + CALENDAR_AHEAD, now))

    async def user_ics(request: Request) -> Response:
        uid = request.path_params["user_id"]
        if uid not in config.users:
            return _problem(404, f"no user {uid!r}")
        now = clock()
        return ics(user_calendar(config, uid, now - CALENDAR_PAST, now + CALENDAR_AHEAD, now))

    async def failed(_: Request) -> Response:
        rows: list[object] = []
        try:
            for sid in escalator.services():
                raw = await redis.lrange(failures_key(sid), 0, FAILURES_KEPT - 1)
                rows.extend(json.loads(r) for r in raw)
        except (RedisError, OSError):
            return _problem(503, "Redis is not answering")
        rows.sort(key=lambda r: str(r.get("at", "")) if isinstance(r, dict) else "", reverse=True)
        return JSONResponse({"failed": rows})

    return [
        Route("/ack/{token}", link_page, methods=["GET", "POST"]),
        Route("/api/incidents/{incident_id}/ack", guarded(api_ack), methods=["POST"]),
        Route("/api/oncall", guarded(oncall), methods=["GET"]),
        Route("/api/deliveries/failed", guarded(failed), methods=["GET"]),
        Route("/calendars/schedules/{schedule_id}.ics", schedule_ics, methods=["GET"]),
        Route("/calendars/users/{user_id}.ics", user_ics, methods=["GET"]),
    ]
