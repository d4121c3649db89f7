"""What to do with a message once its notifications were attempted (pure).

A message is acked when every channel is done (sent, or failed permanently), otherwise it is
nak'ed with an exponential delay so that only the channels still pending are retried; on its
last allowed delivery it is given up loudly instead.

The default policy retries for a little over an hour (`RetryPolicy().horizon`: 2, 4, ... 256 s,
then 300 s eleven times, 3,810 s in all), so a pager outage of up to an hour loses no page.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from herald.shared.backoff import Backoff


@dataclass(frozen=True)
class RetryPolicy:
    max_deliver: int = 20
    """Deliveries of one message (JetStream `max_deliver`), the first included."""
    base_delay: float = 2.0
    """Delay before the first redelivery, in seconds; doubled for each further one."""
    max_delay: float = 300.0
    """Upper bound of the delay, in seconds."""

    def __post_init__(self) -> None:
        if self.max_deliver < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"invalid retry policy {self!r}")

    def delay(self, num_delivered: int) -> float:
        """Delay before redelivering a message delivered `num_delivered` times (1 = first)."""
        return Backoff(self.base_delay, self.max_delay).delay(num_delivered)

    @property
    def horizon(self) -> float:
        """Seconds from the first delivery to the last one, counting only the nak delays (each
        delivery's own handling time comes on top): how long a channel outage can last before
        its notification is given up."""
        return sum(self.delay(n) for n in range(1, self.max_deliver))


class Verdict(StrEnum):
    ACK = "ack"
    """Every channel is done: ack the message."""
    RETRY = "retry"
    """Some channels are pending: nak with `delay`, they are retried on redelivery."""
    GIVE_UP = "give_up"
    """Some channels are pending but this was the last delivery: terminate, loudly."""


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay: float = 0.0
    pending: tuple[str, ...] = ()
    """The channels not done yet."""


def decide(pending: tuple[str, ...], num_delivered: int, policy: RetryPolicy) -> Decision:
    if not pending:
        return Decision(Verdict.ACK)
    if num_delivered >= policy.max_deliver:
        return Decision(Verdict.GIVE_UP, pending=pending)
    return Decision(Verdict.RETRY, delay=policy.delay(num_delivered), pending=pending)
