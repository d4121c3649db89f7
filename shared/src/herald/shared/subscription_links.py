"""Signed subscriber links (pure): the confirmation link of a double opt-in (carries the
sign-up itself and expires, so nothing is stored before someone confirms) and the unsubscribe
link of every message (carries the subscriber id, valid while the subscriber exists), and the
key a webhook subscriber verifies our signatures with.

A token is `<base64url payload>.<base64url HMAC-SHA256>`, the MAC over purpose and payload,
compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from herald.shared.subscriptions import SubscriberChannel


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, payload: str) -> str:
    return _b64(hmac.new(key, f"{purpose}:{payload}".encode(), hashlib.sha256).digest())


def _sign(key: bytes, purpose: str, body: dict[str, object]) -> str:
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(key, purpose, payload)}"


def _open(key: bytes, purpose: str, token: str) -> dict[str, object] | None:
    if len(token) > 4096 or token.count(".") != 1:
        return None
    payload, mac = token.split(".")
    if not hmac.compare_digest(mac, _mac(key, purpose, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation link confirms."""

    channel: SubscriberChannel
    address: str
    components: tuple[str, ...]
    expires_at: datetime


def confirmation_token(key: bytes, confirmation: Confirmation) -> str:
    return _sign(
        key,
        "confirm",
        {
            "c": confirmation.channel,
            "a": confirmation.address,
            "s": list(confirmation.components),
            "e": int(confirmation.expires_at.timestamp()),
        },
    )


def new_confirmation(
    channel: SubscriberChannel,
    address: str,
    components: tuple[str, ...],
    now: datetime,
    valid_for: timedelta,
) -> Confirmation:
    return Confirmation(channel, address, components, now + valid_for)


def read_confirmation(key: bytes, token: str, now: datetime) -> Confirmation | None:
    """The confirmation a token carries; None when forged, malformed or expired."""
    body = _open(key, "confirm", token)
    if body is None:
        return None
    channel, address, components, expires = (body.get(k) for k in ("c", "a", "s", "e"))
    if channel not in ("email", "webhook") or not isinstance(address, str):
        return None
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        return None
    if not isinstance(expires, int):
        return None
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        return None
    return Confirmation(channel, address, tuple(cast(list[str], components)), expires_at)


def unsubscribe_token(key: bytes, subscriber_id: str) -> str:
    return _sign(key, "unsubscribe", {"i": subscriber_id})


def read_unsubscribe(key: bytes, token: str) -> str | None:
    """The subscriber id an unsubscribe token names; None when forged or malformed."""
    body = _open(key, "unsubscribe", token)
    found = body.get("i") if body is not None else None
    return found if isinstance(found, str) else None


def webhook_key(key: bytes, subscriber_id: str) -> str:
    """The key one webhook subscriber verifies signatures with (sent to it in the challenge):
    derived, so nothing more is stored, and one leaked key is one subscriber's only."""
    return hmac.new(key, f"webhook:{subscriber_id}".encode(), hashlib.sha256).hexdigest()
