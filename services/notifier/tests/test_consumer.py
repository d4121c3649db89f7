"""The durable consumer's configuration (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js.api import AckPolicy, DeliverPolicy

from herald.notifier.app import consumer_config
from herald.notifier.redelivery import RetryPolicy
from herald.shared.subjects import NOTIFIER_DURABLE


def test_durable_acks_explicitly_and_bounds_deliveries() -> None:
    cfg = consumer_config(RetryPolicy(max_deliver=7), datetime(2024, 5, 1, 12, 0, 42, tzinfo=UTC))
    assert cfg.durable_name == NOTIFIER_DURABLE
    assert cfg.ack_policy is AckPolicy.EXPLICIT
    assert cfg.max_deliver == 7


def test_a_new_durable_starts_shortly_before_now_on_a_whole_minute() -> None:
    a = consumer_config(RetryPolicy(), datetime(2024, 5, 1, 12, 30, 1, tzinfo=UTC))
    b = consumer_config(RetryPolicy(), datetime(2024, 5, 1, 12, 30, 59, 999, tzinfo=UTC))
    assert a.deliver_policy is DeliverPolicy.BY_START_TIME
    assert a.opt_start_time == datetime(2024, 5, 1, 12, 15, tzinfo=UTC)
    assert a == b  # replicas starting together create identical consumers
