"""A real local HTTP receiver standing in for a pager's webhook (served by uvicorn)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

WAIT = 10.0
"""Upper bound for awaiting something that should happen (a failure, not a timing)."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Receiver:
    """Records every POST per path; answers each path with scripted statuses, then 200."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrivals: list[str] = []
        self._queues: dict[str, asyncio.Queue[Received]] = defaultdict(asyncio.Queue)
        self._counts: dict[str, int] = defaultdict(int)
        self._scripts: dict[str, list[int]] = {}
        self._always: dict[str, int] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *statuses: int) -> None:
        """Answer the next POSTs to `path` with `statuses`, in order, then 200."""
        self._scripts[path] = list(statuses)

    def always(self, path: str, status: int) -> None:
        self._always[path] = status

    def count(self, path: str) -> int:
        return self._counts[path]

    async def next(self, path: str) -> Received:
        return await asyncio.wait_for(self._queues[path].get(), WAIT)

    async def endpoint(self, request: Request) -> Response:
        path = request.url.path
        body = json.loads(await request.body())
        self._counts[path] += 1
        self.arrivals.append(path)
        self._queues[path].put_nowait(Received(path, dict(request.headers), body))
        script = self._scripts.get(path)
        status = script.pop(0) if script else self._always.get(path, 200)
        return JSONResponse({"status": status}, status_code=status)
