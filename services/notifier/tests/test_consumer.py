"""The durable consumer's configuration and the time bounds it relies on (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js.api import AckPolicy, DeliverPolicy

from herald.notifier.app import (
    ACK_WAIT_SECONDS,
    CLAIM_TTL_SECONDS,
    consumer_config,
    pending_page_ttl,
    policy_in_force,
)
from herald.notifier.channels import MAX_SEND_SECONDS
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


def test_defaults_bound_deliveries_to_the_policy() -> None:
    cfg = consumer_config(RetryPolicy(), datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert cfg.max_deliver == RetryPolicy().max_deliver
    assert cfg.ack_wait == ACK_WAIT_SECONDS


def test_a_whole_send_ends_before_the_message_or_the_claim_can_pass_to_another_worker() -> None:
    assert ACK_WAIT_SECONDS > MAX_SEND_SECONDS
    assert CLAIM_TTL_SECONDS > ACK_WAIT_SECONDS


def test_a_pending_page_outlasts_the_gap_between_two_of_its_attempts() -> None:
    policy = RetryPolicy()
    assert pending_page_ttl(policy) > policy.max_delay + ACK_WAIT_SECONDS


def test_the_policy_in_force_gives_up_at_the_durables_last_delivery() -> None:
    policy = RetryPolicy(max_deliver=20)
    assert policy_in_force(policy, 10) == RetryPolicy(max_deliver=10)
    assert policy_in_force(policy, 20) is policy
    assert policy_in_force(policy, 30) is policy  # we give up first, loudly
    assert policy_in_force(policy, -1) is policy  # unlimited
