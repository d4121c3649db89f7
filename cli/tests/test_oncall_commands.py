"""`herald ack` and `herald oncall` against a real HTTP endpoint answering as the notifier does."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.cli.__main__ import ack, oncall
from tests.loopback import listening_socket, quiet_server, serving

TOKEN = "cli-token"


async def _ack(request: Request) -> Response:
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return JSONResponse({"detail": "a valid bearer token is required"}, status_code=401)
    iid = request.path_params["incident_id"]
    if iid != "payments-api-1":
        return JSONResponse({"detail": "no such incident"}, status_code=404)
    return JSONResponse({"incident_id": iid, "result": "acknowledged"})


async def _oncall(_: Request) -> Response:
    return JSONResponse(
        {
            "at": "2026-01-06T12:00:00+00:00",
            "schedules": [
                {
                    "schedule": "primary",
                    "name": "Primary",
                    "now": "alice",
                    "next_change": "2026-01-12T08:00:00+00:00",
                    "next": "bob",
                }
            ],
        }
    )


APP = Starlette(
    routes=[
        Route("/api/incidents/{incident_id}/ack", _ack, methods=["POST"]),
        Route("/api/oncall", _oncall),
    ]
)


async def test_ack_and_oncall(capsys: pytest.CaptureFixture[str]) -> None:
    sock = listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with serving(quiet_server(APP), sock, timeout=10):
        env = {"HERALD_API_URL": url, "HERALD_API_TOKEN": TOKEN}
        assert await asyncio.to_thread(ack, "payments-api-1", env) == 0
        assert "acknowledged" in capsys.readouterr().out
        assert await asyncio.to_thread(ack, "nope-1", env) == 1
        assert "HTTP 404" in capsys.readouterr().err
        bad = {**env, "HERALD_API_TOKEN": "wrong"}
        assert await asyncio.to_thread(ack, "payments-api-1", bad) == 1
        assert "HTTP 401" in capsys.readouterr().err
        assert await asyncio.to_thread(oncall, env) == 0
        out = capsys.readouterr().out
        assert "Primary (primary): alice, then bob from 2026-01-12T08:00:00+00:00" in out


def test_an_unreachable_notifier_is_said_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert oncall({"HERALD_API_URL": "ftp://example"}) == 1
    assert "http(s)" in capsys.readouterr().err
