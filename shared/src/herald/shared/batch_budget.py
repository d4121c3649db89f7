"""How many messages a pull consumer fetches next: what it handles in a budget of time at the
rate it has been handling them, between a least and a most. Pure: the caller measures.

A consumer whose cost is mostly per (service, batch) rather than per message, as the
correlator's is, handles a backlog faster the larger its batches, but a batch must be acked
well within JetStream's `ack_wait` or it is redelivered whole. A fixed size is either small on a
fast machine or too slow on a loaded one; this one follows the measured rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SMOOTHING = 0.5
"""Weight of a faster batch's rate against the rate before it."""


@dataclass
class BatchBudget:
    least: int
    """The size while nothing is known, and never less."""
    most: int
    """Never more (the consumer's `concurrency` must allow it)."""
    seconds: float
    """The time a batch should take at the rate measured (a fraction of `ack_wait`)."""
    rate: float | None = field(default=None)
    """Messages per second handled, smoothed over the batches seen; None before the first."""

    def __post_init__(self) -> None:
        if not 1 <= self.least <= self.most:
            raise ValueError("need 1 <= least <= most")
        if self.seconds <= 0:
            raise ValueError("seconds must be positive")

    def size(self) -> int:
        """How many messages to fetch at most next."""
        if self.rate is None:
            return self.least
        return max(self.least, min(self.most, int(self.rate * self.seconds)))

    def observe(self, messages: int, seconds: float) -> None:
        """A batch of `messages` was handled in `seconds`. A full batch (of the size asked)
        says how fast a backlog goes; a smaller one mostly measures its fixed cost (a lone
        message is a whole step), so it counts only when it overran the budget. A slower rate
        is taken at once (the next batch must not overrun too), a faster one smoothed."""
        if messages <= 0:
            return
        latest = messages / max(seconds, 1e-6)
        if messages < self.size() and seconds <= self.seconds:
            return
        if self.rate is None or latest < self.rate:
            self.rate = latest
        else:
            self.rate = SMOOTHING * latest + (1 - SMOOTHING) * self.rate
