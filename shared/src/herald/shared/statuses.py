"""The one ordering of component statuses, incident impacts and page indicators. Pure.

Worst first wins: operational < under_maintenance < degraded_performance < partial_outage <
major_outage; impact none < minor < major < critical; the page indicator (Statuspage's
`status.indicator`) none < maintenance < minor < major < critical.
"""

from __future__ import annotations

from collections.abc import Iterable

from herald.shared.events import ComponentStatus, Impact, IncidentStatus

CLOSED: frozenset[IncidentStatus] = frozenset({IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM})
"""The incident statuses that close an incident (for its readers too): resolved, and its
postmortem after it."""

STATUS_RANK: dict[ComponentStatus, int] = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}

IMPACT_RANK: dict[Impact, int] = {
    Impact.NONE: 0,
    Impact.MINOR: 1,
    Impact.MAJOR: 2,
    Impact.CRITICAL: 3,
}

INDICATOR_RANK: dict[str, int] = {
    "none": 0,
    "maintenance": 1,
    "minor": 2,
    "major": 3,
    "critical": 4,
}
"""Statuspage's page indicators: an impact, or `maintenance` between none and minor."""

_IMPACT_OF: dict[ComponentStatus, Impact] = {
    ComponentStatus.MAJOR_OUTAGE: Impact.CRITICAL,
    ComponentStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ComponentStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
}

_INDICATOR_OF: dict[ComponentStatus, str] = {
    ComponentStatus.OPERATIONAL: "none",
    ComponentStatus.UNDER_MAINTENANCE: "maintenance",
    ComponentStatus.DEGRADED_PERFORMANCE: "minor",
    ComponentStatus.PARTIAL_OUTAGE: "major",
    ComponentStatus.MAJOR_OUTAGE: "critical",
}


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    """The worst status; operational when there is none."""
    return max(statuses, key=STATUS_RANK.__getitem__, default=ComponentStatus.OPERATIONAL)


def worse(a: ComponentStatus, b: ComponentStatus) -> bool:
    """True when `a` is strictly worse than `b`."""
    return STATUS_RANK[a] > STATUS_RANK[b]


def impact_for(status: ComponentStatus) -> Impact:
    """major_outage -> critical, partial_outage -> major, degraded_performance -> minor, else none."""
    return _IMPACT_OF.get(status, Impact.NONE)


def worst_impact(*impacts: Impact) -> Impact:
    """The highest impact; none when there is none."""
    return max(impacts, key=IMPACT_RANK.__getitem__, default=Impact.NONE)


def indicator_of(status: ComponentStatus) -> str:
    """The page indicator a component status stands for."""
    return _INDICATOR_OF[status]


def worst_indicator(*indicators: str) -> str:
    return max(indicators, key=INDICATOR_RANK.__getitem__, default="none")
