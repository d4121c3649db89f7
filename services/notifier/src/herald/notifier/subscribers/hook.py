"""Posting to subscribers' webhooks: signed as every webhook Herald posts (`herald.shared.webhook_signature`) with the subscriber's own key, never
following redirects, only to addresses `destination` allows; and the challenge that verifies a
new one. Retryable: 5xx, 408, 429, network errors, timeouts; any other non-2xx is permanent."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

from herald.notifier.channels.channel import PermanentError, RetryableError
from herald.notifier.subscribers.destination import reachable
from herald.shared.webhook_signature import signed_headers

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Herald-Subscribers/1"


class Hooks:
    def __init__(
        self,
        http: httpx.AsyncClient,
        allow_private: bool,
        clock: Callable[[], datetime],
        allowed: Callable[[str, bool], Awaitable[bool]] = reachable,
    ) -> None:
        self.http = http
        self.allow_private = allow_private
        self.clock = clock
        self.allowed = allowed

    async def post(
        self, url: str, body: dict[str, Any], key: str, idempotency_key: str
    ) -> httpx.Response:
        if not await self.allowed(url, self.allow_private):
            raise PermanentError("webhook address not allowed")
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(key.encode(), data, self.clock().timestamp()),
            "Idempotency-Key": idempotency_key,
        }
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                response = await self.http.post(
                    url,
                    content=data,
                    headers=headers,
                    timeout=TIMEOUT_SECONDS,
                    follow_redirects=False,
                )
        except (TimeoutError, httpx.TimeoutException):
            raise RetryableError("timed out") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"network error ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status >= 500 or status in (408, 429):
            raise RetryableError(f"HTTP {status}")
        raise PermanentError(f"HTTP {status}")

    async def challenge(
        self, url: str, body_for: Callable[[str], dict[str, Any]], key: str
    ) -> bool:
        """POST a challenge; True when the answer echoes it (`{"challenge": ...}` or the bare
        value as text)."""
        nonce = secrets.token_urlsafe(24)
        response = await self.post(url, body_for(nonce), key, f"challenge:{nonce}")
        text = response.text.strip()
        if text == nonce:
            return True
        try:
            answer = json.loads(text)
        except ValueError:
            return False
        return isinstance(answer, dict) and answer.get("challenge") == nonce
