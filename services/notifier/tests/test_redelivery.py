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
