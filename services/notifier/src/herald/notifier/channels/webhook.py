"""The webhook channel: POST the notice as JSON to a URL (any pager with a generic webhook).

5xx, 408, 429, network errors and timeouts are retryable; any other non-2xx is permanent.
`timeout_seconds` bounds the whole request, answer included: httpx's own timeouts apply to each
step (connect, each read...), so a receiver dripping its answer byte by byte would outlast them.
Every request carries `Idempotency-Key: <event_id>:<channel_id>` so a receiver can drop the
rare duplicate we cannot rule out (a send that succeeded but whose answer was lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from herald.notifier.channels.channel import MAX_SEND_SECONDS, PermanentError, RetryableError
from herald.notifier.notice import Notice

RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook channel with its secrets resolved (kept out of repr)."""

    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_seconds: float = 5.0
    """Bound of the whole request, in seconds, at most MAX_SEND_SECONDS."""

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds <= MAX_SEND_SECONDS:
            raise ValueError(f"webhook timeout must be in (0, {MAX_SEND_SECONDS}] seconds")


def is_retryable_status(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUS


OPTIONAL_FIELDS = ("recipient", "user", "ack_url", "resolve_url")
"""Notice fields only pages of an escalation have: left out of the body when unset, so the body
of a legacy `oncall:` page stays what it was."""


def webhook_body(notice: Notice) -> dict[str, object]:
    body: dict[str, object] = notice.model_dump(mode="json")
    for name in OPTIONAL_FIELDS:
        if not body.get(name):
            body.pop(name, None)
    return body


class WebhookChannel:
    def __init__(self, channel_id: str, target: WebhookTarget, http: httpx.AsyncClient) -> None:
        self.channel_id = channel_id
        self.target = target
        self.http = http

    def request_headers(self, notice: Notice) -> dict[str, str]:
        return {**self.target.headers, "Idempotency-Key": f"{notice.event_id}:{self.channel_id}"}

    async def send(self, notice: Notice) -> None:
        try:
            async with asyncio.timeout(self.target.timeout_seconds):
                response = await self.http.post(
                    self.target.url,
                    json=webhook_body(notice),
                    headers=self.request_headers(notice),
                    timeout=self.target.timeout_seconds,
                )
        except (TimeoutError, httpx.TimeoutException):
            raise RetryableError("timed out") from None
        except httpx.TransportError as exc:
            # The exception text may carry the URL (a secret): name the kind of failure only.
            raise RetryableError(f"network error ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if is_retryable_status(status):
            raise RetryableError(f"HTTP {status}")
        raise PermanentError(f"HTTP {status}")
