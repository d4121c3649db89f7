"""Server-Sent Events fan-out: every change of the page pushed to every open browser.

One bounded queue per client: a client whose queue is full is dropped (its browser
reconnects with `Last-Event-ID` and resumes) rather than slowing everyone else down. A ring
buffer keeps the last events by INCIDENTS stream sequence, so a browser that reconnects gets
exactly what it missed; when it asks for more than the buffer holds it gets a `snapshot`.

No NATS, Redis or Starlette here: the app feeds `publish()` and streams `Client.frames()`.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

KEEPALIVE_SECONDS = 15.0
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SEQUENCE = re.compile(r"[0-9]{1,20}", re.ASCII)
"""What a Last-Event-ID of ours looks like: ASCII digits, no more than a uint64 has."""
RETRY_MILLISECONDS = 3000
SNAPSHOT = "snapshot"
"""The event kind carrying the whole page."""


@dataclass(frozen=True)
class SseEvent:
    """One Server-Sent Event; `id` is the INCIDENTS stream sequence it came from."""

    id: int
    event: str
    data: str
    """One line of JSON."""

    def encode(self) -> bytes:
        lines = [f"id: {self.id}", f"event: {self.event}"]
        # Only CR and LF end an SSE line (str.splitlines would also split on U+2028 & co).
        lines.extend(f"data: {part}" for part in _LINE_BREAK.split(self.data))
        return ("\n".join(lines) + "\n\n").encode()


KEEPALIVE_FRAME = b": keep-alive\n\n"


class RingBuffer:
    """The last `size` events, and from which sequence on it can replay without a gap."""

    def __init__(self, size: int, floor: int = 0) -> None:
        self._events: deque[SseEvent] = deque(maxlen=max(size, 1))
        self.floor = floor
        """Every event with a higher sequence that this process saw is in the buffer."""
        self.last_id = floor
        """The highest sequence seen (or the floor)."""

    def start_at(self, floor: int) -> None:
        """Declare that every event after `floor` will be seen (the subscription starts there)."""
        self.floor = max(self.floor, floor)
        self.last_id = max(self.last_id, floor)

    def clear(self) -> None:
        """Forget every event and sequence (the stream was re-created: sequences start over)."""
        self._events.clear()
        self.floor = 0
        self.last_id = 0

    def append(self, event: SseEvent) -> None:
        if len(self._events) == self._events.maxlen:
            self.floor = max(self.floor, self._events[0].id)
        self._events.append(event)
        self.last_id = max(self.last_id, event.id)

    def since(self, last_id: int) -> list[SseEvent] | None:
        """Events after `last_id`, or None when some of them are no longer (or never were) here,
        or when `last_id` is beyond anything seen (the stream was recreated: start over)."""
        if last_id < self.floor or last_id > self.last_id:
            return None
        return [e for e in self._events if e.id > last_id]


def parse_last_event_id(raw: str | None) -> int | None:
    """The `Last-Event-ID` header as a sequence, None when absent or not ours (anything but
    ASCII digits: `str.isdigit()` would accept "²", which `int()` rejects, and `int()` rejects
    more than 4300 digits). An id beyond anything seen is the buffer's business (a snapshot)."""
    if raw is None or _SEQUENCE.fullmatch(raw.strip()) is None:
        return None
    return int(raw.strip())


@dataclass(eq=False)
class Client:
    """One connected browser: its queue and the last id it was sent."""

    queue: asyncio.Queue[SseEvent]
    last_id: int
    initial: list[SseEvent]
    dropped: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def frames(
        self, keepalive: float = KEEPALIVE_SECONDS, on_send: Callable[[], None] = lambda: None
    ) -> AsyncIterator[bytes]:
        """The bytes to stream: retry hint, catch-up events, then live events and keep-alives."""
        yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
        for event in self.initial:
            self.last_id = max(self.last_id, event.id)
            on_send()
            yield event.encode()
        while not self.dropped and not self.closed.is_set():
            get = asyncio.ensure_future(self.queue.get())
            closing = asyncio.ensure_future(self.closed.wait())
            try:
                done, _ = await asyncio.wait(
                    {get, closing}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                closing.cancel()
                if not get.done():
                    get.cancel()
            if get in done and not get.cancelled():
                event = get.result()
                if self.dropped:
                    return
                if event.id <= self.last_id and event.event != SNAPSHOT:
                    continue  # already sent in the catch-up (a snapshot starts the ids over)
                self.last_id = event.id
                on_send()
                yield event.encode()
            elif not done:
                yield KEEPALIVE_FRAME


class Fanout:
    """Every connected client, the replay buffer, and the rule for a full queue (drop)."""

    def __init__(
        self,
        buffer_size: int = 1000,
        queue_size: int = 100,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        self.buffer = RingBuffer(buffer_size)
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self._on_drop = on_drop

    def publish(self, event: SseEvent) -> None:
        """Remember `event` and hand it to every client; a client that cannot keep up is dropped."""
        self.buffer.append(event)
        for client in list(self.clients):
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(client)

    def resync(self, snapshot: SseEvent) -> None:
        """Send every connected client `snapshot` (the whole page, not kept for replay): after
        it a client is at the snapshot's id, even a lower one (the stream started over)."""
        for client in list(self.clients):
            try:
                client.queue.put_nowait(snapshot)
            except asyncio.QueueFull:
                self._drop(client)

    def connect(self, last_event_id: int | None, snapshot: Callable[[int], SseEvent]) -> Client:
        """Register a client. It first gets what it missed since `last_event_id`, or a snapshot
        (built now, with the current id) when it has no id, one older than the buffer, or one
        this process has not reached (another replica was ahead, the stream was recreated, a
        forged header). After a snapshot the client is at the snapshot's id, whatever it sent:
        every later event is news to it."""
        missed = self.buffer.since(last_event_id) if last_event_id is not None else None
        if missed is None:
            first = snapshot(self.buffer.last_id)
            initial, last_id = [first], first.id
        else:
            initial, last_id = missed, last_event_id or 0
        client = Client(queue=asyncio.Queue(self.queue_size), last_id=last_id, initial=initial)
        self.clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)

    def close(self) -> None:
        """End every stream (shutdown): browsers reconnect to another replica."""
        for client in list(self.clients):
            client.closed.set()
        self.clients.clear()

    def _drop(self, client: Client) -> None:
        client.dropped = True
        self.clients.discard(client)
        client.closed.set()
        self._on_drop()
