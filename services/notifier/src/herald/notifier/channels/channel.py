"""The channel protocol: `send` a notice or raise saying whether trying again may help.

As in Alertmanager's notify.go, only retryable failures are retried; a permanent failure
(a 4xx from a webhook, say) is logged, counted and not retried forever.
"""

from __future__ import annotations

from typing import Protocol

from herald.notifier.notice import Notice


class ChannelError(Exception):
    """A channel could not deliver a notice. The message is safe to log (no secrets)."""


class RetryableError(ChannelError):
    """Trying again later may succeed (network error, timeout, 5xx, 429)."""


class PermanentError(ChannelError):
    """Trying again will fail the same way (rejected request, misconfiguration)."""


class Channel(Protocol):
    async def send(self, notice: Notice) -> None:
        """Deliver `notice`; raise RetryableError or PermanentError when it was not delivered."""
