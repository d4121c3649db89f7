from __future__ import annotations

from herald.ingest.ratelimit import Rate, RateLimiter, take

RATE = Rate(per_second=2.0, burst=3)


def test_a_new_bucket_allows_a_burst_then_refuses() -> None:
    bucket = None
    for _ in range(3):
        bucket, decision = take(bucket, RATE, now=100.0)
        assert decision.allowed
    bucket, decision = take(bucket, RATE, now=100.0)
    assert not decision.allowed
    assert decision.retry_after == 0.5  # one token at 2 per second
    assert decision.retry_after_header == "1"


def test_tokens_refill_at_the_rate_up_to_the_burst() -> None:
    bucket = None
    for _ in range(3):
        bucket, _ = take(bucket, RATE, now=0.0)
    bucket, decision = take(bucket, RATE, now=0.5)
    assert decision.allowed
    bucket, decision = take(bucket, RATE, now=0.5)
    assert not decision.allowed
    bucket, decision = take(bucket, RATE, now=1000.0)
    assert decision.allowed
    assert bucket.tokens == 2.0  # capped at the burst, less the one taken


def test_a_clock_going_back_refills_nothing() -> None:
    bucket = None
    for _ in range(3):
        bucket, _ = take(bucket, RATE, now=10.0)
    _, decision = take(bucket, RATE, now=5.0)
    assert not decision.allowed


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter()
    one = Rate(per_second=1.0, burst=1)
    assert limiter.check(("am", 0), one, 0.0).allowed
    assert not limiter.check(("am", 0), one, 0.0).allowed
    assert limiter.check(("am", 1), one, 0.0).allowed  # the integration's other token
    assert limiter.check(("am", 0), one, 1.0).allowed
