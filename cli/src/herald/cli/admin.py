"""`herald incident|component|maintenance|alert ...`: the admin API (docs/admin-openapi.yaml).

They talk to ingest's admin API at HERALD_API_URL (default http://localhost:8081) with
`Authorization: Bearer $HERALD_API_TOKEN` (one of `admin.tokens`). Writes answer with the id of
the command the correlator applies; `--json` prints the API's answer as it is.

Exit codes: 0 done; 1 the API refused (4xx: what and why are printed; 404 for an incident, a
window or a firing alert (`alert resolve`) the correlator does not hold); 2 usage (argparse); 3 the API cannot be reached or is
unavailable (503: retry); 4 no token (HERALD_API_TOKEN); 5 conflict (409: the state forbids the
command: `incident open` on a service that already has an open incident, whose id is printed:
update that one; `incident update`/`resolve` of a resolved incident; a second `postmortem`;
`maintenance cancel`/`complete` of a window that is over; `maintenance verify` of a window not
in progress)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

OK, REFUSED, USAGE, UNAVAILABLE, NO_TOKEN, CONFLICT = 0, 1, 2, 3, 4, 5

DEFAULT_URL = "http://localhost:8081"
STATUSES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _time(text: str) -> str:
    """An ISO 8601 time, or `now`, `+30m`, `+2h`, `+1d` (from now), in UTC."""
    units = {"m": "minutes", "h": "hours", "d": "days", "s": "seconds"}
    if text == "now":
        return datetime.now(UTC).isoformat()
    if text.startswith("+") and text[-1:] in units and text[1:-1].isdigit():
        delta = timedelta(**{units[text[-1]]: int(text[1:-1])})
        return (datetime.now(UTC) + delta).isoformat()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ISO 8601 (2025-06-01T22:00:00Z), now, or +30m/+2h/+1d"
        ) from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add Z or +02:00")
    return at.isoformat()


def call(method: str, path: str, env: Mapping[str, str], body: dict[str, Any] | None = None) -> Any:
    base = env.get("HERALD_API_URL", DEFAULT_URL).rstrip("/")
    token = env.get("HERALD_API_TOKEN")
    if not token:
        raise Failure(NO_TOKEN, "HERALD_API_TOKEN is not set: export one of admin.tokens")
    if not base.startswith(("http://", "https://")):
        raise Failure(USAGE, f"HERALD_API_URL must be an http(s) URL, not {base!r}")
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": env.get("HERALD_IDEMPOTENCY_KEY") or uuid.uuid4().hex,
    }
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(  # noqa: S310 (checked: http or https)
        base + path, method=method, headers=headers, data=data
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 (an operator's URL)
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            doc = json.loads(exc.read() or b"null")
        except ValueError:
            doc = None
        detail = doc
        if isinstance(detail, dict):
            text = f"{detail.get('title', 'error')}: {detail.get('detail', '')}"
            if detail.get("hint"):
                text += f" ({detail['hint']})"
        else:
            text = str(detail)
        code = UNAVAILABLE if exc.code >= 500 else CONFLICT if exc.code == 409 else REFUSED
        raise Failure(code, f"HTTP {exc.code}: {text}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Failure(
            UNAVAILABLE,
            f"cannot reach {base}: {getattr(exc, 'reason', exc)} (is Herald's ingest running? "
            "check HERALD_API_URL)",
        ) from None


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _accepted(doc: Any) -> str:
    return f"accepted: command {doc['command_id']} ({doc['kind']})"


def _body(args: argparse.Namespace) -> str:
    if getattr(args, "body_file", None):
        try:
            with open(args.body_file, encoding="utf-8") as f:
                return f.read()
        except OSError as exc:
            raise Failure(USAGE, f"cannot read {args.body_file}: {exc.strerror}") from None
    return getattr(args, "body", None) or ""


def _incidents_text(doc: Any) -> str:
    rows = doc["incidents"]
    if not rows:
        return "no incidents"
    lines = []
    for r in rows:
        since = r["started_at"]
        end = f", resolved {r['resolved_at']}" if r.get("resolved_at") else ""
        where = "" if r.get("public", True) else " [internal]"
        lines.append(
            f"{r['id']}  {r['status']:<13} {r['service']}: {r['title']}{where}  "
            f"(since {since}{end})"
        )
    return "\n".join(lines)


def _alerts_text(doc: Any) -> str:
    rows = doc["alerts"]
    if not rows:
        return "no firing alerts"
    return "\n".join(
        f"{r['fingerprint']}  {r['service']}  {r['alertname']}"
        f"{' (' + r['severity'] + ')' if r.get('severity') else ''}  since {r['starts_at']}"
        f"  via {r['integration']}"
        for r in rows
    )


def _maintenances_text(doc: Any) -> str:
    rows = doc["maintenances"]
    if not rows:
        return "no maintenance windows"
    return "\n".join(
        f"{r['id']}  {r['status']:<11} {','.join(r['services'])}: {r['title']}  "
        f"{r['starts_at']} to {r['ends_at']}{' (cancelled)' if r.get('cancelled') else ''}"
        for r in rows
    )


def _audit_text(doc: Any) -> str:
    rows = doc["audit"]
    if not rows:
        return "no changes recorded"
    return "\n".join(
        f"{r['applied_at']}  {r['outcome']:<8} {r['service']}  {r['kind']} by {r['actor']}: "
        f"{r['detail']}{'  [' + r['target'] + ']' if r.get('target') else ''}"
        for r in rows
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run one admin subcommand; the exit code."""
    out: Callable[[Any], str] = _accepted
    try:
        doc = _dispatch(args, env)
        if args.group == "incident" and args.action == "list":
            out = _incidents_text
        elif args.group == "alert" and args.action == "list":
            out = _alerts_text
        elif args.group == "maintenance" and args.action == "list":
            out = _maintenances_text
        elif args.group == "audit":
            out = _audit_text
    except Failure as exc:
        print(f"herald {args.group} {args.action}: {exc}", file=sys.stderr)
        return exc.code
    print(json.dumps(doc, indent=2) if args.json else out(doc))
    return OK


