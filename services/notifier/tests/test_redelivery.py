"""Ack, retry with growing delays, or give up: a pure decision."""

from __future__ import annotations

import pytest

from herald.notifier.redelivery import Decision, RetryPolicy, Verdict, decide

POLICY = RetryPolicy(max_deliver=5, base_delay=2.0, max_delay=10.0)


def test_nothing_pending_is_acked_even_on_the_last_delivery() -> None:
    assert decide((), 1, POLICY) == Decision(Verdict.ACK)
    assert decide((), 5, POLICY) == Decision(Verdict.ACK)


def test_pending_channels_are_retried_with_exponential_capped_delay() -> None:
    delays = [decide(("pager",), n, POLICY).delay for n in range(1, 5)]
    assert delays == [2.0, 4.0, 8.0, 10.0]
    assert decide(("pager",), 1, POLICY) == Decision(Verdict.RETRY, 2.0, ("pager",))


def test_last_delivery_gives_up() -> None:
    assert decide(("pager", "sms"), 5, POLICY) == Decision(
        Verdict.GIVE_UP, pending=("pager", "sms")
    )
    assert decide(("pager",), 7, POLICY).verdict is Verdict.GIVE_UP


def test_huge_delivery_counts_stay_capped() -> None:
    assert POLICY.delay(10_000) == 10.0


@pytest.mark.parametrize(
    "kwargs", [{"max_deliver": 0}, {"base_delay": -1.0}, {"base_delay": 5.0, "max_delay": 1.0}]
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid retry policy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_the_default_policy_outlasts_an_hour_long_pager_outage() -> None:
    policy = RetryPolicy()
    delays = [policy.delay(n) for n in range(1, policy.max_deliver)]
    assert delays[:9] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]
    assert set(delays[8:]) == {300.0}
    assert policy.horizon == sum(delays) == 3810.0
    assert policy.horizon >= 3600


def test_horizon_counts_the_delays_between_deliveries() -> None:
    assert POLICY.horizon == 2.0 + 4.0 + 8.0 + 10.0
    assert RetryPolicy(max_deliver=1).horizon == 0.0
