"""A recording relay in front of ingest: Alertmanager POSTs here, the relay notes when each
notification arrived and what it carried, forwards it unchanged to ingest and answers what
ingest answered. That gives the test an honest start time for "Alertmanager's POST -> SSE"
and shows, when something fails, whether Alertmanager sent anything and what ingest said.

`/hooks/...` is forwarded; `/sink/<receiver>` (receivers that are not Herald, e.g. the
heartbeat) is recorded and answered 200 locally.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.loopback import listening_socket, quiet_server, serving

FORWARDED_HEADERS = ("authorization", "content-type", "user-agent")


@dataclass(frozen=True)
class Delivery:
    """One notification from Alertmanager."""

    path: str
    arrived: float
    """time.monotonic() when the request reached the relay."""
    authorization: str | None = field(repr=False)
    payload: dict[str, Any]
    status: int
    """What ingest answered (0 when it could not be reached)."""

    @property
    def token(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def alerts(self) -> list[tuple[str, str]]:
        """(alertname, status) of each alert in the notification."""
        return [
            (str(a.get("labels", {}).get("alertname", "")), str(a.get("status", "")))
            for a in self.payload.get("alerts", [])
        ]

    def carries(self, alertname: str, status: str) -> bool:
        return (alertname, status) in self.alerts

    def __str__(self) -> str:
        where = self.path if self.path.startswith("/sink/") else "/hooks/inbound/<token>"
        return f"{where} -> {self.status} {self.alerts}"


class WebhookRelay:
    """Listens as soon as it is built; `received` gets every Delivery once it is answered."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.sock = listening_socket()
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: asyncio.Queue[Delivery] = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0))

        async def forward(request: Request) -> Response:
            arrived = time.monotonic()
            body = await request.body()
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            headers = {k: v for k in FORWARDED_HEADERS if (v := request.headers.get(k))}
            if request.url.path.startswith("/sink/"):
                status, content, media = 200, b"{}", "application/json"
            else:
                try:
                    answer = await self._client.post(
                        self.upstream + request.url.path, content=body, headers=headers
                    )
                    status, content = answer.status_code, answer.content
                    media = answer.headers.get("content-type", "application/json")
                except httpx.HTTPError as exc:
                    status, content, media = 0, str(exc).encode(), "text/plain"
            await self.received.put(
                Delivery(
                    request.url.path,
                    arrived,
                    request.headers.get("authorization"),
                    payload if isinstance(payload, dict) else {},
                    status,
                )
            )
            # Unreachable ingest: a 503 makes Alertmanager retry, as it would against ingest.
            return Response(content, status_code=status or 503, media_type=media)

        app = Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])
        self._serving = serving(quiet_server(app), self.sock)

    async def __aenter__(self) -> WebhookRelay:
        await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._serving.__aexit__(None, None, None)
        finally:
            await self._client.aclose()
