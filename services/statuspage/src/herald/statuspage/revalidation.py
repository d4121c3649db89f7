"""Conditional GETs: an answer's validators (ETag, Last-Modified) and whether a request's
If-None-Match / If-Modified-Since say the client already has it (RFC 9110 section 13).

Pure: bytes and header values in, decisions out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

CDN_CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30, stale-if-error=300"
"""For a CDN in front: a change shows within seconds (max-age), a CDN answers from its copy
while it fetches the next one (stale-while-revalidate) and while we are down (stale-if-error).
The live page does not depend on it: browsers get changes over /events."""


@dataclass(frozen=True)
class Validators:
    etag: str
    """Strong: a hash of the exact bytes sent."""
    last_modified: str
    """An HTTP date, second precision."""

    def headers(self) -> dict[str, str]:
        return {"ETag": self.etag, "Last-Modified": self.last_modified}


def validators(body: bytes, modified: datetime) -> Validators:
    digest = hashlib.sha256(body).hexdigest()[:32]
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return Validators(f'"{digest}"', format_datetime(modified.astimezone(UTC), usegmt=True))


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def not_modified(
    current: Validators, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """True when the client's copy is current (answer 304). If-None-Match, when present, decides
    alone (weak comparison, as for GET); an unparseable If-Modified-Since is ignored."""
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or current.etag in tags
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
        mine = parsedate_to_datetime(current.last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return mine <= since
