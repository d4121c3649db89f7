"""The history's write queue (plain asyncio, no Redis): in order, off the fold, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from herald.statuspage.archive import HistoryWrites


async def test_writes_run_in_order_and_finish_at_stop() -> None:
    done: list[int] = []
    writes = HistoryWrites()
    gate = asyncio.Event()

    def write(n: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await gate.wait()  # Redis slow: the queue holds them, adding never waits
            done.append(n)

        return run

    writes.start()
    for n in range(5):
        writes.add(write(n))
    assert done == []
    gate.set()
    await writes.stop()
    assert done == [0, 1, 2, 3, 4]


async def test_past_its_limit_a_write_is_skipped_and_counted() -> None:
    done: list[str] = []
    writes = HistoryWrites(limit=2)

    async def ok() -> None:
        done.append("ok")

    for _ in range(3):
        writes.add(ok)  # not started: nothing drains the queue yet
    assert writes.skipped == 1
    writes.start()
    await writes.stop()
    assert done == ["ok", "ok"]
