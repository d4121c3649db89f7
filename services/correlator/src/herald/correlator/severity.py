"""Severity label -> component status. Pure: no I/O. (The ordering of statuses and impacts is
herald.shared.statuses.)"""

from __future__ import annotations

from herald.shared.config import Severity
from herald.shared.events import ComponentStatus


def status_for(severity: str | None, config: Severity) -> ComponentStatus:
    """The component status a firing alert of this severity means (`default` when unmapped)."""
    if severity is None:
        return config.default
    return config.map.get(severity, config.default)
