"""Severity label -> component status, worst-of, and incident impact. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from herald.shared.config import Severity
from herald.shared.events import ComponentStatus, Impact

_STATUS_RANK: dict[ComponentStatus, int] = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}

_IMPACT_RANK: dict[Impact, int] = {
    Impact.NONE: 0,
    Impact.MINOR: 1,
    Impact.MAJOR: 2,
    Impact.CRITICAL: 3,
}

_IMPACT_OF: dict[ComponentStatus, Impact] = {
    ComponentStatus.MAJOR_OUTAGE: Impact.CRITICAL,
    ComponentStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ComponentStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
}


def status_for(severity: str | None, config: Severity) -> ComponentStatus:
    """The component status a firing alert of this severity means (`default` when unmapped)."""
    if severity is None:
        return config.default
    return config.map.get(severity, config.default)


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    """The worst status (operational < degraded_performance < partial_outage < major_outage);
    operational when there is none."""
    return max(statuses, key=_STATUS_RANK.__getitem__, default=ComponentStatus.OPERATIONAL)


def impact_for(status: ComponentStatus) -> Impact:
    """major_outage -> critical, partial_outage -> major, degraded_performance -> minor, else none."""
    return _IMPACT_OF.get(status, Impact.NONE)


def worst_impact(*impacts: Impact) -> Impact:
    """The highest impact (none < minor < major < critical)."""
    return max(impacts, key=_IMPACT_RANK.__getitem__, default=Impact.NONE)
