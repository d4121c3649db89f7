"""The beat that keeps a claim alive while its work runs (an escalation lease, a ledger claim):
it stops when the work ends, however the work ends, even when a renewal is inside a Redis
command at that moment (docs/reliability.md, bug 7)."""

from __future__ import annotations

import asyncio

import pytest

from herald.notifier.heartbeat import renewing

BOUND = 5.0
"""Bounds a wait that must end (not a timing assertion)."""


class Busy(ConnectionError):
    """What the Redis client may make of a cancel that reaches it inside a command."""


async def test_a_failed_step_stops_its_lease_even_while_a_renewal_is_in_a_command() -> None:
    """The escalation step's run failed (Redis restarted under it: `add_paged`, connection
    closed) while the lease's renewal was inside a command. A beat stopped by a cancel, which
    the Redis client turned into a connection error that the beat swallowed, renewed the lease
    for ever: the step was never offered again, its incident never paged (bug 7, found on a
    branch that had the cancelled beat)."""
    renewals = 0
    in_command = asyncio.Event()
    failed = asyncio.Event()
    answered = asyncio.Event()

    async def renew() -> None:
        nonlocal renewals
        renewals += 1
        in_command.set()
        try:
            await answered.wait()  # the command waits for a Redis that is restarting
        except asyncio.CancelledError:
            raise Busy("Connection closed by server.") from None

    async def step() -> None:
        async with renewing(renew, 0.001):
            await in_command.wait()
            failed.set()
            raise Busy("Connection closed by server.")  # add_paged, in the restart

    run = asyncio.create_task(step())
    await asyncio.wait_for(failed.wait(), BOUND)
    answered.set()  # the renewal's command ends (answered, or its timeout)
    done, _ = await asyncio.wait({run}, timeout=BOUND)
    assert run in done, "the step's beat went on renewing its lease"
    with pytest.raises(Busy):
        run.result()
    assert renewals == 1


async def test_a_renewal_that_fails_is_tried_again_at_the_next_beat() -> None:
    renewals = 0
    enough = asyncio.Event()

    async def renew() -> None:
        nonlocal renewals
        renewals += 1
        if renewals >= 3:
            enough.set()
        raise Busy("Redis is away")

    async with renewing(renew, 0.001):
        await asyncio.wait_for(enough.wait(), BOUND)
    assert renewals >= 3
