"""The notification ledger on a real Redis: claim once, mark done, release only our own claim;
an incident's resolve never goes before its pending page, no page goes after its resolve."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from herald.notifier.ledger import ClaimState, Ledger, Mark, PageState, notification_key, page_key
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
    assert page_key("payments-api", "inc-1", "pager") == "herald:{payments-api}:page:inc-1:pager"


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


async def test_mark_records_only_while_the_claim_is_ours(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis)
    stale = await ledger.claim("payments-api", "ev1", "pager")
    await redis.delete(stale.key)  # our claim expired during a stalled send...
    theirs = await ledger.claim("payments-api", "ev1", "pager")  # ...and was taken over
    assert not await ledger.mark(stale, Mark.FAILED)
    assert await redis.get(theirs.key) == theirs.token.encode()
    assert await ledger.mark(theirs, Mark.SENT)
    assert not await ledger.mark(stale, Mark.FAILED)  # nor overwrites their outcome
    assert await redis.get(theirs.key) == b"sent"


async def test_mark_records_a_send_whose_claim_expired_untaken(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis)
    claim = await ledger.claim("payments-api", "ev1", "pager")
    await redis.delete(claim.key)
    assert await ledger.mark(claim, Mark.SENT)  # we did send: say so rather than send again
    assert (await ledger.claim("payments-api", "ev1", "pager")).state is ClaimState.DONE


async def page_state(redis: aioredis.Redis, channel: str = "pager") -> str | None:
    value = await redis.get(page_key("payments-api", "inc-1", channel))
    return None if value is None else value.decode()


async def test_a_resolve_waits_while_its_page_is_pending(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis, pending_ttl=300)
    page = await ledger.claim("payments-api", "ev-open", "pager")
    assert await ledger.start_page("payments-api", "inc-1", "pager")
    assert await page_state(redis) == PageState.PENDING
    assert 0 < await redis.ttl(page_key("payments-api", "inc-1", "pager")) <= 300
    assert not await ledger.start_resolve("payments-api", "inc-1", "pager")

    await ledger.release(page)  # a retryable failure: still pending
    assert not await ledger.start_resolve("payments-api", "inc-1", "pager")

    page = await ledger.claim("payments-api", "ev-open", "pager")
    assert await ledger.start_page("payments-api", "inc-1", "pager")
    await ledger.mark(page, Mark.SENT, page_key("payments-api", "inc-1", "pager"))
    assert await page_state(redis) == PageState.DONE
    assert await ledger.start_resolve("payments-api", "inc-1", "pager")
    assert await page_state(redis) == PageState.RESOLVED


async def test_a_resolve_goes_when_its_page_failed_for_good_or_was_given_up(
    redis: aioredis.Redis,
) -> None:
    ledger = Ledger(redis)
    page = await ledger.claim("payments-api", "ev-open", "sms")
    assert await ledger.start_page("payments-api", "inc-1", "sms")
    await ledger.mark(page, Mark.FAILED, page_key("payments-api", "inc-1", "sms"))
    assert await ledger.start_resolve("payments-api", "inc-1", "sms")

    assert await ledger.start_page("payments-api", "inc-1", "pager")
    await ledger.settle_page("payments-api", "inc-1", "pager")  # given up
    assert await ledger.start_resolve("payments-api", "inc-1", "pager")


async def test_a_resolve_goes_when_its_page_was_never_tried(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis)
    assert await ledger.start_resolve("payments-api", "inc-1", "pager")
    assert await ledger.start_resolve("payments-api", "inc-1", "pager")  # its redelivery too


async def test_a_first_resolve_waits_for_a_page_not_claimed_yet(redis: aioredis.Redis) -> None:
    """The page/resolve race: the resolve handled before its page took its claim (another
    worker holds the page's message). On its first delivery the resolve waits; the page then
    goes out first, and the resolve's redelivery after it."""
    ledger = Ledger(redis)
    assert not await ledger.start_resolve("payments-api", "inc-1", "pager", first=True)
    page = await ledger.claim("payments-api", "ev-open", "pager")
    assert await ledger.start_page("payments-api", "inc-1", "pager")  # not superseded
    await ledger.mark(page, Mark.SENT, page_key("payments-api", "inc-1", "pager"))
    assert await ledger.start_resolve("payments-api", "inc-1", "pager", first=False)


async def test_no_page_goes_after_its_resolve(redis: aioredis.Redis) -> None:
    ledger = Ledger(redis)
    assert await ledger.start_resolve("payments-api", "inc-1", "pager")
    assert not await ledger.start_page("payments-api", "inc-1", "pager")
    await ledger.settle_page("payments-api", "inc-1", "pager")
    assert await page_state(redis) == PageState.RESOLVED
    assert not await ledger.start_page("payments-api", "inc-1", "pager")


async def test_a_mark_is_recorded_once_a_paused_redis_answers_again(infra: Infra) -> None:
    """Bug 2 of docs/reliability.md: a page sent while Redis was paused (CLIENT PAUSE longer
    than a command's timeout) must still be recorded, or the page goes out again once its claim
    expires and its incident's resolve waits for the page's pending mark to expire."""
    quick = aioredis.from_url(infra.redis_url, socket_timeout=0.3)
    admin = aioredis.from_url(infra.redis_url)
    try:
        ledger = Ledger(quick, mark_seconds=30)
        claim = await ledger.claim("payments-api", "ev1", "pager")
        page = page_key("payments-api", "inc-1", "pager")
        assert await ledger.start_page("payments-api", "inc-1", "pager")
        await admin.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        assert await ledger.mark(claim, Mark.SENT, page)  # outlasts the pause
        again = await Ledger(admin).claim("payments-api", "ev1", "pager")
        assert again.state is ClaimState.DONE
        assert await admin.get(page) == PageState.DONE.value.encode()
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await quick.aclose()
        await admin.aclose()


async def test_a_mark_gives_up_when_redis_stays_away(infra: Infra) -> None:
    """Bounded: past `mark_seconds` the error goes up (the delivery is left pending, and its
    redelivery may send it again: better twice than never)."""
    quick = aioredis.from_url(infra.redis_url, socket_timeout=0.2)
    admin = aioredis.from_url(infra.redis_url)
    try:
        ledger = Ledger(quick, mark_seconds=0.5)
        claim = await ledger.claim("payments-api", "ev2", "pager")
        await admin.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
        with pytest.raises(aioredis.RedisError):
            await ledger.mark(claim, Mark.SENT)
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await quick.aclose()
        await admin.aclose()
