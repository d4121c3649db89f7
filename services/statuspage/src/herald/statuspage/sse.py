"""Server-Sent Events fan-out: every change of the page pushed to every open browser.

Built for many browsers in one process (10,000 on two CPUs, see docs/performance.md):

- an event is encoded once per broadcast: every client is sent the same bytes (and the same
  ASGI message), and the snapshot a new browser gets first is built once per change of the page
  (cached by the last event id), not once per connection;
- a broadcast writes to each client's ASGI `send` directly, without waking a task per client:
  while a connection can take the bytes, uvicorn's `send` writes them to the socket and returns
  without suspending, so `_write` steps it once and is done. Only a client whose socket is full
  (a slow one) gets a task that finishes that write, and a small bounded list of frames after it;
  when that list is full the client is dropped (its response ends, its browser reconnects with
  `Last-Event-ID` and resumes) and never slows anyone else down;
- each connection is one ASGI task waiting in `receive()` for the browser to go away (what
  tells us it left), and a small `Client` object: no queue, no per-client timer. One heartbeat
  task writes a comment to everyone every `keepalive` seconds, for proxies.

A ring buffer keeps the last events by INCIDENTS stream sequence, so a browser that reconnects
gets exactly what it missed; when it asks for more than the buffer holds it gets a snapshot.
Event ids are `<epoch>-<seq>`: the epoch names the INCIDENTS stream's incarnation (its creation
time in ms, given by the caller), so after the stream is re-created (its sequences start over) an
id of the old stream is never mistaken for one of the new: it gets a snapshot.

No NATS, Redis or Starlette here: the app feeds `publish()`/`resync()` and routes `/events` to
`EventStream`, a plain ASGI app.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 3000
SNAPSHOT = "snapshot"
"""The event kind carrying the whole page."""
CLIENT_BUFFER = 100
"""Frames a slow client may fall behind before it is dropped."""
RETRY_AFTER_SECONDS = 30
"""What a browser refused for the connection limit is told to wait (it polls the JSON API)."""
POLL_PATH = "/api/page.json"
"""What a browser refused for the connection limit polls instead: the snapshot's document."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_EVENT_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})", re.ASCII)
"""What a Last-Event-ID of ours looks like: `<epoch>-<seq>`, ASCII digits, each a uint64 at
most (`str.isdigit()` would accept "²", which `int()` rejects; `int()` rejects 4300 digits)."""

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]


