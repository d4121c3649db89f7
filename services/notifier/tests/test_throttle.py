"""Send limits: the pure rule, and the same rule in Redis across replicas (real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry

from herald.notifier.channels import open_channels, plan_channels
from herald.notifier.delivery import Outcome
from herald.notifier.dispatch import Dispatcher
from herald.notifier.escalation_store import Destination
from herald.notifier.ledger import Ledger
from herald.notifier.metrics import NotifierMetrics
from herald.notifier.notice import build_notice
from herald.notifier.send_window import SendWindow
from herald.notifier.throttle import next_allowed
from herald.shared.config import SendLimit, parse_config
from herald.shared.runtime import open_redis
from services.notifier.tests.events import opened
from tests.infra import Infra
from tests.receiver import Receiver

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


@pytest.mark.integration
async def test_a_channels_rate_limit_makes_a_send_wait_its_turn_and_another_channel_none(
    infra: Infra, receiver: Receiver
) -> None:
    """The dispatcher as the app wires it (config `rate_limit` per channel, one window shared
    by every replica in Redis): a second send on a channel limited to one a minute waits for
    the minute, on the test's clock; a channel without a limit never waits."""
    config = parse_config(
        f"""
services:
  payments-api: {{name: Payments API}}
channels:
  limited:
    type: webhook
    url: "{receiver.url_for("/limited")}"
    rate_limit: {{count: 1, per: 1m}}
  free: {{type: webhook, url: "{receiver.url_for("/free")}"}}
"""
    )
    redis = open_redis(infra.redis_url)
    http = httpx.AsyncClient()
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += timedelta(seconds=seconds)

    limits = {cid: ch.rate_limit for cid, ch in config.channels.items() if ch.rate_limit}
    dispatcher = Dispatcher(
        open_channels(plan_channels(config, {}), http),
        Ledger(redis),
        redis,
        NotifierMetrics(CollectorRegistry()),
        clock,
        rate_limits=limits,
        window=SendWindow(redis, clock, sleep),
    )
    notice = build_notice(opened(), config)
    assert notice is not None
    try:
        for run, who in (("run-1", "alice"), ("run-2", "bob")):
            for channel in ("limited", "free"):
                sent = await dispatcher.send(notice, run, Destination(channel, who, who))
                assert sent.outcome is Outcome.SENT, sent
        # bob's page on `limited` waited out alice's minute (in pauses of at most 30 s, each
        # asking the window again); `free` never waited
        assert sum(slept) == 60.0
        assert all(0 < pause <= 30.0 for pause in slept)
        assert receiver.count("/limited") == 2
        assert receiver.count("/free") == 2
    finally:
        await http.aclose()
        await redis.aclose()
