"""The durable pull consumer on a real NATS JetStream: stopping hands over what is in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from herald.shared.runtime import NatsConnection, PullConsumer
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
