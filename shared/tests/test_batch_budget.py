"""How many messages the correlator fetches next (herald.shared.batch_budget). Pure."""

from __future__ import annotations

import pytest

from herald.shared.batch_budget import BatchBudget


def budget() -> BatchBudget:
    return BatchBudget(least=4096, most=16384, seconds=10.0)


def test_the_least_until_a_full_batch_was_measured() -> None:
    b = budget()
    assert b.size() == 4096
    b.observe(1, 0.003)  # a lone alert: its step's fixed cost, not a rate
    b.observe(300, 0.1)
    assert b.size() == 4096


def test_a_fast_backlog_grows_the_batch_up_to_the_most() -> None:
    b = budget()
    b.observe(4096, 2.0)  # 2,048/s: 10 s is 20,480, more than the most
    assert b.size() == 16384
    b.observe(16384, 3.0)
    assert b.size() == 16384


def test_a_batch_that_takes_long_shrinks_the_next_one_at_once() -> None:
    b = budget()
    b.observe(4096, 1.0)
    assert b.size() == 16384
    b.observe(16384, 20.0)  # the machine got busy: 819/s, taken at once
    assert b.size() == 8192
    b.observe(8192, 40.0)  # busier still: 204/s would be 2,048
    assert b.size() == 4096  # never below the least


def test_a_faster_batch_is_smoothed() -> None:
    b = budget()
    b.observe(4096, 4.0)  # 1,024/s
    assert b.size() == 10240
    b.observe(10240, 2.0)  # 5,120/s: half of it counts
    assert b.rate == pytest.approx(0.5 * 5120 + 0.5 * 1024)


def test_a_partial_batch_counts_only_when_it_overran_the_budget() -> None:
    b = budget()
    b.observe(4096, 1.0)
    b.observe(100, 0.5)  # 200/s, but within the budget: a small batch's fixed cost
    assert b.size() == 16384
    b.observe(8000, 20.0)  # a partial batch that took twice the budget: 400/s
    assert b.size() == 4096
    assert b.rate == pytest.approx(400.0)


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="least"):
        BatchBudget(least=0, most=10, seconds=1.0)
    with pytest.raises(ValueError, match="least"):
        BatchBudget(least=20, most=10, seconds=1.0)
    with pytest.raises(ValueError, match="seconds"):
        BatchBudget(least=1, most=10, seconds=0.0)
