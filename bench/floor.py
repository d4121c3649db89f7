"""Floors: the bare JetStream and Redis operations Herald's path is made of, measured on the
same servers in the same run, so that Herald's figures can be read as a ratio to them.

- `open_stream`: a stream of the benchmark's own (not one of Herald's), file storage with a
  duplicate window, as Herald's ALERTS stream;
- `publish_rate`: what ingest does per webhook, bare: publish a batch of messages concurrently
  with a `Nats-Msg-Id`, awaiting every ack, several batches in flight;
- `step_rate`: what a correlator does per alert, bare: pull-fetch a batch, one pipelined Redis
  round trip of an EVALSHA (a SET) per message, publish one event per message awaiting its ack,
  ack every message.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import StorageType, StreamConfig
from redis.asyncio import Redis

SET_SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]) return 1"


async def open_stream(nc: NatsClient, name: str, subject: str) -> None:
    await nc.jetstream().add_stream(
        StreamConfig(
            name=name,
            subjects=[f"{subject}.>", subject],
            storage=StorageType.FILE,
            duplicate_window=600,
        )
    )


@dataclass(frozen=True)
class FloorRates:
    """Messages per second of each bare step."""

    publish: float
    """ingest's floor: batched concurrent publishes awaiting their acks."""
    step: float
    """a correlator's floor: fetch + pipelined Redis + publish + ack, per message."""


async def publish_rate(
    nc: NatsClient, subject: str, payload: bytes, count: int, batch: int, in_flight: int, tag: str
) -> float:
    """Publish `count` messages in batches of `batch` (concurrent within a batch, each awaiting
    its ack), `in_flight` batches at a time. Returns messages per second."""
    js = nc.jetstream()
    starts = list(range(0, count, batch))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for s in starts:
        queue.put_nowait(s)

    async def worker() -> None:
        while not queue.empty():
            first = queue.get_nowait()
            await asyncio.gather(
                *(
                    js.publish(subject, payload, headers={"Nats-Msg-Id": f"{tag}-{i}"})
                    for i in range(first, min(first + batch, count))
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return count / (time.perf_counter() - started)


async def step_rate(
    nc: NatsClient,
    redis: Redis,
    stream: str,
    subject: str,
    out_subject: str,
    count: int,
    batch: int,
) -> float:
    """Work through `count` messages already in `stream` on `subject` as a correlator would,
    bare. Returns messages per second."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(subject, durable="bench-floor", stream=stream)
    sha = await redis.script_load(SET_SCRIPT)
    handled = 0
    started = time.perf_counter()
    try:
        while handled < count:
            try:
                msgs = await sub.fetch(min(batch, count - handled), timeout=5)
            except (NatsTimeoutError, TimeoutError) as exc:
                raise RuntimeError(f"floor: only {handled} of {count} messages came") from exc
            pipe = redis.pipeline(transaction=False)
            for m in msgs:
                seq = m.metadata.sequence.stream
                pipe.evalsha(sha, 1, f"bench:{{floor}}:{seq % 500}:{seq}", m.data)
            await pipe.execute()
            await asyncio.gather(
                *(
                    js.publish(out_subject, m.data, headers={"Nats-Msg-Id": f"out-{i}-{handled}"})
                    for i, m in enumerate(msgs)
                )
            )
            await asyncio.gather(*(m.ack() for m in msgs))
            handled += len(msgs)
    finally:
        await sub.unsubscribe()
    return handled / (time.perf_counter() - started)


async def measure(
    nc: NatsClient,
    redis_url: str,
    payload: bytes,
    count: int,
    batch: int,
    in_flight: int,
    stream: str = "BENCH_FLOOR",
) -> FloorRates:
    """Both floors on a fresh stream of our own: `count` publishes, then `count` steps."""
    subject = stream.lower().replace("_", ".")
    await open_stream(nc, stream, subject)
    try:
        publish = await publish_rate(
            nc, f"{subject}.in", payload, count, batch, in_flight, tag=stream
        )
        redis = Redis.from_url(redis_url)
        try:
            step = await step_rate(
                nc, redis, stream, f"{subject}.in", f"{subject}.out", count, batch
            )
        finally:
            await redis.aclose()
    finally:
        await nc.jetstream().delete_stream(stream)
    return FloorRates(publish, step)
