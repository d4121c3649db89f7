"""How Herald signs every webhook it posts, pages and subscriber messages alike (as Stripe and
GitHub sign theirs): `X-Herald-Timestamp` is the Unix time of the send in seconds and
`X-Herald-Signature` is `sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>` over the exact
bytes of the body. A receiver recomputes it, compares in constant time and refuses a timestamp
more than a few minutes from now (a replay): `verify` is that check."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Herald-Timestamp"
SIGNATURE_HEADER = "X-Herald-Signature"
REPLAY_TOLERANCE_SECONDS = 300
"""What `verify` accepts by default: a timestamp at most this far from now."""


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    """The `X-Herald-Signature` value of `body` sent at `timestamp`."""
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(key: bytes, body: bytes, now: float) -> dict[str, str]:
    """The two headers that sign `body` sent at `now` (Unix seconds)."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(key, timestamp, body)}


def verify(
    key: bytes,
    timestamp: str,
    body: bytes,
    header: str,
    now: float,
    tolerance: float = REPLAY_TOLERANCE_SECONDS,
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent (no replay)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(key, timestamp, body), header)
