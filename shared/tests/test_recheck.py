"""The keeper loop stops even when its check swallows the cancel (as the Redis client can)."""

from __future__ import annotations

import asyncio

from herald.shared.runtime import Recheck


async def test_stop_ends_a_loop_whose_check_turns_the_cancel_into_an_error() -> None:
    running = asyncio.Event()

    async def check() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("connection closed by a cancel") from None

    keeper = Recheck("swallowing", check, interval=60, retry=0.01)
    keeper.start()
    keeper.wake()
    await running.wait()
    stopping = asyncio.create_task(keeper.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert stopping in done, (
        "Recheck.stop hung: the loop went on after its check swallowed the cancel"
    )


async def test_a_failed_check_is_tried_again() -> None:
    calls: list[int] = []
    twice = asyncio.Event()

    async def check() -> None:
        calls.append(1)
        if len(calls) >= 2:
            twice.set()
            return
        raise ConnectionError("not yet")

    keeper = Recheck("retrying", check, interval=60, retry=0.01)
    keeper.start()
    keeper.wake()
    await asyncio.wait_for(twice.wait(), 5)
    await keeper.stop()
    assert len(calls) >= 2
