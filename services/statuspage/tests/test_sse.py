"""SSE fan-out: framing, epoch ids, resume from the ring buffer, cached snapshots, one encoding
per broadcast, the connection limit, dropping slow clients. Browsers are plain ASGI
`send`/`receive` pairs in memory (what uvicorn hands the app), so nothing here needs a socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from herald.statuspage.sse import (
    KEEPALIVE_FRAME,
    EventId,
    EventStream,
    Fanout,
    Frame,
    RingBuffer,
    SseEvent,
    parse_last_event_id,
)

TIMEOUT = 5.0
EPOCH = 1_717_000_000_000


def ev(seq: int, kind: str = "component.status_changed") -> SseEvent:
    return SseEvent(seq, kind, f'{{"seq":{seq}}}')


def snapshot(seq: int) -> SseEvent:
    return SseEvent(seq, "snapshot", '{"kind":"snapshot"}')


def frame(seq: int) -> Frame:
    return Frame(ev(seq).encode(), ev(seq))


def at(seq: int, epoch: int = EPOCH) -> EventId:
    return EventId(epoch, seq)


class Browser:
    """One connection as the ASGI server gives it to the app: `send` records the bodies (and
    waits while `gate` is closed: a browser that does not read), `receive` waits until it leaves."""

    def __init__(self) -> None:
        self.bodies: asyncio.Queue[bytes] = asyncio.Queue()
        self.messages: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self.ended = False

    async def send(self, message: dict[str, Any]) -> None:
        if not self.gate.is_set():
            await self.gate.wait()
        self.messages.append(message)
        if message["type"] == "http.response.body":
            if message.get("body"):
                self.bodies.put_nowait(message["body"])
            if not message.get("more_body", False):
                self.ended = True

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def next(self) -> bytes:
        return await asyncio.wait_for(self.bodies.get(), TIMEOUT)

    def received(self) -> list[bytes]:
        out = []
        while not self.bodies.empty():
            out.append(self.bodies.get_nowait())
        return out


class Open:
    """A browser connected to a fan-out, its serving task running."""

    def __init__(self, fan: Fanout, last: EventId | None = None, build: Any = snapshot) -> None:
        self.browser = Browser()
        self.client = fan.connect(last, build)
        self.task = asyncio.create_task(
            fan.serve(self.client, self.browser.send, self.browser.receive)
        )

    async def next(self) -> bytes:
        return await self.browser.next()

    async def ended(self) -> None:
        await asyncio.wait_for(self.task, TIMEOUT)
        assert self.browser.ended


def fanout(**kw: Any) -> Fanout:
    return Fanout(epoch=EPOCH, **kw)


def test_encode_carries_the_epoch():
    assert ev(7).encode(EPOCH) == (
        f'id: {EPOCH}-7\nevent: component.status_changed\ndata: {{"seq":7}}\n\n'.encode()
    )


def test_encode_splits_only_on_sse_line_breaks():
    assert (
        SseEvent(1, "e", "a\u2028b\nc").encode(5)
        == "id: 5-1\nevent: e\ndata: a\u2028b\ndata: c\n\n".encode()
    )
    assert (
        SseEvent(1, "e", "a\r\nb\rc").encode(5)
        == b"id: 5-1\nevent: e\ndata: a\ndata: b\ndata: c\n\n"
    )


def test_parse_last_event_id():
    assert parse_last_event_id(f"{EPOCH}-12") == EventId(EPOCH, 12)
    assert parse_last_event_id(" 0-3 ") == EventId(0, 3)
    assert parse_last_event_id(None) is None
    assert parse_last_event_id("12") is None  # an id from before epochs: a snapshot
    assert parse_last_event_id("abc") is None
    assert parse_last_event_id("1--1") is None
    assert parse_last_event_id("") is None
    assert parse_last_event_id("1-1e3") is None


@pytest.mark.parametrize(
    "raw",
    [
        "1-\u00b2",  # "²": str.isdigit() is True, int() raises; a 0xB2 header byte decodes to it
        "\u0661-1",  # ARABIC-INDIC DIGIT ONE: int() would accept it, it is not ours
        "1-" + "9" * 5000,  # more digits than int() converts (Python >= 3.11 limit)
        "1-+5",
        "1_000-1",
    ],
)
def test_a_garbage_last_event_id_is_ignored_not_an_error(raw):
    # As for any id that is not ours: the client gets a snapshot (not a 500).
    assert parse_last_event_id(raw) is None


def test_ring_buffer_replays_what_was_missed():
    buf = RingBuffer(size=3)
    for seq in (1, 2, 3):
        buf.append(frame(seq))

    assert [e.id for e in buf.since(1) or []] == [2, 3]
    assert buf.since(3) == []


def test_ring_buffer_says_when_an_id_is_too_old():
    buf = RingBuffer(size=2)
    for seq in (1, 2, 3, 4):
        buf.append(frame(seq))

    assert buf.since(1) is None  # 2 was evicted
    assert [e.id for e in buf.since(2) or []] == [3, 4]


def test_ring_buffer_floor_is_where_the_subscription_started():
    buf = RingBuffer(size=10)
    buf.start_at(40)
    buf.append(frame(41))

    assert buf.since(39) is None  # 40 happened before this process listened
    assert [e.id for e in buf.since(40) or []] == [41]
    assert buf.since(99) is None  # beyond anything seen: another replica was ahead


def test_a_cleared_ring_buffer_starts_over():
    buf = RingBuffer(10)
    buf.start_at(40)
    buf.append(frame(41))
    buf.clear()
    assert buf.since(41) is None
    buf.append(frame(1))
    assert buf.since(0) == [ev(1)]


async def test_a_new_client_gets_a_snapshot_first_then_live_events():
    fan = fanout()
    fan.buffer.start_at(10)
    page = Open(fan)

    assert (await page.next()).startswith(b"retry: ")
    assert await page.next() == snapshot(10).encode(EPOCH)
    fan.publish(ev(11))
    assert await page.next() == ev(11).encode(EPOCH)


async def test_a_reconnecting_client_gets_only_what_it_missed():
    fan = fanout()
    for seq in (1, 2, 3):
        fan.publish(ev(seq))

    page = Open(fan, at(1))
    await page.next()  # retry hint

    assert await page.next() == ev(2).encode(EPOCH)
    assert await page.next() == ev(3).encode(EPOCH)
    fan.publish(ev(4))
    assert await page.next() == ev(4).encode(EPOCH)


async def test_an_id_of_another_stream_epoch_gets_a_snapshot_and_the_same_epoch_resumes():
    # The INCIDENTS stream was re-created: its sequences started over, so "3" of the old stream
    # is not "3" of this one. The epoch in the id tells them apart.
    fan = fanout()
    for seq in (1, 2, 3, 4):
        fan.publish(ev(seq))

    old = Open(fan, at(3, epoch=EPOCH - 1))
    await old.next()
    assert await old.next() == snapshot(4).encode(EPOCH)

    same = Open(fan, at(3))
    await same.next()
    assert await same.next() == ev(4).encode(EPOCH)


async def test_set_epoch_makes_earlier_ids_strangers():
    fan = fanout()
    fan.publish(ev(1))
    fan.buffer.clear()
    fan.set_epoch(EPOCH + 1)
    fan.publish(ev(1))

    page = Open(fan, at(0))  # epoch EPOCH: the old stream
    await page.next()
    assert await page.next() == snapshot(1).encode(EPOCH + 1)


async def test_a_client_too_far_behind_gets_a_snapshot():
    fan = fanout(buffer_size=2)
    for seq in (1, 2, 3, 4):
        fan.publish(ev(seq))

    page = Open(fan, at(1))
    await page.next()

    assert await page.next() == snapshot(4).encode(EPOCH)


async def test_every_client_is_sent_the_same_bytes_encoded_once():
    fan = fanout()
    pages = [Open(fan) for _ in range(3)]
    for page in pages:
        await page.next()
        await page.next()

    fan.publish(ev(1))
    got = [await page.next() for page in pages]

    assert got[0] == ev(1).encode(EPOCH)
    assert got[0] is got[1] is got[2]  # one bytes object, not one encoding per client


async def test_the_snapshot_is_built_once_per_change_not_once_per_connection():
    built: list[int] = []

    def build(seq: int) -> SseEvent:
        built.append(seq)
        return snapshot(seq)

    fan = fanout()
    fan.publish(ev(1))
    first = [Open(fan, build=build) for _ in range(3)]
    fan.publish(ev(2))
    later = [Open(fan, build=build) for _ in range(2)]

    assert built == [1, 2]
    bodies = []
    for page in [*first, *later]:
        await page.next()
        bodies.append(await page.next())
    assert bodies[0] is bodies[1] is bodies[2]
    assert bodies[3] is bodies[4]
    assert bodies[3] == snapshot(2).encode(EPOCH)


async def test_a_resync_snapshot_is_the_one_new_clients_get():
    built: list[int] = []

    def build(seq: int) -> SseEvent:
        built.append(seq)
        return snapshot(seq)

    fan = fanout()
    fan.resync(snapshot(0))
    page = Open(fan, build=build)
    await page.next()

    assert await page.next() == snapshot(0).encode(EPOCH)
    assert built == []


async def test_a_slow_client_is_dropped_without_holding_the_others():
    dropped: list[int] = []
    fan = fanout(queue_size=2, on_drop=lambda: dropped.append(1))
    slow, fast = Open(fan), Open(fan)
    for page in (slow, fast):
        await page.next()
        await page.next()
    slow.browser.gate.clear()  # the slow browser stops reading: its socket is full

    for seq in (1, 2, 3, 4):
        fan.publish(ev(seq))
        assert await fast.next() == ev(seq).encode(EPOCH)  # never waits for the slow one

    assert dropped == [1]
    assert slow.client.dropped
    assert fan.clients == {fast.client}
    slow.browser.gate.set()
    await slow.ended()  # its response ends: the browser reconnects and resumes
    assert all(b"-4\n" not in body for body in slow.browser.received())
    fan.publish(ev(5))
    assert await fast.next() == ev(5).encode(EPOCH)


async def test_a_client_that_catches_up_gets_everything_in_order():
    fan = fanout(queue_size=10)
    page = Open(fan)
    await page.next()
    await page.next()
    page.browser.gate.clear()
    for seq in (1, 2, 3):
        fan.publish(ev(seq))
    page.browser.gate.set()

    assert [await page.next() for _ in range(3)] == [ev(s).encode(EPOCH) for s in (1, 2, 3)]
    assert not page.client.dropped
    fan.publish(ev(4))
    assert await page.next() == ev(4).encode(EPOCH)


async def test_a_browser_that_leaves_is_forgotten():
    fan = fanout()
    page = Open(fan)
    await page.next()
    page.browser.gone.set()
    await asyncio.wait_for(page.task, TIMEOUT)

    assert fan.clients == set()


async def test_close_ends_every_stream():
    fan = fanout()
    pages = [Open(fan) for _ in range(2)]
    for page in pages:
        await page.next()
        await page.next()

    fan.close()

    for page in pages:
        await page.ended()
    assert fan.clients == set()


async def test_keepalive_when_nothing_happens():
    fan = fanout(keepalive=0.01)
    page = Open(fan, at(0))
    await page.next()

    assert await page.next() == KEEPALIVE_FRAME


async def test_events_already_sent_in_the_catch_up_are_not_sent_twice():
    fan = fanout()
    fan.publish(ev(1))
    page = Open(fan, at(0))
    fan.publish(ev(2))
    await page.next()

    assert await page.next() == ev(1).encode(EPOCH)
    assert await page.next() == ev(2).encode(EPOCH)
    fan.publish(ev(3))
    assert await page.next() == ev(3).encode(EPOCH)


async def test_resume_on_a_lagging_replica_does_not_drop_the_event_it_has_not_seen_yet():
    # Two replicas behind a load balancer: the browser saw 100 on replica A, reconnects to
    # replica B which has published up to 99 (it lags by a few ms). B answers with a snapshot
    # of its own state (without event 100), so event 100 is still news to the browser.
    fan = fanout()
    for seq in range(90, 100):
        fan.publish(ev(seq))

    page = Open(fan, at(100))
    await page.next()  # retry hint
    assert await page.next() == snapshot(99).encode(EPOCH)  # B's state, without event 100

    fan.publish(ev(100))  # B now receives event 100: the snapshot did not contain it
    assert await page.next() == ev(100).encode(EPOCH)


async def test_resync_sends_a_snapshot_after_which_lower_ids_are_news():
    fan = fanout()
    page = Open(fan)
    await page.next()  # retry hint
    await page.next()  # the first snapshot
    fan.publish(ev(7))
    assert await page.next() == ev(7).encode(EPOCH)

    fan.buffer.clear()  # the stream started over
    fan.resync(snapshot(0))
    fan.publish(ev(1))

    assert await page.next() == snapshot(0).encode(EPOCH)
    assert await page.next() == ev(1).encode(EPOCH)
    assert page.client.last_id == 1


async def test_pushes_are_counted_once_per_broadcast():
    counts: list[int] = []
    fan = fanout(on_push=counts.append)
    pages = [Open(fan) for _ in range(3)]
    for page in pages:
        await page.next()
        await page.next()

    fan.publish(ev(1))

    assert counts == [3]


async def test_beyond_the_connection_limit_a_503_with_retry_after():
    fan = fanout()
    endpoint = EventStream(fan, snapshot, max_clients=1, retry_after=17)
    first = Browser()
    scope: dict[str, Any] = {"type": "http", "headers": []}
    serving = asyncio.create_task(endpoint(scope, first.receive, first.send))
    await first.next()  # the first browser is streaming

    refused = Browser()
    await asyncio.wait_for(endpoint(scope, refused.receive, refused.send), TIMEOUT)

    start = refused.messages[0]
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"retry-after"] == b"17"
    assert headers[b"content-type"] == b"application/json"
    body = json.loads(refused.messages[1]["body"])
    assert body["retry_after"] == 17
    assert body["poll"] == "/api/page.json"
    assert refused.ended
    assert len(fan.clients) == 1

    first.gone.set()
    await asyncio.wait_for(serving, TIMEOUT)
    again = Browser()
    task = asyncio.create_task(endpoint(scope, again.receive, again.send))
    await again.next()  # room again
    assert again.messages[0]["status"] == 200
    again.gone.set()
    await asyncio.wait_for(task, TIMEOUT)


async def test_the_endpoint_resumes_from_the_last_event_id_header():
    fan = fanout()
    for seq in (1, 2):
        fan.publish(ev(seq))
    endpoint = EventStream(fan, snapshot, max_clients=10)
    browser = Browser()
    scope = {"type": "http", "headers": [(b"last-event-id", f"{EPOCH}-1".encode())]}
    task = asyncio.create_task(endpoint(scope, browser.receive, browser.send))

    await browser.next()
    assert await browser.next() == ev(2).encode(EPOCH)
    assert dict(browser.messages[0]["headers"])[b"content-type"].startswith(b"text/event-stream")
    browser.gone.set()
    await asyncio.wait_for(task, TIMEOUT)
