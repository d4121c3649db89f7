"""Send limits: the pure rule, and the same rule in Redis across replicas (real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald.notifier.send_window import SendWindow
from herald.notifier.throttle import next_allowed
from herald.shared.config import SendLimit
from herald.shared.runtime import open_redis
from tests.infra import Infra

T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
ONE_PER_MINUTE = SendLimit(count=1, per=MIN)
BURST = (ONE_PER_MINUTE, SendLimit(count=3, per=15 * MIN))


def test_room_in_every_window_goes_at_once() -> None:
    assert next_allowed(BURST, [], T) == T
    assert next_allowed(BURST, [T - 2 * MIN], T) == T


def test_a_full_window_waits_for_its_oldest_send_to_leave() -> None:
    assert next_allowed((ONE_PER_MINUTE,), [T], T) == T + MIN
    # GoAlert's "burst" case: sends 12 and 10 minutes ago and now; 3 per 15 min is full until
    # the one 12 minutes ago leaves, 3 minutes from now.
    sent = [T - 12 * MIN, T - 10 * MIN, T]
    assert next_allowed(BURST, sent, T) == T + 3 * MIN


def test_no_limits_never_wait() -> None:
    assert next_allowed((), [T, T, T], T) == T


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.integration
async def test_redis_windows_are_shared_and_a_send_waits_its_turn(infra: Infra) -> None:
    redis = open_redis(infra.redis_url)
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the test's clock moves instead of sleeping
        slept.append(seconds)
        clock.now += timedelta(seconds=seconds)

    a, b = SendWindow(redis, clock, sleep), SendWindow(redis, clock, sleep)
    try:
        assert await a.reserve("contact:pager:alice", BURST) == 0
        # another replica, same contact method: one per minute
        assert await b.reserve("contact:pager:alice", BURST) == 60_000
        assert await b.reserve("contact:pager:bob", BURST) == 0  # another person is not held
        waited = await b.wait_turn("contact:pager:alice", BURST)
        assert waited == 60.0
        assert clock.now == T + MIN
        assert await a.reserve("contact:pager:alice", ()) == 0  # no limits: no wait
    finally:
        await redis.aclose()