def _dispatch(args: argparse.Namespace, env: Mapping[str, str]) -> Any:
    g, a = args.group, args.action
    if g == "incident":
        if a == "open":
            return call(
                "POST",
                "/api/v1/incidents",
                env,
                {
                    "service": args.service,
                    "title": args.title,
                    "body": _body(args),
                    "internal": args.internal,
                    **({"status": args.status} if args.status else {}),
                    **({"template": args.template} if args.template else {}),
                },
            )
        if a == "update":
            body: dict[str, Any] = {"body": _body(args)}
            if args.status:
                body["status"] = args.status
            if args.template:
                body["template"] = args.template
            return call("POST", f"/api/v1/incidents/{_q(args.id)}/updates", env, body)
        if a == "resolve":
            return call(
                "POST", f"/api/v1/incidents/{_q(args.id)}/resolve", env, {"body": _body(args)}
            )
        if a == "postmortem":
            return call(
                "POST", f"/api/v1/incidents/{_q(args.id)}/postmortem", env, {"body": _body(args)}
            )
        query = f"?service={_q(args.service)}" if args.service else ""
        return call("GET", f"/api/v1/incidents{query}", env)
    if g == "component":
        if a == "set":
            body = {"status": args.status, "reason": args.reason or ""}
            if args.until:
                body["until"] = args.until
            return call("PUT", f"/api/v1/components/{_q(args.service)}/override", env, body)
        return call("DELETE", f"/api/v1/components/{_q(args.service)}/override", env)
    if g == "maintenance":
        if a == "schedule":
            return call(
                "POST",
                "/api/v1/maintenances",
                env,
                {
                    "services": [s for s in args.services.split(",") if s],
                    "title": args.title,
                    "body": _body(args),
                    "starts_at": args.start,
                    "ends_at": args.end,
                    "page": args.page,
                },
            )
        if a in ("cancel", "complete"):
            return call("POST", f"/api/v1/maintenances/{_q(args.id)}/{a}", env, {})
        if a == "verify":
            return call(
                "POST", f"/api/v1/maintenances/{_q(args.id)}/verify", env, {"body": _body(args)}
            )
        return call("GET", "/api/v1/maintenances", env)
    if g == "audit":
        wanted = (("service", args.service), ("command_id", args.command_id))
        params = {k: v for k, v in wanted if v}
        query = "?" + urllib.parse.urlencode(params) if params else ""
        return call("GET", f"/api/v1/audit{query}", env)
    if a == "resolve":
        return call(
            "POST",
            f"/api/v1/alerts/{_q(args.fingerprint)}/resolve",
            env,
            {"service": args.service} if args.service else {},
        )
    params = {
        k: v
        for k, v in (
            ("service", args.service),
            ("since", args.since),
            ("integration", args.integration),
        )
        if v
    }
    query = "?" + urllib.parse.urlencode(params) if params else ""
    return call("GET", f"/api/v1/alerts{query}", env)


