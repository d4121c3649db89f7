"""`herald check-config [PATH]`: validate a configuration file and its secrets.
`herald ack INCIDENT_ID`: acknowledge an incident (stops its escalation).
`herald oncall`: who is on call now and next, per schedule.
`herald subscribers list` / `herald subscribers remove ID`: the status page's subscribers.
`herald incident|component|maintenance|alert ...`: the admin API (herald.cli.admin).

`ack`, `oncall` and `subscribers` talk to the notifier at HERALD_API_URL (e.g. http://localhost:8083) with
`Authorization: Bearer $HERALD_API_TOKEN` (one of the notifier's `notifier.api_tokens`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from herald.cli import admin
from herald.shared.config import ConfigError, load_config, resolve_secrets_check


def check_config(path: str, *, secrets: bool) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = resolve_secrets_check(config) if secrets else []
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(
        f"{path}: ok ({len(config.services)} services, {len(config.integrations)} integrations, "
        f"{len(config.oncall)} on-call targets, {len(config.channels)} channels)"
    )
    return 0


def _api(method: str, path: str, env: dict[str, str]) -> tuple[int, Any]:
    base = env.get("HERALD_API_URL", "http://localhost:8083").rstrip("/")
    headers = {"Accept": "application/json"}
    if env.get("HERALD_API_TOKEN"):
        headers["Authorization"] = f"Bearer {env['HERALD_API_TOKEN']}"
    if not base.startswith(("http://", "https://")):
        return 0, {"detail": f"HERALD_API_URL must be an http(s) URL, not {base!r}"}
    req = urllib.request.Request(  # noqa: S310 (checked: http or https)
        base + path, method=method, headers=headers, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (an operator's URL)
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"null")
        except ValueError:
            body = None
        return exc.code, body
    except (urllib.error.URLError, OSError) as exc:
        return 0, {"detail": f"cannot reach {base}: {getattr(exc, 'reason', exc)}"}


def ack(incident_id: str, env: dict[str, str]) -> int:
    quoted = urllib.parse.quote(incident_id, safe="")
    status, body = _api("POST", f"/api/incidents/{quoted}/ack", env)
    if status == 200:
        print(f"{incident_id}: acknowledged")
        return 0
    detail = body.get("detail") or body.get("result") if isinstance(body, dict) else body
    print(f"{incident_id}: not acknowledged (HTTP {status or '-'}: {detail})", file=sys.stderr)
    return 1


def oncall(env: dict[str, str]) -> int:
    status, body = _api("GET", "/api/oncall", env)
    if status != 200 or not isinstance(body, dict):
        print(f"cannot read who is on call (HTTP {status or '-'}: {body})", file=sys.stderr)
        return 1
    for row in body["schedules"]:
        now = row["now"] or "nobody"
        nxt = (
            f", then {row['next'] or 'nobody'} from {row['next_change']}"
            if row["next_change"]
            else ""
        )
        print(f"{row['name']} ({row['schedule']}): {now}{nxt}")
    if not body["schedules"]:
        print("no schedules configured")
    return 0


def subscribers_list(env: dict[str, str]) -> int:
    status, body = _api("GET", "/api/subscribers", env)
    if status != 200 or not isinstance(body, dict):
        detail = body.get("detail") if isinstance(body, dict) else body
        print(f"cannot list subscribers (HTTP {status or '-'}: {detail})", file=sys.stderr)
        return 1
    for row in body["subscribers"]:
        which = ", ".join(row["components"]) or "every component"
        print(
            f"{row['id']}  {row['channel']:<7}  {row['address']}  ({which}; since {row['created_at']})"
        )
    if not body["subscribers"]:
        print("no subscribers")
    return 0


def subscribers_remove(subscriber_id: str, env: dict[str, str]) -> int:
    quoted = urllib.parse.quote(subscriber_id, safe="")
    status, body = _api("DELETE", f"/api/subscribers/{quoted}", env)
    if status == 204:
        print(f"{subscriber_id}: removed")
        return 0
    detail = body.get("detail") if isinstance(body, dict) else body
    print(f"{subscriber_id}: not removed (HTTP {status or '-'}: {detail})", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="herald", description="Herald operator tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check-config", help="validate herald.yaml (and that its secrets resolve)"
    )
    check.add_argument(
        "path", nargs="?", default=os.environ.get("HERALD_CONFIG", "examples/herald.yaml")
    )
    check.add_argument("--no-secrets", action="store_true", help="do not try to resolve secrets")
    ack_cmd = sub.add_parser(
        "ack", help="acknowledge an incident (HERALD_API_URL, HERALD_API_TOKEN)"
    )
    ack_cmd.add_argument("incident_id")
    sub.add_parser("oncall", help="who is on call now and next, per schedule")
    subs = sub.add_parser(
        "subscribers",
        help="list or remove status-page subscribers (HERALD_API_URL, HERALD_API_TOKEN)",
    )
    subs_sub = subs.add_subparsers(dest="action", required=True)
    subs_sub.add_parser("list", help="every subscriber: id, channel, address, components")
    remove = subs_sub.add_parser("remove", help="forget one subscriber (on request)")
    remove.add_argument("subscriber_id")
    admin.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in ("incident", "component", "maintenance", "alert", "audit"):
        args.group = args.command
        sys.exit(admin.run(args, dict(os.environ)))
    if args.command == "check-config":
        sys.exit(check_config(args.path, secrets=not args.no_secrets))
    if args.command == "ack":
        sys.exit(ack(args.incident_id, dict(os.environ)))
    if args.command == "oncall":
        sys.exit(oncall(dict(os.environ)))
    if args.command == "subscribers":
        if args.action == "list":
            sys.exit(subscribers_list(dict(os.environ)))
        sys.exit(subscribers_remove(args.subscriber_id, dict(os.environ)))


if __name__ == "__main__":
    main()
