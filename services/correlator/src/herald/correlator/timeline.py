"""An incident's story: the words of each timeline entry, and the bounded timeline. Pure.

Alert names inside the texts are untrusted text (the status page escapes them)."""

from __future__ import annotations

from datetime import datetime

from herald.shared.events import ComponentStatus, Incident, TimelineEntry

MAX_ENTRIES = 20
"""Entries an incident carries: the first one and the latest ones (an event must fit NATS)."""
MAX_ENTRY = 1024
"""Characters of one entry's text."""

NO_LONGER_REPORTED = "no longer reported by Alertmanager (silenced, inhibited or expired)"


def _alerts(n: int) -> str:
    return f"{n} alert{'s' if n != 1 else ''}"


def opened(alertname: str) -> str:
    return f"{alertname} is firing."


def joined(alertname: str, firing: int, total: int) -> str:
    return f"{alertname} is firing: {firing} of {_alerts(total)} firing."


def recovered(alertname: str, resolved: int, total: int, *, absent: bool) -> str:
    what = NO_LONGER_REPORTED if absent else "resolved"
    return f"{alertname} is {what}: {resolved} of {_alerts(total)} resolved."


def closed(alertname: str, total: int, *, absent: bool) -> str:
    what = NO_LONGER_REPORTED if absent else "resolved"
    everything = "The alert is" if total == 1 else f"All {_alerts(total)} are"
    return f"{alertname} is {what}. {everything} resolved."


def told(
    incident: Incident,
    at: datetime,
    body: str,
    *,
    component: ComponentStatus | None = None,
    previous: ComponentStatus | None = None,
) -> Incident:
    """`incident` with one more entry (its status as it is now), bounded to MAX_ENTRIES."""
    entry = TimelineEntry(
        at=at,
        status=incident.status,
        body=body if len(body) <= MAX_ENTRY else body[: MAX_ENTRY - 1] + "…",
        component_status=component if component != previous else None,
        previous_status=previous if component != previous else None,
    )
    timeline = (*incident.timeline, entry)
    if len(timeline) > MAX_ENTRIES:
        timeline = (timeline[0], *timeline[-(MAX_ENTRIES - 1) :])
    return incident.model_copy(update={"timeline": timeline})
