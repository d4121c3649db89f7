"""When subscribers hear about a topic (an incident, a component) next (pure).

At most one message per subscriber per topic per `interval`: a change arriving sooner waits
until the interval since the last message is over, and the latest state then goes (the changes
in between are folded into it). The final state (a resolve) always goes, at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def due_at(told_at: datetime | None, now: datetime, interval: timedelta, final: bool) -> datetime:
    """When the topic's latest state should be sent, given when it was last told."""
    if final or told_at is None:
        return now
    return max(now, told_at + interval)


def incident_topic(incident_id: str) -> str:
    return f"incident:{incident_id}"


def component_topic(service: str) -> str:
    return f"component:{service}"


def maintenance_topic(maintenance_id: str) -> str:
    return f"maintenance:{maintenance_id}"
