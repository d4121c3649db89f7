"""Token buckets: a per-token rate limit on inbound requests.

A bucket holds at most `burst` tokens and refills at `per_second`; a request takes one. When
none is left the request is refused with how long until one is (ingest answers 503 with that
as Retry-After: Alertmanager drops a notification on 429 but retries a 503).

Pure: `now` (seconds on a monotonic clock) is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int


@dataclass(frozen=True)
class Bucket:
    tokens: float
    updated: float
    """When `tokens` was last computed (same clock as `now`)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0
    """Seconds until a request would be allowed (0 when allowed)."""

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, at least 1 (Retry-After takes an integer)."""
        return str(max(1, math.ceil(self.retry_after)))


def take(bucket: Bucket | None, rate: Rate, now: float) -> tuple[Bucket, Decision]:
    """Take one token from `bucket` (None: a full, new bucket) at time `now`."""
    if bucket is None:
        tokens = float(rate.burst)
    else:
        elapsed = max(0.0, now - bucket.updated)  # a clock that went back refills nothing
        tokens = min(float(rate.burst), bucket.tokens + elapsed * rate.per_second)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), Decision(True)
    return Bucket(tokens, now), Decision(False, (1.0 - tokens) / rate.per_second)


class RateLimiter:
    """The buckets of every key (one per inbound token), each with its own rate."""

    def __init__(self) -> None:
        self._buckets: dict[Hashable, Bucket] = {}

    def check(self, key: Hashable, rate: Rate, now: float) -> Decision:
        bucket, decision = take(self._buckets.get(key), rate, now)
        self._buckets[key] = bucket
        return decision
