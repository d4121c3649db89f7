"""Signed, expiring acknowledge (and resolve) links (pure).

A link token is `<payload>.<signature>`, both base64url without padding: the payload is compact
JSON `{"a": action, "s": service, "i": incident id, "u": user or null, "e": expiry (Unix
seconds)}` and the signature its HMAC-SHA256 under the notifier's `ack_secret`. The token says
everything the POST needs, so any replica can act on it without a lookup; changing any byte of
it breaks the signature (checked in constant time). A token is valid until its expiry; acting
on it twice is harmless (an acknowledgement is idempotent).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token allows."""

    action: Action
    service: str
    incident_id: str
    user: str | None
    expires_at: datetime


class LinkError(ValueError):
    """The token is not valid; `str()` says why, for the person who followed it."""


class Expired(LinkError):
    pass


class Tampered(LinkError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def make_token(
    key: bytes,
    action: Action,
    service: str,
    incident_id: str,
    user: str | None,
    now: datetime,
    valid_for: timedelta,
) -> str:
    expiry = int((now + valid_for).timestamp())
    body = {"a": action.value, "s": service, "i": incident_id, "u": user, "e": expiry}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(key, payload)}"


def read_token(key: bytes, token: str, now: datetime) -> LinkClaim:
    """The claim of a genuine, unexpired token; Tampered or Expired otherwise."""
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature or len(token) > 2048:
        raise Tampered("this link is not a Herald acknowledge link (or was cut short)")
    if not hmac.compare_digest(_sign(key, payload), signature):
        raise Tampered("this link's signature does not match: it was altered, or is not ours")
    try:
        body: Any = json.loads(_unb64(payload))
        claim = LinkClaim(
            action=Action(body["a"]),
            service=str(body["s"]),
            incident_id=str(body["i"]),
            user=None if body.get("u") is None else str(body["u"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), UTC),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise Tampered("this link's content is not readable") from exc
    if now >= claim.expires_at:
        raise Expired(f"this link expired at {claim.expires_at.isoformat()}")
    return claim


def link_url(base_url: str, token: str) -> str:
    """The link people click: `<notifier public URL>/ack/<token>`."""
    return f"{base_url.rstrip('/')}/ack/{token}"


@dataclass(frozen=True)
class Links:
    """Makes and reads the links of one deployment (its key, public URL and link lifetime)."""

    key: bytes
    base_url: str
    valid_for: timedelta = timedelta(hours=24)
    resolve_links: bool = False

    def for_page(
        self, service: str, incident_id: str, user: str | None, now: datetime
    ) -> tuple[str, str]:
        """The acknowledge link and the resolve link ("" unless allowed) of a page."""
        ack = make_token(self.key, Action.ACK, service, incident_id, user, now, self.valid_for)
        resolve = ""
        if self.resolve_links:
            token = make_token(
                self.key, Action.RESOLVE, service, incident_id, user, now, self.valid_for
            )
            resolve = link_url(self.base_url, token)
        return link_url(self.base_url, ack), resolve

    def read(self, token: str, now: datetime) -> LinkClaim:
        return read_token(self.key, token, now)
