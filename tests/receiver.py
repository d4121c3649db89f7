"""A real HTTP endpoint that records the JSON POSTed to it (a stand-in pager for the tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Receiver:
    """Listens as soon as it is entered (the socket is bound before uvicorn serves it).

    `fail_next` makes the next POSTs answer that status instead of 200, to test retries."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
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
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Receiver:
        self._task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
        self.sock.close()

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), timeout)
