"""Delivering notices on a real Redis ledger, through in-memory channels: an incident's resolve
never reaches a channel before its page, each channel on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from herald.notifier import delivery
from herald.notifier.channels import Channel, RetryableError
from herald.notifier.delivery import Outcome, deliver, give_up
from herald.notifier.ledger import ClaimState, Ledger
from herald.notifier.notice import Notice, build_notice
from herald.shared.config import parse_config
from herald.shared.events import IncidentEvent
from services.notifier.tests.events import opened, resolved
from tests.infra import Infra

pytestmark = pytest.mark.integration

CONFIG = parse_config(
    """
services:
  payments-api: {name: Payments API, oncall: backend}
oncall:
  backend: {channels: [pager]}
channels:
  pager: {type: console}
"""
)


def notice_of(event: IncidentEvent) -> Notice:
    notice = build_notice(event, CONFIG)
    assert notice is not None
    return notice


PAGE = notice_of(opened())
RESOLVE = notice_of(resolved())


class Pager:
    """An in-memory channel: records what it was sent, fails while told to."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.failing = False

    async def send(self, notice: Notice) -> None:
        if self.failing:
            raise RetryableError("HTTP 503")
        self.received.append(notice.type)


class Silent:
    """A channel that never answers."""

    async def send(self, notice: Notice) -> None:
        await asyncio.Event().wait()


@pytest.fixture
async def ledger(infra: Infra) -> AsyncIterator[Ledger]:
    client = aioredis.from_url(infra.redis_url)
    yield Ledger(client)
    await client.aclose()


async def outcome(notice: Notice, channels: dict[str, Channel], ledger: Ledger) -> Outcome:
    [result] = await deliver(notice, ("pager",), channels, ledger)
    return result.outcome


async def test_a_resolve_waits_for_its_pending_page(ledger: Ledger) -> None:
    pager = Pager()
    channels: dict[str, Channel] = {"pager": pager}
    pager.failing = True
    assert await outcome(PAGE, channels, ledger) is Outcome.RETRYABLE
    assert await outcome(RESOLVE, channels, ledger) is Outcome.WAITING
    assert Outcome.WAITING.pending

    pager.failing = False
    assert await outcome(PAGE, channels, ledger) is Outcome.SENT
    assert await outcome(RESOLVE, channels, ledger) is Outcome.SENT
    assert pager.received == ["incident.opened", "incident.resolved"]


async def test_a_resolve_goes_once_its_page_is_given_up(ledger: Ledger) -> None:
    pager = Pager()
    pager.failing = True
    assert await outcome(PAGE, {"pager": pager}, ledger) is Outcome.RETRYABLE
    await give_up(PAGE, ("pager",), ledger)
    pager.failing = False
    assert await outcome(RESOLVE, {"pager": pager}, ledger) is Outcome.SENT
    assert pager.received == ["incident.resolved"]


async def test_a_resolve_goes_when_no_page_was_tried_and_then_no_page_follows(
    ledger: Ledger,
) -> None:
    pager = Pager()
    assert await outcome(RESOLVE, {"pager": pager}, ledger) is Outcome.SENT
    assert await outcome(PAGE, {"pager": pager}, ledger) is Outcome.SUPERSEDED
    assert not Outcome.SUPERSEDED.pending
    assert await outcome(PAGE, {"pager": pager}, ledger) is Outcome.DUPLICATE  # done for good
    assert pager.received == ["incident.resolved"]


async def test_a_send_that_never_ends_is_cut_off_and_retried(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "MAX_SEND_SECONDS", 0.05)
    [result] = await asyncio.wait_for(deliver(PAGE, ("pager",), {"pager": Silent()}, ledger), 10)
    assert result.outcome is Outcome.RETRYABLE
    claim = await ledger.claim("payments-api", PAGE.event_id, "pager")
    assert claim.state is ClaimState.CLAIMED  # released for the redelivery
