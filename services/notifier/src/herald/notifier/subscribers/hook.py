"""Posting to subscribers' webhooks: signed as every webhook Herald posts
(`herald.shared.webhook_signature`) with the subscriber's own key, never following redirects,
only to addresses `destination` allows (checked as the connection is made, over its own HTTP
client); and the challenge that verifies a new one. Retryable: 5xx, 408, 429, network errors,
timeouts; an address not allowed and any other non-2xx are permanent."""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpcore
import httpx

from herald.notifier.channels.channel import PermanentError, RetryableError
from herald.notifier.subscribers.destination import (
    NotAllowed,
    Resolve,
    checked_client,
    system_resolve,
    well_formed,
)
from herald.shared.webhook_signature import signed_headers

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Herald-Subscribers/1"


class Hooks:
    """Owns its HTTP client (`aclose` it): the one whose connections keep the address rule.
    `resolve`, `dial` (the network backend it connects with) and `ssl_context` are for tests."""

    def __init__(
        self,
        allow_private: bool,
        clock: Callable[[], datetime],
        *,
        resolve: Resolve = system_resolve,
        dial: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.http = checked_client(allow_private, resolve, dial, ssl_context)
        self.clock = clock

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(
        self, url: str, body: dict[str, Any], key: str, idempotency_key: str
    ) -> httpx.Response:
        if not well_formed(url):
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
        except NotAllowed as exc:
            raise PermanentError(f"webhook address not allowed: {exc}") from None
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
