"""Exponential backoff: the one rule for "how long before trying again". Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """`base` seconds before the second attempt, doubled for each further one, at most `cap`."""

    base: float
    cap: float

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < self.base:
            raise ValueError(f"invalid backoff {self!r}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after `attempt` failed attempts (1 = the first one failed)."""
        exponent = max(attempt - 1, 0)
        if exponent >= 62:  # avoid huge floats; the cap applies long before
            return self.cap
        return float(min(self.base * 2**exponent, self.cap))
