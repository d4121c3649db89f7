"""The history's write queue (plain asyncio, no Redis): in order, off the fold, bounded, and what
is waiting when its task gets to it written together."""

from __future__ import annotations

import asyncio

from herald.statuspage.archive import HistoryWrites


async def test_writes_run_in_order_and_finish_at_stop() -> None:
    done: list[list[int]] = []
    gate = asyncio.Event()

    async def run(batch: list[int]) -> None:
        await gate.wait()  # Redis slow: the queue holds them, adding never waits
        done.append(batch)

    writes = HistoryWrites(run)
    writes.start()
    writes.add(0)
    await asyncio.sleep(0)  # the task takes the first write and waits for Redis
    for n in range(1, 5):
        writes.add(n)
    assert done == []
    gate.set()
    await writes.stop()
    assert done == [[0], [1, 2, 3, 4]]  # what waited meanwhile went together, in order


async def test_a_round_trip_takes_at_most_its_share_of_what_waits() -> None:
    done: list[list[int]] = []

    async def run(batch: list[int]) -> None:
        done.append(batch)

    writes = HistoryWrites(run, per_round_trip=2)
    for n in range(5):
        writes.add(n)
    writes.start()
    await writes.stop()
    assert done == [[0, 1], [2, 3], [4]]


async def test_past_its_limit_a_write_is_skipped_and_counted() -> None:
    done: list[str] = []

    async def run(batch: list[str]) -> None:
        done.extend(batch)

    writes = HistoryWrites(run, limit=2)
    for _ in range(3):
        writes.add("ok")  # not started: nothing drains the queue yet
    assert writes.skipped == 1
    writes.start()
    await writes.stop()
    assert done == ["ok", "ok"]
