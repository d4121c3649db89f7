"""A real local HTTP endpoint standing in for a pager's webhook: records every JSON POST, per path,
and answers each path with scripted statuses, then 200 (served by uvicorn on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.loopback import listening_socket, quiet_server, serving

WAIT = 10.0
"""Upper bound for awaiting something that should happen (a failure, not a timing)."""

HOOK = "/hook"
"""The path `url` points at."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes = b""
    """The body as sent (what a signature covers)."""


class Receiver:
    """Listens as soon as it is entered (the socket is bound before uvicorn serves it)."""

    def __init__(self) -> None:
        self.sock = listening_socket()
        self.port = int(self.sock.getsockname()[1])
        self.url = self.url_for(HOOK)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        """Bodies POSTed to `url`, in arrival order (what `next()` reads for that path)."""
        self.arrivals: list[str] = []
        """Paths of every POST, in arrival order."""
        self._queues: dict[str, asyncio.Queue[Received]] = defaultdict(asyncio.Queue)
        self._counts: dict[str, int] = defaultdict(int)
        self._scripts: dict[str, list[int]] = {}
        self._always: dict[str, int] = {}
        self._redirects: dict[str, tuple[int, str]] = {}
        self._echo: set[str] = set()
        self._holds: dict[str, int] = defaultdict(int)
        self._held: dict[str, asyncio.Queue[Received]] = defaultdict(asyncio.Queue)
        self._closing = asyncio.Event()
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["POST"])])
        self._serving = serving(quiet_server(app), self.sock, timeout=WAIT)

    async def __aenter__(self) -> Receiver:
        await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()  # held requests are answered 503 now
        await self._serving.__aexit__(None, None, None)

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *statuses: int) -> None:
        """Answer the next POSTs to `path` with `statuses`, in order, then 200."""
        self._scripts[path] = list(statuses)

    def always(self, path: str, status: int) -> None:
        self._always[path] = status

    def redirect(self, path: str, status: int, location: str) -> None:
        """Answer every POST to `path` with `status` and `Location: location` ("" for none)."""
        self._redirects[path] = (status, location)

    def echo_challenge(self, path: str) -> None:
        """Answer a POST to `path` whose body has a `challenge` with `{"challenge": <it>}` (a
        subscriber webhook verifying itself)."""
        self._echo.add(path)

    def hold(self, path: str, count: int = 1) -> None:
        """Never answer the next `count` POSTs to `path` (a pager that hangs, so the sender is
        caught in the middle of its send): they are neither counted nor queued for `next()`,
        only for `next_held()`, and answered 503 when the receiver closes."""
        self._holds[path] += count

    async def next_held(self, path: str, timeout: float = WAIT) -> Received:
        """The next POST to `path` that is being held."""
        return await asyncio.wait_for(self._held[path].get(), timeout)

    def release(self) -> None:
        """Answer every held POST (503) now, and hold no more."""
        self._closing.set()

    def count(self, path: str) -> int:
        return self._counts[path]

    async def next(self, path: str = HOOK, timeout: float = WAIT) -> Received:
        """The next POST to `path` (for `url`'s path: the next body of `received`)."""
        if path == HOOK:
            return Received(path, {}, await asyncio.wait_for(self.received.get(), timeout))
        return await asyncio.wait_for(self._queues[path].get(), timeout)

    async def _endpoint(self, request: Request) -> Response:
        path = request.url.path
        raw = await request.body()
        body = json.loads(raw)
        if self._holds[path] > 0:
            self._holds[path] -= 1
            self._held[path].put_nowait(Received(path, dict(request.headers), body, raw))
            await self._closing.wait()
            return Response(status_code=503)
        self._counts[path] += 1
        self.arrivals.append(path)
        if path == HOOK:
            self.received.put_nowait(body)
        else:
            self._queues[path].put_nowait(Received(path, dict(request.headers), body, raw))
        if path in self._redirects:
            status, location = self._redirects[path]
            headers = {"Location": location} if location else {}
            return Response(status_code=status, headers=headers)
        if path in self._echo and "challenge" in body:
            return JSONResponse({"challenge": body["challenge"]})
        script = self._scripts.get(path)
        status = script.pop(0) if script else self._always.get(path, 200)
        return JSONResponse({"status": status}, status_code=status)
