"""The notification ledger on a real Redis: claim once, mark done, release only our own claim."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from herald.notifier.ledger import ClaimState, Ledger, Mark, notification_key
from tests.infra import Infra

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(infra.redis_url)
    yield client
    await client.aclose()


def test_keys_share_the_service_hash_tag() -> None:
    assert notification_key("payments-api", "ev1", "pager") == (
        "herald:{payments-api}:notified:ev1:pager"
    )


async def test_concurrent_claims_have_one_winner(redis: aioredis.Redis) -> None:
    ledgers = [Ledger(redis) for _ in range(8)]
    claims = await asyncio.gather(*(lg.claim("payments-api", "ev1", "pager") for lg in ledgers))
    states = sorted(c.state for c in claims)
    assert states.count(ClaimState.CLAIMED) == 1
    assert states.count(ClaimState.BUSY) == 7


async def test_a_claim_expires(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis, claim_ttl=30)
    claim = await ledger.claim("payments-api", "ev1", "pager")
    assert 0 < await redis.ttl(claim.key) <= 30


async def test_marked_notifications_are_done_for_days(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis)
    for channel, mark in (("pager", Mark.SENT), ("sms", Mark.FAILED)):
        claim = await ledger.claim("payments-api", "ev1", channel)
        await ledger.mark(claim, mark)
        again = await ledger.claim("payments-api", "ev1", channel)
        assert again.state is ClaimState.DONE
        assert await redis.ttl(claim.key) > 24 * 3600


async def test_release_frees_our_claim_only(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis)
    mine = await ledger.claim("payments-api", "ev1", "pager")
    await ledger.release(mine)
    theirs = await ledger.claim("payments-api", "ev1", "pager")
    assert theirs.state is ClaimState.CLAIMED
    await ledger.release(mine)  # stale token: must not free their claim
    assert (await ledger.claim("payments-api", "ev1", "pager")).state is ClaimState.BUSY
    await ledger.mark(theirs, Mark.SENT)
    await ledger.release(theirs)  # a done mark is never released
    assert (await ledger.claim("payments-api", "ev1", "pager")).state is ClaimState.DONE
