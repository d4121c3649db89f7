"""Whether an incident got worse between two of its snapshots (pure): the holders of an
escalated incident are paged again when it did."""

from __future__ import annotations

from herald.shared.events import Impact, Incident
from herald.shared.statuses import worse

_IMPACT_ORDER = (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL)


def how_worse(before: Incident, after: Incident) -> str | None:
    """Why `after` is worse than `before` (for the log and the page), None when it is not:
    it became public, its impact rose, or its component's status got worse."""
    reasons = []
    if after.public and not before.public:
        reasons.append("now public")
    if _IMPACT_ORDER.index(after.impact) > _IMPACT_ORDER.index(before.impact):
        reasons.append(f"impact {before.impact.value} -> {after.impact.value}")
    if worse(after.component_status, before.component_status):
        reasons.append(f"status {before.component_status.value} -> {after.component_status.value}")
    return ", ".join(reasons) or None
