"""An incident as subscribers may see it (pure): what the public page shows
(`herald.shared.public_page.public_view`, the status page's rule), whether it is over for them,
and the digest of what they are told."""

from __future__ import annotations

import hashlib

from herald.shared.events import Incident
from herald.shared.statuses import CLOSED


def is_resolved(view: Incident) -> bool:
    return view.status in CLOSED


def told_digest(view: Incident) -> str:
    """What subscribers would be told, in brief: an event that changes only what they do not
    see (an internal update, an alert joining) has the digest of the one before and tells
    nobody anything."""
    seen = [str(view.status), str(view.component_status), view.title]
    seen += [f"{e.at.isoformat()}|{e.status}|{e.body}" for e in view.timeline]
    return hashlib.sha256("\n".join(seen).encode()).hexdigest()[:16]
