"""The webhook channel: POST the notice as JSON to a URL (any pager with a generic webhook).

5xx, 408, 429, network errors and timeouts are retryable; any other non-2xx is permanent.
`timeout_seconds` bounds the whole request, answer included: httpx's own timeouts apply to each
step (connect, each read...), so a receiver dripping its answer byte by byte would outlast them.
Every request carries `Idempotency-Key: <event_id>:<channel_id>` so a receiver can drop the
rare duplicate we cannot rule out (a send that succeeded but whose answer was lost).

With a `secret`, every request is signed as every webhook Herald posts is
(`herald.shared.webhook_signature`: `X-Herald-Timestamp` and `X-Herald-Signature: sha256=...`).

Redirects (301, 302, 303, 307, 308) are followed up to `max_redirects` times, POSTing the same
body and signature again (a page is never turned into a GET); the configured `headers` (they
may be credentials) go only to the original origin. A 3xx that cannot be followed (no
`Location`, too many hops, not http(s)) is a permanent failure saying so: never a silent loss.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from herald.notifier.channels.channel import MAX_SEND_SECONDS, PermanentError, RetryableError
from herald.notifier.message_template import render
from herald.notifier.notice import Notice
from herald.shared.config import MessageTemplate
from herald.shared.webhook_signature import signed_headers

RETRYABLE_STATUS = frozenset({408, 429})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook channel with its secrets resolved (kept out of repr)."""

    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_seconds: float = 5.0
    """Bound of the whole request, in seconds, at most MAX_SEND_SECONDS."""
    secret: bytes | None = field(default=None, repr=False)
    """HMAC key signing every request (None: unsigned)."""
    max_redirects: int = 3
    template: MessageTemplate | None = None

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds <= MAX_SEND_SECONDS:
            raise ValueError(f"webhook timeout must be in (0, {MAX_SEND_SECONDS}] seconds")


def is_retryable_status(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUS


OPTIONAL_FIELDS = ("recipient", "user", "ack_url", "resolve_url")
"""Notice fields only pages of an escalation have: left out of the body when unset, so the body
of a legacy `oncall:` page stays what it was."""


def webhook_body(notice: Notice, template: MessageTemplate | None = None) -> dict[str, object]:
    """The JSON body; with a `template`, `text` is its title and `message` its body."""
    body: dict[str, object] = notice.model_dump(mode="json")
    for name in OPTIONAL_FIELDS:
        if not body.get(name):
            body.pop(name, None)
    if template is not None:
        message = render("webhook", notice, template)
        body["text"] = message.title
        body["message"] = message.body
    return body


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class WebhookChannel:
    def __init__(
        self,
        channel_id: str,
        target: WebhookTarget,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.channel_id = channel_id
        self.target = target
        self.http = http
        self.clock = clock

    def request_headers(self, notice: Notice) -> dict[str, str]:
        return {**self.target.headers, "Idempotency-Key": f"{notice.event_id}:{self.channel_id}"}

    def signed(self, content: bytes) -> dict[str, str]:
        if self.target.secret is None:
            return {}
        return signed_headers(self.target.secret, content, self.clock())

    async def send(self, notice: Notice) -> None:
        content = json.dumps(
            webhook_body(notice, self.target.template), separators=(",", ":")
        ).encode()
        headers = {"Content-Type": "application/json", **self.request_headers(notice)}
        headers.update(self.signed(content))
        origin = _origin(httpx.URL(self.target.url))
        url = httpx.URL(self.target.url)
        try:
            async with asyncio.timeout(self.target.timeout_seconds):
                for hop in range(self.target.max_redirects + 1):
                    if _origin(url) != origin:  # credentials stay with their origin
                        headers = {k: v for k, v in headers.items() if k not in self.target.headers}
                    response = await self.http.post(
                        url,
                        content=content,
                        headers=headers,
                        timeout=self.target.timeout_seconds,
                        follow_redirects=False,
                    )
                    status = response.status_code
                    if status not in REDIRECT_STATUS:
                        break
                    location = response.headers.get("location")
                    if not location:
                        raise PermanentError(f"HTTP {status} without a Location: not followed")
                    nxt = url.join(location)
                    if nxt.scheme not in ("http", "https"):
                        raise PermanentError(f"HTTP {status} to a {nxt.scheme}: URL: not followed")
                    if hop == self.target.max_redirects:
                        raise PermanentError(
                            f"HTTP {status}: more than {self.target.max_redirects} redirects, "
                            "not followed"
                        )
                    url = nxt
        except (TimeoutError, httpx.TimeoutException):
            raise RetryableError("timed out") from None
        except httpx.TransportError as exc:
            # The exception text may carry the URL (a secret): name the kind of failure only.
            raise RetryableError(f"network error ({type(exc).__name__})") from None
        if 200 <= status < 300:
            return
        if is_retryable_status(status):
            raise RetryableError(f"HTTP {status}")
        raise PermanentError(f"HTTP {status}")
