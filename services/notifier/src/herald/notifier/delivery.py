"""Deliver one notice to its channels: concurrently, each on its own, each at most once.

A channel that fails (or whose ledger step fails) never blocks or delays the others; the
result says which channels are still pending so a redelivery retries only those.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from herald.notifier.channels import Channel, PermanentError, RetryableError
from herald.notifier.ledger import ClaimState, Ledger, Mark
from herald.notifier.notice import Notice

log = logging.getLogger("herald.notifier.delivery")


class Outcome(StrEnum):
    SENT = "sent"
    DUPLICATE = "duplicate"
    """Already done before: skipped."""
    BUSY = "busy"
    """Being sent by another worker: pending."""
    RETRYABLE = "retryable_failure"
    PERMANENT = "permanent_failure"
    DISABLED = "disabled"
    """Not configured or disabled (optional secret unset): skipped."""

    @property
    def pending(self) -> bool:
        return self in {Outcome.BUSY, Outcome.RETRYABLE}


@dataclass(frozen=True)
class ChannelResult:
    channel: str
    outcome: Outcome
    detail: str = ""
    """Why it failed (safe to log)."""


async def deliver_one(
    notice: Notice, channel_id: str, channel: Channel | None, ledger: Ledger
) -> ChannelResult:
    if channel is None:
        return ChannelResult(channel_id, Outcome.DISABLED)
    try:
        claim = await ledger.claim(notice.service.id, notice.event_id, channel_id)
    except Exception as exc:
        return ChannelResult(channel_id, Outcome.RETRYABLE, f"ledger: {type(exc).__name__}: {exc}")
    if claim.state is ClaimState.DONE:
        return ChannelResult(channel_id, Outcome.DUPLICATE)
    if claim.state is ClaimState.BUSY:
        return ChannelResult(channel_id, Outcome.BUSY)
    try:
        await channel.send(notice)
    except PermanentError as exc:
        result = ChannelResult(channel_id, Outcome.PERMANENT, str(exc))
        mark: Mark | None = Mark.FAILED
    except RetryableError as exc:
        result, mark = ChannelResult(channel_id, Outcome.RETRYABLE, str(exc)), None
    except Exception as exc:  # a bug in one channel must not stop the others: retry it
        log.exception("channel %s raised unexpectedly", channel_id)
        result, mark = ChannelResult(channel_id, Outcome.RETRYABLE, type(exc).__name__), None
    else:
        result, mark = ChannelResult(channel_id, Outcome.SENT), Mark.SENT
    try:
        if mark is None:
            await ledger.release(claim)
        else:
            await ledger.mark(claim, mark)
    except Exception as exc:
        # Sent but not recorded: keep it pending (the claim expires, the redelivery sends again,
        # the receiver sees the same Idempotency-Key). Better twice than never.
        return ChannelResult(channel_id, Outcome.RETRYABLE, f"ledger: {type(exc).__name__}: {exc}")
    return result


async def deliver(
    notice: Notice,
    channel_ids: tuple[str, ...],
    channels: Mapping[str, Channel],
    ledger: Ledger,
) -> tuple[ChannelResult, ...]:
    """Send `notice` on every channel not done yet, concurrently; one result per channel."""
    return tuple(
        await asyncio.gather(
            *(deliver_one(notice, cid, channels.get(cid), ledger) for cid in channel_ids)
        )
    )
