"""A service process stopped for real (SIGKILL: no shutdown at all; SIGTERM: its graceful one)
and started again, in the middle of a burst the drill is playing."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from devstack.processes import Stack
from tests.faults import storm

STOP_SECONDS = 60.0
"""Bound on a stopped process's exit (SIGTERM: its in-flight work finishing first)."""

Fault = Callable[[], Awaitable[None]]


async def stop(stack: Stack, name: str, sig: signal.Signals) -> int:
    """Send `sig` to the service and wait (bounded) until it has exited; its exit code."""
    proc = stack.procs[name]
    assert proc.returncode is None, f"{name} had exited already ({proc.returncode})"
    proc.send_signal(sig)
    return await asyncio.wait_for(proc.wait(), STOP_SECONDS)


async def restart(stack: Stack, name: str) -> None:
    """Start the service again and wait until every service is ready."""
    await stack.start_service(name)
    await stack.wait_ready(timeout=STOP_SECONDS)


async def interrupted(
    sender: storm.Sender, payloads: list[dict[str, Any]], times: int, fault: Fault
) -> None:
    """Deliver `payloads` in `times` bursts and run `fault` in the middle of each: once half of
    that burst's webhooks were answered, the rest still in flight or waiting (its attempts
    go on meanwhile, retried as Alertmanager retries them)."""
    size = -(-len(payloads) // times)
    for start in range(0, len(payloads), size):
        chunk = payloads[start : start + size]
        before = sender.answers.total()
        burst = asyncio.create_task(sender.burst(chunk))
        try:
            await sender.answered(before + max(1, len(chunk) // 2))
            await fault()
            await asyncio.wait_for(burst, storm.DELIVERY_SECONDS)
        finally:
            if not burst.done():
                burst.cancel()
