"""The loop that runs due escalation steps: it sleeps until the nearest due time in Redis (or
until woken: an incident opened, an ack with a timeout, a step done here), claims what is due
and sleeps again.

It looks at Redis again at least every `MAX_SLEEP_SECONDS` even when nothing is due sooner:
another replica may have scheduled a step due now and died before running it (the nearest due
time it leaves behind is then the end of its lease, at most `LEASE_SECONDS` later), and a
replica that just started knows nothing yet. Every due time it has seen it meets to the
millisecond; a due time it has not seen yet, within this bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from herald.shared.runtime import Clock

log = logging.getLogger("herald.notifier.timers")

MAX_SLEEP_SECONDS = 1.0
"""The longest sleep between two looks at Redis: a due step never waits longer for a replica
that has not seen it yet (the issue's bound: within 1 s of its due time)."""

RETRY_SECONDS = 1.0


class TimerLoop:
    def __init__(
        self,
        fire: Callable[[], Awaitable[int]],
        next_due: Callable[[], Awaitable[datetime | None]],
        clock: Clock,
        *,
        max_sleep: float = MAX_SLEEP_SECONDS,
    ) -> None:
        self.fire = fire
        self.next_due = next_due
        self.clock = clock
        self.max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="escalation-timers")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop between two looks (a cancel inside a Redis command may be turned into a
        connection error by the client and swallowed: the loop stops on its flag)."""
        task, self._task = self._task, None
        self._stopping = True
        self.wake()
        if task is not None:
            _, pending = await asyncio.wait({task}, timeout=grace)
            if pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.fire()
                due = await self.next_due()
            except Exception as exc:
                log.warning("escalation timers: Redis step failed", extra={"error": repr(exc)})
                delay = RETRY_SECONDS
            else:
                delay = self.max_sleep
                if due is not None:
                    delay = min(delay, max((due - self.clock()).total_seconds(), 0.0))
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
