"""A real HTTP endpoint that records the JSON POSTed to it (a stand-in pager for the tests)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.loopback import listening_socket, quiet_server, serving


class Receiver:
    """Listens as soon as it is entered (the socket is bound before uvicorn serves it).

    `fail_next` makes the next POSTs answer that status instead of 200, to test retries."""

    def __init__(self) -> None:
        self.sock = listening_socket()
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.fail_next: list[int] = []

        async def hook(request: Request) -> Response:
            body = await request.json()
            if self.fail_next:
                return JSONResponse({"error": "induced"}, status_code=self.fail_next.pop(0))
            await self.received.put(body)
            return JSONResponse({"ok": True})

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        self._serving = serving(quiet_server(app), self.sock)

    async def __aenter__(self) -> Receiver:
        await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._serving.__aexit__(None, None, None)

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), timeout)
