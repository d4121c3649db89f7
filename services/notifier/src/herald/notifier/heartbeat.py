"""Keep a claim alive while the work it covers runs (an escalation lease, a ledger claim)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable


@contextlib.asynccontextmanager
async def renewing(renew: Callable[[], Awaitable[object]], every: float) -> AsyncIterator[None]:
    """Call `renew` every `every` seconds while the body runs (a failed renewal is tried again
    at the next beat: the claim's own expiry is the safety).

    Stopped by a flag, never by a cancel: the Redis client may turn a cancel inside a command
    into a connection error, and a beat that swallowed it would renew the claim for ever and
    keep its caller waiting (a step's page sent, its lease never let go)."""
    done = asyncio.Event()

    async def beat() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), every)
            if not done.is_set():
                with contextlib.suppress(Exception):
                    await renew()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        done.set()
        await task
