"""A small Server-Sent Events reader for the tests (follows the WHATWG parsing rules we use)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


async def read_events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    event, data, last_id = "message", [], None
    async for line in lines:
        if line == "":
            if data:
                yield SseEvent(event, "\n".join(data), last_id)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            last_id = value


class SseClient:
    """Reads an SSE endpoint in the background into a queue; `next(match)` awaits a matching event.

    With `reconnect`, it behaves like a browser's EventSource: when the stream ends or fails it
    connects again, sending the id of the last event it received as `Last-Event-ID`
    (`connections` counts the streams opened)."""

    RECONNECT_SECONDS = 0.2
    """A browser waits the server's `retry:` (3 s) before reconnecting; tests are less patient."""

    def __init__(
        self, url: str, headers: dict[str, str] | None = None, *, reconnect: bool = False
    ) -> None:
        self.url = url
        self.headers = headers or {}
        self.reconnect = reconnect
        self.last_event_id: str | None = None
        self.connections = 0
        self.queue: asyncio.Queue[SseEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def _read(self, client: httpx.AsyncClient) -> None:
        headers = dict(self.headers)
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        async with client.stream("GET", self.url, headers=headers) as response:
            response.raise_for_status()
            self.connections += 1
            self.connected.set()
            async for event in read_events(response.aiter_lines()):
                if event.id is not None:
                    self.last_event_id = event.id
                await self.queue.put(event)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as client:
            if not self.reconnect:
                await self._read(client)
                return
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    await self._read(client)
                await asyncio.sleep(self.RECONNECT_SECONDS)

    async def __aenter__(self) -> SseClient:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def next(self, match: Callable[[SseEvent], bool], timeout: float = 15.0) -> SseEvent:
        """The first event (from now on in the queue) for which `match` is true."""

        async def find() -> SseEvent:
            while True:
                event = await self.queue.get()
                if match(event):
                    return event

        return await asyncio.wait_for(find(), timeout)
