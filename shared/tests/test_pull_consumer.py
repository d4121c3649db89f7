"""The durable pull consumer on a real NATS JetStream: stopping hands over what is in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from herald.shared.batch_budget import BatchBudget
from herald.shared.runtime import NatsConnection, PullConsumer
from herald.shared.streams import ensure_streams
from herald.shared.subjects import ALERTS_STREAM, ALERTS_SUBJECTS
from tests.infra import Infra

pytestmark = pytest.mark.integration

WAIT = 10.0


async def test_stopping_lets_the_fetch_under_way_finish_and_handles_what_it_brings(
    infra: Infra,
) -> None:
    """Was: `stop` cancelled the fetch under way, so a message the server handed to it right
    then was dropped unacked, redelivered only after ack_wait (the fault suite's SIGTERM drill:
    a graceful stop of the correlator left one message behind)."""
    nats = NatsConnection(infra.nats_url, "test-pull")
    await nats.connect()
    handled: list[bytes] = []
    first = asyncio.Event()

    async def handle(msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            handled.append(msg.data)
            await msg.ack_sync()  # acked when the server says so: consumer_info below sees it
        first.set()

    consumer = PullConsumer(
        nats,
        stream=ALERTS_STREAM,
        subjects=ALERTS_SUBJECTS,
        config=ConsumerConfig(durable_name="test-pull", ack_policy=AckPolicy.EXPLICIT),
        handle=handle,
        fetch_timeout=WAIT,  # the next fetch waits long: stop comes while it waits
    )
    try:
        await consumer.start()
        await nats.js.publish("alerts.test", b"one")
        await asyncio.wait_for(first.wait(), WAIT)  # the loop went on to its next fetch
        stopping = asyncio.create_task(consumer.stop())
        await nats.js.publish("alerts.test", b"two")  # reaches the fetch under way
        await asyncio.wait_for(stopping, 3 * WAIT)
        assert handled == [b"one", b"two"]
        info = await nats.js.consumer_info(ALERTS_STREAM, "test-pull")
        assert info.num_ack_pending == 0
        assert info.num_pending == 0
    finally:
        await nats.close()


async def test_a_budget_sizes_each_fetch_by_the_rate_the_batches_before_were_handled(
    infra: Infra,
) -> None:
    """A backlog of 30: the first fetch takes the budget's least (4), and once that batch was
    handled fast, the next ones take its most (8)."""
    nats = NatsConnection(infra.nats_url, "test-budget")
    await nats.connect()
    sizes: list[int] = []
    done = asyncio.Event()

    async def handle(msgs: Sequence[Msg]) -> None:
        sizes.append(len(msgs))
        for msg in msgs:
            await msg.ack()
        if sum(sizes) >= 30:
            done.set()

    consumer = PullConsumer(
        nats,
        stream=ALERTS_STREAM,
        subjects="alerts.budget",
        config=ConsumerConfig(
            durable_name="test-budget",
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject="alerts.budget",
        ),
        handle=handle,
        batch=4,
        concurrency=8,
        max_batches=1,
        budget=BatchBudget(least=4, most=8, seconds=60.0),
    )
    try:
        await ensure_streams(nats.js)
        for n in range(30):
            await nats.js.publish("alerts.budget", str(n).encode())
        await consumer.start()
        await asyncio.wait_for(done.wait(), WAIT)
        assert sizes[0] == 4
        assert sizes[1:4] == [8, 8, 8]
        assert sum(sizes) == 30
    finally:
        await consumer.stop()
        await nats.close()
