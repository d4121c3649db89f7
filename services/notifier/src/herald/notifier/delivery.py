"""Deliver one notice to its channels: concurrently, each on its own, each at most once.

A channel that fails (or whose ledger step fails) never blocks or delays the others; the
result says which channels are still pending so a redelivery retries only those.

On each channel, an incident's resolve never goes out before its page ("opened"): while the page
is pending (being tried, or failed and waiting for its retry) the resolve waits (`WAITING`, a
pending outcome, so its message is redelivered later); once the resolve went out, a page that
comes after it is not sent (`SUPERSEDED`). Waiting is the rule because the on-call and the pager
must learn that the incident happened (a page is never silently dropped: nothing is lost), in
the order pagers that key incidents on their id need (PagerDuty, Opsgenie: a resolve before its
trigger leaves the incident triggered for ever). Skipping the page only covers the rare cases
where the resolve could not wait (the page was never tried before the resolve, say).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from herald.notifier.channels import MAX_SEND_SECONDS, Channel, PermanentError, RetryableError
from herald.notifier.ledger import ClaimState, Ledger, Mark, page_key
from herald.notifier.notice import Notice

log = logging.getLogger("herald.notifier.delivery")


class Outcome(StrEnum):
    SENT = "sent"
    DUPLICATE = "duplicate"
    """Already done before: skipped."""
    BUSY = "busy"
    """Being sent by another worker: pending."""
    WAITING = "waiting_for_page"
    """A resolve whose incident's page is still pending on the channel: pending."""
    SUPERSEDED = "superseded"
    """A page whose incident's resolve already went out on the channel: skipped for good."""
    RETRYABLE = "retryable_failure"
    PERMANENT = "permanent_failure"
    DISABLED = "disabled"
    """Not configured or disabled (optional secret unset): skipped."""

    @property
    def pending(self) -> bool:
        return self in {Outcome.BUSY, Outcome.WAITING, Outcome.RETRYABLE}


@dataclass(frozen=True)
class ChannelResult:
    channel: str
    outcome: Outcome
    detail: str = ""
    """Why it failed (safe to log)."""


def _ledger_failure(channel_id: str, exc: Exception) -> ChannelResult:
    return ChannelResult(channel_id, Outcome.RETRYABLE, f"ledger: {type(exc).__name__}: {exc}")


async def _send(notice: Notice, channel_id: str, channel: Channel) -> ChannelResult:
    try:
        async with asyncio.timeout(MAX_SEND_SECONDS):
            await channel.send(notice)
    except PermanentError as exc:
        return ChannelResult(channel_id, Outcome.PERMANENT, str(exc))
    except RetryableError as exc:
        return ChannelResult(channel_id, Outcome.RETRYABLE, str(exc))
    except TimeoutError:
        return ChannelResult(channel_id, Outcome.RETRYABLE, f"no answer in {MAX_SEND_SECONDS} s")
    except Exception as exc:  # a bug in one channel must not stop the others: retry it
        log.exception("channel %s raised unexpectedly", channel_id)
        return ChannelResult(channel_id, Outcome.RETRYABLE, type(exc).__name__)
    return ChannelResult(channel_id, Outcome.SENT)


async def deliver_one(
    notice: Notice, channel_id: str, channel: Channel | None, ledger: Ledger, first: bool = False
) -> ChannelResult:
    if channel is None:
        return ChannelResult(channel_id, Outcome.DISABLED)
    service, incident_id = notice.service.id, notice.incident.id
    is_page = notice.type == "incident.opened"
    try:
        if not is_page and not await ledger.start_resolve(
            service, incident_id, channel_id, first=first
        ):
            return ChannelResult(channel_id, Outcome.WAITING, "the page is still pending")
        claim = await ledger.claim(service, notice.event_id, channel_id)
        if claim.state is ClaimState.DONE:
            return ChannelResult(channel_id, Outcome.DUPLICATE)
        if claim.state is ClaimState.BUSY:
            return ChannelResult(channel_id, Outcome.BUSY)
        if is_page and not await ledger.start_page(service, incident_id, channel_id):
            await ledger.mark(claim, Mark.SUPERSEDED)
            return ChannelResult(channel_id, Outcome.SUPERSEDED, "the incident is resolved")
    except Exception as exc:
        return _ledger_failure(channel_id, exc)

    result = await _send(notice, channel_id, channel)
    page = page_key(service, incident_id, channel_id) if is_page else None
    try:
        if result.outcome is Outcome.SENT:
            recorded = await ledger.mark(claim, Mark.SENT, page)
        elif result.outcome is Outcome.PERMANENT:
            recorded = await ledger.mark(claim, Mark.FAILED, page)
        else:
            await ledger.release(claim)
            recorded = True
    except Exception as exc:
        # Sent but not recorded: keep it pending (the claim expires, the redelivery sends again,
        # the receiver sees the same Idempotency-Key). Better twice than never.
        return _ledger_failure(channel_id, exc)
    if not recorded:
        # Sends are cut off well before the claim expires, so this means a stalled worker
        # (a paused process, say); the worker that holds the claim now records the outcome.
        log.warning(
            "channel %s: claim lost during the send, outcome left to its new holder",
            channel_id,
            extra={"event_id": notice.event_id, "channel": channel_id},
        )
    return result


async def deliver(
    notice: Notice,
    channel_ids: tuple[str, ...],
    channels: Mapping[str, Channel],
    ledger: Ledger,
    *,
    first: bool = False,
) -> tuple[ChannelResult, ...]:
    """Send `notice` on every channel not done yet, concurrently; one result per channel.
    `first`: this is the message's first delivery (a resolve then waits for an unseen page)."""
    return tuple(
        await asyncio.gather(
            *(deliver_one(notice, cid, channels.get(cid), ledger, first) for cid in channel_ids)
        )
    )


async def give_up(notice: Notice, channel_ids: tuple[str, ...], ledger: Ledger) -> None:
    """`notice` will not be tried again on `channel_ids`: when it is a page, its resolve may go."""
    if notice.type != "incident.opened":
        return
    for cid in channel_ids:
        try:
            await ledger.settle_page(notice.service.id, notice.incident.id, cid)
        except Exception:
            # The pending mark expires on its own (Ledger.pending_ttl): the resolve goes then.
            log.exception("could not settle the page on %s", cid, extra={"channel": cid})
