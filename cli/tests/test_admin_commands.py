"""`herald incident|component|maintenance|alert ...`: every flag the CLI takes reaches the admin
API as docs/admin-openapi.yaml says, against a real HTTP endpoint that records the requests."""

from __future__ import annotations

import asyncio
import json
import shlex
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.cli.__main__ import main
from tests.loopback import listening_socket, quiet_server, serving

TOKEN = "cli-admin-token"
ALERT = {
    "service": "payments-api",
    "fingerprint": "fp-1",
    "alertname": "HighLatency",
    "severity": "critical",
    "starts_at": "2026-01-06T12:00:00+00:00",
    "integration": "alertmanager",
}


class Api:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []

    async def any(self, request: Request) -> Response:
        raw = await request.body()
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        self.seen.append((request.method, path, json.loads(raw) if raw else None))
        if request.method == "GET":
            return JSONResponse({"alerts": [ALERT]})
        return JSONResponse({"command_id": "cmd-1", "kind": "k"}, status_code=202)


async def herald(command: str) -> int:
    try:
        await asyncio.to_thread(main, shlex.split(command))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


async def test_every_flag_reaches_the_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = Api()
    app = Starlette(routes=[Route("/{path:path}", api.any, methods=["GET", "POST", "PUT"])])
    sock = listening_socket()
    monkeypatch.setenv("HERALD_API_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("HERALD_API_TOKEN", TOKEN)
    async with serving(quiet_server(app), sock, timeout=10):
        assert (
            await herald(
                "incident open --service payments-api --title T --status identified"
                " --template found --internal"
            )
            == 0
        )
        assert await herald("incident update payments-api-1 --template found") == 0
        assert (
            await herald(
                "component set payments-api major_outage --until 2099-01-01T00:00:00Z"
                " --reason 'the page was wrong'"
            )
            == 0
        )
        assert await herald("maintenance verify mnt-1 --body 'upgrade done'") == 0
        assert await herald("alert list --service payments-api") == 0
        # a body and a template together: a usage error, nothing sent
        assert await herald("incident open --service s --title T --body b --template found") == 2
    assert api.seen[:4] == [
        (
            "POST",
            "/api/v1/incidents",
            {
                "service": "payments-api",
                "title": "T",
                "body": "",
                "internal": True,
                "status": "identified",
                "template": "found",
            },
        ),
        ("POST", "/api/v1/incidents/payments-api-1/updates", {"body": "", "template": "found"}),
        (
            "PUT",
            "/api/v1/components/payments-api/override",
            {
                "status": "major_outage",
                "reason": "the page was wrong",
                "until": "2099-01-01T00:00:00+00:00",
            },
        ),
        ("POST", "/api/v1/maintenances/mnt-1/verify", {"body": "upgrade done"}),
    ]
    # the last one (a body and a template together) never left the CLI: a usage error
    assert api.seen[4:] == [("GET", "/api/v1/alerts?service=payments-api", None)]
    out = capsys.readouterr().out
    assert "fp-1  payments-api  HighLatency (critical)  since 2026-01-06T12:00:00+00:00" in out
    assert "via alertmanager" in out