def add_parsers(sub: Any) -> None:
    """The admin subcommands, on `herald`'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")

    inc = sub.add_parser("incident", help="incidents by hand (HERALD_API_URL, HERALD_API_TOKEN)")
    isub = inc.add_subparsers(dest="action", required=True)
    p = isub.add_parser("open", parents=[common], help="open an incident")
    p.add_argument("--service", required=True)
    p.add_argument("--title", required=True)
    p.add_argument(
        "--status", choices=STATUSES[:3], help="default: the template's, else investigating"
    )
    text = p.add_mutually_exclusive_group()
    text.add_argument("--body", default="")
    text.add_argument("--template", help="an incident_templates name (herald.yaml)")
    p.add_argument("--internal", action="store_true", help="page, never on the public page")
    p = isub.add_parser("update", parents=[common], help="post an update (shows at once)")
    p.add_argument("id")
    p.add_argument("--status", choices=STATUSES, help="default: the template's, else unchanged")
    text = p.add_mutually_exclusive_group()
    text.add_argument("--body", default="")
    text.add_argument("--template", help="an incident_templates name (herald.yaml)")
    p = isub.add_parser("resolve", parents=[common], help="resolve an incident")
    p.add_argument("id")
    p.add_argument("--body", default="")
    p = isub.add_parser("postmortem", parents=[common], help="the post-incident summary")
    p.add_argument("id")
    p.add_argument("--body-file", required=True)
    p = isub.add_parser("list", parents=[common], help="open and recent incidents")
    p.add_argument("--service")

    comp = sub.add_parser("component", help="component status overrides")
    csub = comp.add_subparsers(dest="action", required=True)
    p = csub.add_parser("set", parents=[common], help="set a status automation won't overwrite")
    p.add_argument("service")
    p.add_argument("status", choices=COMPONENT_STATUSES)
    p.add_argument("--until", type=_time, help="ISO 8601 time or +30m/+2h/+1d")
    p.add_argument("--reason")
    p = csub.add_parser("clear", parents=[common], help="give the status back to automation")
    p.add_argument("service")

    mnt = sub.add_parser("maintenance", help="scheduled maintenance windows")
    msub = mnt.add_subparsers(dest="action", required=True)
    p = msub.add_parser("schedule", parents=[common], help="schedule a window")
    p.add_argument("--services", required=True, help="S1,S2")
    p.add_argument("--start", required=True, type=_time)
    p.add_argument("--end", required=True, type=_time)
    p.add_argument("--title", required=True)
    p.add_argument("--body", default="")
    p.add_argument("--page", action="store_true", help="alerts still page during the window")
    msub.add_parser("list", parents=[common], help="every window")
    for action in ("cancel", "complete"):
        p = msub.add_parser(action, parents=[common], help=f"{action} a window")
        p.add_argument("id")
    p = msub.add_parser(
        "verify", parents=[common], help="mark a window in progress verifying (work done)"
    )
    p.add_argument("id")
    p.add_argument("--body", default="", help="its update on the page")

    alert = sub.add_parser("alert", help="what Herald holds as firing")
    asub = alert.add_subparsers(dest="action", required=True)
    p = asub.add_parser("list", parents=[common], help="firing alerts, since when, from where")
    p.add_argument("--service")
    p.add_argument("--since", type=_time)
    p.add_argument("--integration")
    p = asub.add_parser("resolve", parents=[common], help="end a stuck alert by fingerprint")
    p.add_argument("fingerprint")
    p.add_argument("--service")

    audit = sub.add_parser("audit", help="who changed what, when")
    ausub = audit.add_subparsers(dest="action", required=True)
    p = ausub.add_parser("list", parents=[common], help="every recorded change, newest first")
    p.add_argument("--service")
    p.add_argument("--command-id", help="the changes one command made (its id)")