def stream_epoch(created: datetime) -> int:
    """The epoch of event ids for a stream created at `created`: its creation time in ms."""
    return int(created.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One Server-Sent Event; `id` is the INCIDENTS stream sequence it came from."""

    id: int
    event: str
    data: str
    """One line of JSON."""

    def encode(self, epoch: int = 0) -> bytes:
        head = f"id: {epoch}-{self.id}\nevent: {self.event}\n"
        data = self.data
        if "\n" not in data and "\r" not in data:  # one line (our JSON always is)
            return f"{head}data: {data}\n\n".encode()
        # Only CR and LF end an SSE line (str.splitlines would also split on U+2028 & co).
        lines = "\n".join(f"data: {part}" for part in _LINE_BREAK.split(data))
        return f"{head}{lines}\n\n".encode()


class Frame:
    """Bytes to write to every client, with the one ASGI message that carries them."""

    __slots__ = ("data", "event", "message")

    def __init__(self, data: bytes, event: SseEvent | None = None) -> None:
        self.event = event
        self.data = data
        self.message: Message = {"type": "http.response.body", "body": data, "more_body": True}


KEEPALIVE_FRAME = b": keep-alive\n\n"
RETRY_FRAME = Frame(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
_KEEPALIVE = Frame(KEEPALIVE_FRAME)
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


@dataclass(frozen=True, slots=True)
class EventId:
    """A parsed Last-Event-ID."""

    epoch: int
    seq: int


def parse_last_event_id(raw: str | None) -> EventId | None:
    """The `Last-Event-ID` header, None when absent or not ours (a garbage header, or a bare
    sequence from before ids had an epoch): such a client gets a snapshot, never a 500."""
    if raw is None:
        return None
    match = _EVENT_ID.fullmatch(raw.strip())
    if match is None:
        return None
    return EventId(int(match[1]), int(match[2]))


class RingBuffer:
    """The last `size` events (encoded), and from which sequence on it replays without a gap."""

    def __init__(self, size: int, floor: int = 0) -> None:
        self._frames: deque[Frame] = deque(maxlen=max(size, 1))
        self.floor = floor
        """Every event with a higher sequence that this process saw is in the buffer."""
        self.last_id = floor
        """The highest sequence seen (or the floor)."""
        self.version = 0
        """Counts the changes of the buffer: a snapshot built at one version is the page at it."""

    def start_at(self, floor: int) -> None:
        """Declare that every event after `floor` will be seen (the subscription starts there)."""
        self.floor = max(self.floor, floor)
        self.last_id = max(self.last_id, floor)
        self.version += 1

    def clear(self) -> None:
        """Forget every event and sequence (the stream was re-created: sequences start over)."""
        self._frames.clear()
        self.floor = 0
        self.last_id = 0
        self.version += 1

    def append(self, frame: Frame) -> None:
        assert frame.event is not None
        if len(self._frames) == self._frames.maxlen:
            first = self._frames[0].event
            assert first is not None
            self.floor = max(self.floor, first.id)
        self._frames.append(frame)
        self.last_id = max(self.last_id, frame.event.id)
        self.version += 1

    def frames_since(self, last_id: int) -> list[Frame] | None:
        """Frames after `last_id`, or None when some of them are no longer (or never were) here,
        or when `last_id` is beyond anything seen (another replica ahead: start over)."""
        if last_id < self.floor or last_id > self.last_id:
            return None
        return [f for f in self._frames if f.event is not None and f.event.id > last_id]

    def since(self, last_id: int) -> list[SseEvent] | None:
        """The events of `frames_since`."""
        frames = self.frames_since(last_id)
        return None if frames is None else [f.event for f in frames if f.event is not None]


class Client:
    """One connected browser. `pending` is None while its writes complete at once; otherwise
    (it is new, or its socket is full) it holds what it is to be sent next, at most the fan-out's
    `queue_size` frames."""

    __slots__ = ("dropped", "last_id", "pending", "send", "task", "writer")

    def __init__(self, initial: Iterable[Frame], last_id: int) -> None:
        self.send: Send | None = None
        self.pending: deque[Frame] | None = deque(initial)
        self.last_id = last_id
        """The sequence the client is at once `pending` is written (what it resumes from)."""
        self.dropped = False
        """Set when the fan-out ends this client's stream (too slow, or shutting down)."""
        self.task: asyncio.Task[Any] | None = None
        """The task serving the connection (cancelled to end the stream)."""
        self.writer: asyncio.Task[None] | None = None
        """The task finishing a write that could not complete at once (a slow client)."""


class Fanout:
    """Every connected client, the replay buffer, the snapshot cache and the rule for a client
    that cannot keep up (drop it)."""

    def __init__(
        self,
        buffer_size: int = 1000,
        queue_size: int = CLIENT_BUFFER,
        on_drop: Callable[[], None] = lambda: None,
        on_push: Callable[[int], None] = lambda n: None,
        keepalive: float = KEEPALIVE_SECONDS,
        epoch: int = 0,
    ) -> None:
        self.buffer = RingBuffer(buffer_size)
        self.queue_size = max(queue_size, 1)
        self.clients: set[Client] = set()
        self.keepalive = keepalive
        self.epoch = epoch
        """The INCIDENTS stream incarnation our ids belong to (`set_epoch`)."""
        self.on_drop = on_drop
        self.on_push = on_push
        """Called with how many frames a broadcast wrote (a metric, counted once per broadcast)."""
        self._snapshot: tuple[int, int, Frame] | None = None
        """(epoch, buffer version, frame) of the snapshot last built: the page changes with
        every event (a new buffer version), with a resync, and with a new epoch."""
        self._heartbeat: asyncio.Task[None] | None = None

    # -- what the board calls -----------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Ids from now on belong to stream incarnation `epoch` (call before following it)."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._snapshot = None

    def publish(self, event: SseEvent) -> None:
        """Remember `event` and write it to every client; a client that cannot keep up is dropped."""
        frame = Frame(event.encode(self.epoch), event)
        self.buffer.append(frame)
        self._broadcast(frame)

    def resync(self, snapshot: SseEvent) -> None:
        """Send every connected client `snapshot` (the whole page, not kept for replay): after
        it a client is at the snapshot's id, even a lower one (the stream started over). It is
        also the snapshot new clients get until the next change."""
        frame = Frame(snapshot.encode(self.epoch), snapshot)
        self._snapshot = (self.epoch, self.buffer.version, frame)
        self._broadcast(frame)

    def connect(self, last_event_id: EventId | None, snapshot: Callable[[int], SseEvent]) -> Client:
        """Register a client. It first gets what it missed since `last_event_id`, or a snapshot
        when it has no id, one of another epoch, one older than the buffer, or one this process
        has not reached (another replica was ahead, a forged header). After a snapshot the
        client is at the snapshot's id, whatever it sent: every later event is news to it.

        The snapshot is built by `snapshot(last_id)` at most once per change of the page."""
        missed = None
        if last_event_id is not None and last_event_id.epoch == self.epoch:
            missed = self.buffer.frames_since(last_event_id.seq)
        if missed is None:
            frame = self.snapshot_frame(snapshot)
            assert frame.event is not None
            client = Client((RETRY_FRAME, frame), frame.event.id)
        else:
            assert last_event_id is not None
            client = Client((RETRY_FRAME, *missed), last_event_id.seq)
        self.clients.add(client)
        return client

    def snapshot(self, snapshot: Callable[[int], SseEvent]) -> SseEvent:
        """The snapshot a client connecting now gets (see `snapshot_frame`)."""
        event = self.snapshot_frame(snapshot).event
        assert event is not None
        return event

    def snapshot_frame(self, snapshot: Callable[[int], SseEvent]) -> Frame:
        """The snapshot at the current id, built when the page changed since the last one."""
        cached = self._snapshot
        if cached is not None and cached[0] == self.epoch and cached[1] == self.buffer.version:
            return cached[2]
        event = snapshot(self.buffer.last_id)
        frame = Frame(event.encode(self.epoch), event)
        self._snapshot = (self.epoch, self.buffer.version, frame)
        return frame

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)
        if client.writer is not None:
            client.writer.cancel()

    def close(self) -> None:
        """End every stream (shutdown): browsers reconnect to another replica."""
        for client in list(self.clients):
            self._end(client)
        self.clients.clear()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    # -- serving one connection ---------------------------------------------------------------

    async def serve(self, client: Client, send: Send, receive: Receive) -> None:
        """Write `client`'s stream to `send` until the browser leaves or the fan-out ends it.
        The response has been started by the caller."""
        client.task = asyncio.current_task()
        self._start_heartbeat()
        try:
            await self._flush(client, send)
            while not client.dropped:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
        except asyncio.CancelledError:
            if not client.dropped or client.task is None:
                raise
            client.task.uncancel()  # we ended this stream (too slow, or shutting down)
        finally:
            self.disconnect(client)
        await send(_END)

    async def _flush(self, client: Client, send: Send) -> None:
        """Write what `client` has pending, until nothing is: from then on broadcasts write to
        it directly. No await between the last check and `pending = None`: nothing is lost."""
        pending = client.pending
        while pending:
            frame = pending.popleft()
            if frame.event is not None:
                client.last_id = frame.event.id
            await send(frame.message)
        if not client.dropped:
            client.send = send
            client.pending = None

    def _broadcast(self, frame: Frame) -> None:
        written = 0
        message = frame.message
        event = frame.event
        for client in tuple(self.clients):
            pending = client.pending
            if pending is not None:
                if len(pending) >= self.queue_size:
                    self._drop(client)
                    continue
                pending.append(frame)
            else:
                if event is not None:
                    client.last_id = event.id
                send = client.send
                assert send is not None
                self._write(client, send(message))
            written += 1
        if event is not None:
            self.on_push(written)

    def _write(self, client: Client, write: Awaitable[None]) -> None:
        """Run `write` (an ASGI send) as far as it goes now. When it has to wait (the socket is
        full), a task finishes it and the client collects frames in `pending` meanwhile."""
        coro: Coroutine[Any, Any, None] = write  # type: ignore[assignment]
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception:  # an ASGI server that raises once the client is gone (spec 2.4)
            self._drop(client)
            return
        client.pending = deque()
        client.writer = asyncio.get_running_loop().create_task(self._finish(client, coro, waiting))

    async def _finish(self, client: Client, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        """What a Task would do with `coro` after it yielded `waiting`, then flush `pending`."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                if waiting is None:
                    await asyncio.sleep(0)  # a bare yield: just let others run
                else:
                    waiting._asyncio_future_blocking = False
                    resumed: asyncio.Future[None] = loop.create_future()
                    waiting.add_done_callback(functools.partial(_settle, resumed))
                    await resumed
                try:
                    waiting = coro.send(None)
                except StopIteration:
                    break
            send = client.send
            if send is not None and not client.dropped:
                await self._flush(client, send)
        except BaseException:
            coro.close()
            raise
        finally:
            if client.writer is asyncio.current_task():
                client.writer = None

    def _drop(self, client: Client) -> None:
        self.clients.discard(client)
        self._end(client)
        self.on_drop()

    def _end(self, client: Client) -> None:
        client.dropped = True
        if client.writer is not None:
            client.writer.cancel()
            client.writer = None
        if client.task is not None:
            client.task.cancel()

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(
                self._beat(), name="sse-heartbeat"
            )

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive)
            self._broadcast(_KEEPALIVE)


def _settle(future: asyncio.Future[None], _: object) -> None:
    if not future.done():
        future.set_result(None)


class EventStream:
    """`GET /events` as a plain ASGI app: the connection limit (a 503 with Retry-After beyond
    it), then the client's stream from the fan-out."""

    def __init__(
        self,
        fanout: Fanout,
        snapshot: Callable[[int], SseEvent],
        max_clients: int,
        retry_after: int = RETRY_AFTER_SECONDS,
    ) -> None:
        self.fanout = fanout
        self.snapshot = snapshot
        self.max_clients = max_clients
        self.retry_after = retry_after

    HEADERS = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"x-accel-buffering", b"no"),
    ]

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if len(self.fanout.clients) >= self.max_clients:
            await self.refuse(send)
            return
        raw = None
        for name, value in scope.get("headers", ()):
            if name == b"last-event-id":
                raw = value.decode("latin-1")
        client = self.fanout.connect(parse_last_event_id(raw), self.snapshot)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.HEADERS})
        except BaseException:
            self.fanout.disconnect(client)
            raise
        await self.fanout.serve(client, send, receive)

    async def refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "too many live connections to this server",
                "retry_after": self.retry_after,
                "poll": POLL_PATH,
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(self.retry_after).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
