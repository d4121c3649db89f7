"""The channel protocol: `send` a notice or raise saying whether trying again may help.

As in Alertmanager's notify.go, only retryable failures are retried; a permanent failure
(a 4xx from a webhook, say) is logged, counted and not retried forever.
"""

from __future__ import annotations

from typing import Protocol

from herald.notifier.notice import Notice

MAX_SEND_SECONDS = 60.0
"""No send lasts longer, start to end (the largest `timeout_seconds` the configuration accepts):
`delivery` cuts any send off at this bound, and the claim TTL and the consumer's ack_wait are
longer, so no other worker can take a notification over while it is still being sent."""


class ChannelError(Exception):
    """A channel could not deliver a notice. The message is safe to log (no secrets)."""


class RetryableError(ChannelError):
    """Trying again later may succeed (network error, timeout, 5xx, 429)."""


class PermanentError(ChannelError):
    """Trying again will fail the same way (rejected request, misconfiguration)."""


class PartialFailure(RetryableError):
    """Some parts of a channel (Apprise URLs, by place) were not delivered, the others were:
    only `pending` is tried again (`send(notice, only=pending)`)."""

    def __init__(self, message: str, pending: frozenset[int]) -> None:
        super().__init__(message)
        self.pending = pending


class Channel(Protocol):
    async def send(self, notice: Notice) -> None:
        """Deliver `notice`; raise RetryableError or PermanentError when it was not delivered.
        Must return within MAX_SEND_SECONDS (it is cut off and counted as retryable after)."""
