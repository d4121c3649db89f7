"""SSE fan-out: framing, resume from the ring buffer, snapshots, dropping slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from herald.statuspage.stream import (
    KEEPALIVE_FRAME,
    Fanout,
    RingBuffer,
    SseEvent,
    parse_last_event_id,
)

TIMEOUT = 5.0


def ev(seq: int, kind: str = "component.status_changed") -> SseEvent:
    return SseEvent(seq, kind, f'{{"seq":{seq}}}')


def snapshot(seq: int) -> SseEvent:
    return SseEvent(seq, "snapshot", '{"kind":"snapshot"}')


async def next_frame(frames: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(anext(frames), TIMEOUT)


def test_encode():
    assert ev(7).encode() == b'id: 7\nevent: component.status_changed\ndata: {"seq":7}\n\n'


def test_encode_splits_only_on_sse_line_breaks():
    assert (
        SseEvent(1, "e", "a\u2028b\nc").encode()
        == "id: 1\nevent: e\ndata: a\u2028b\ndata: c\n\n".encode()
    )


def test_parse_last_event_id():
    assert parse_last_event_id("12") == 12
    assert parse_last_event_id(" 3 ") == 3
    assert parse_last_event_id(None) is None
    assert parse_last_event_id("abc") is None
    assert parse_last_event_id("-1") is None
    assert parse_last_event_id("") is None
    assert parse_last_event_id("1e3") is None


@pytest.mark.parametrize(
    "raw",
    [
        "\u00b2",  # "²": str.isdigit() is True, int() raises; a 0xB2 header byte decodes to it
        "\u0661",  # ARABIC-INDIC DIGIT ONE: int() would accept it, it is not ours
        "9" * 5000,  # more digits than int() converts (Python >= 3.11 limit)
        "-5",
        "+5",
        "1_000",
    ],
)
def test_a_garbage_last_event_id_is_ignored_not_an_error(raw):
    # As for any id that is not ours: the client gets a snapshot (not a 500).
    assert parse_last_event_id(raw) is None


def test_ring_buffer_replays_what_was_missed():
    buf = RingBuffer(size=3)
    for seq in (1, 2, 3):
        buf.append(ev(seq))

    assert [e.id for e in buf.since(1) or []] == [2, 3]
    assert buf.since(3) == []


def test_ring_buffer_says_when_an_id_is_too_old():
    buf = RingBuffer(size=2)
    for seq in (1, 2, 3, 4):
        buf.append(ev(seq))

    assert buf.since(1) is None  # 2 was evicted
    assert [e.id for e in buf.since(2) or []] == [3, 4]


def test_ring_buffer_floor_is_where_the_subscription_started():
    buf = RingBuffer(size=10)
    buf.start_at(40)
    buf.append(ev(41))

    assert buf.since(39) is None  # 40 happened before this process listened
    assert [e.id for e in buf.since(40) or []] == [41]
    assert buf.since(99) is None  # beyond anything seen: the stream was recreated


async def test_a_new_client_gets_a_snapshot_first_then_live_events():
    fan = Fanout()
    fan.buffer.start_at(10)
    client = fan.connect(None, snapshot)
    frames = client.frames()

    assert (await next_frame(frames)).startswith(b"retry: ")
    assert await next_frame(frames) == snapshot(10).encode()
    fan.publish(ev(11))
    assert await next_frame(frames) == ev(11).encode()


async def test_a_reconnecting_client_gets_only_what_it_missed():
    fan = Fanout()
    for seq in (1, 2, 3):
        fan.publish(ev(seq))

    client = fan.connect(1, snapshot)
    frames = client.frames()
    await next_frame(frames)  # retry hint

    assert await next_frame(frames) == ev(2).encode()
    assert await next_frame(frames) == ev(3).encode()
    fan.publish(ev(4))
    assert await next_frame(frames) == ev(4).encode()


async def test_a_client_too_far_behind_gets_a_snapshot():
    fan = Fanout(buffer_size=2)
    for seq in (1, 2, 3, 4):
        fan.publish(ev(seq))

    client = fan.connect(1, snapshot)
    frames = client.frames()
    await next_frame(frames)

    assert await next_frame(frames) == snapshot(4).encode()


async def test_a_slow_client_is_dropped_without_holding_the_others():
    dropped: list[int] = []
    fan = Fanout(queue_size=2, on_drop=lambda: dropped.append(1))
    slow = fan.connect(0, snapshot)
    fast = fan.connect(0, snapshot)
    fast_frames = fast.frames()
    await next_frame(fast_frames)

    for seq in (1, 2, 3):
        fan.publish(ev(seq))
        assert await next_frame(fast_frames) == ev(seq).encode()

    assert dropped == [1]
    assert slow.dropped
    assert fan.clients == {fast}
    slow_frames = [frame async for frame in slow.frames()]
    assert all(b"id: 3" not in f for f in slow_frames)  # it reconnects and resumes instead


async def test_close_ends_every_stream():
    fan = Fanout()
    client = fan.connect(None, snapshot)
    frames = client.frames()
    await next_frame(frames)
    await next_frame(frames)

    fan.close()

    assert [f async for f in frames] == []
    assert fan.clients == set()


async def test_keepalive_when_nothing_happens():
    fan = Fanout()
    client = fan.connect(0, snapshot)
    frames = client.frames(keepalive=0.01)
    await next_frame(frames)

    assert await next_frame(frames) == KEEPALIVE_FRAME


async def test_events_already_sent_in_the_catch_up_are_not_sent_twice():
    fan = Fanout()
    fan.publish(ev(1))
    client = fan.connect(0, snapshot)
    fan.publish(ev(2))
    frames = client.frames()
    await next_frame(frames)

    assert await next_frame(frames) == ev(1).encode()
    assert await next_frame(frames) == ev(2).encode()
    fan.publish(ev(3))
    assert await next_frame(frames) == ev(3).encode()


async def test_resume_on_a_lagging_replica_does_not_drop_the_event_it_has_not_seen_yet():
    # Two replicas behind a load balancer: the browser saw 100 on replica A, reconnects to
    # replica B which has published up to 99 (it lags by a few ms). B answers with a snapshot
    # of its own state (without event 100), so event 100 is still news to the browser.
    fan = Fanout()
    for seq in range(90, 100):
        fan.publish(ev(seq))

    client = fan.connect(100, snapshot)
    frames = client.frames()
    await next_frame(frames)  # retry hint
    assert await next_frame(frames) == snapshot(99).encode()  # B's state, without event 100

    fan.publish(ev(100))  # B now receives event 100: the snapshot did not contain it
    assert await next_frame(frames) == ev(100).encode()


async def test_a_last_event_id_from_the_future_does_not_freeze_the_stream():
    # The stream was recreated (sequences start again) or the header is simply too big.
    fan = Fanout()
    for seq in (1, 2, 3):
        fan.publish(ev(seq))

    client = fan.connect(5000, snapshot)
    frames = client.frames()
    await next_frame(frames)  # retry hint
    assert await next_frame(frames) == snapshot(3).encode()

    fan.publish(ev(4))
    assert await next_frame(frames) == ev(4).encode()


def test_a_cleared_ring_buffer_starts_over():
    buf = RingBuffer(10)
    buf.start_at(40)
    buf.append(ev(41))
    buf.clear()
    assert buf.since(41) is None  # an id of the old stream: a snapshot
    buf.append(ev(1))
    assert buf.since(0) == [ev(1)]


async def test_resync_sends_a_snapshot_after_which_lower_ids_are_news():
    fan = Fanout()
    client = fan.connect(None, snapshot)
    frames = client.frames(keepalive=60)
    await next_frame(frames)  # retry hint
    await next_frame(frames)  # the first snapshot
    fan.publish(ev(7))
    assert await next_frame(frames) == ev(7).encode()

    fan.resync(snapshot(0))  # the stream started over
    fan.publish(ev(1))

    assert await next_frame(frames) == snapshot(0).encode()
    assert await next_frame(frames) == ev(1).encode()
    assert client.last_id == 1
