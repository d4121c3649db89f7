"""Alertmanager webhook payloads the benchmarks send (the shape of Alertmanager's
`notify/webhook` message, version 4). Pure: times are parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
"""What Alertmanager sends as `endsAt` of a firing alert."""
RECEIVER = "herald-statuspage"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert(
    labels: Mapping[str, str],
    fingerprint: str,
    starts_at: datetime,
    ends_at: datetime | None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One alert of a notification: firing when `ends_at` is None, else resolved."""
    return {
        "status": "firing" if ends_at is None else "resolved",
        "labels": dict(labels),
        "annotations": dict(annotations or {}),
        "startsAt": iso(starts_at),
        "endsAt": ZERO_TIME if ends_at is None else iso(ends_at),
        "generatorURL": "http://prometheus.monitoring:9090/graph",
        "fingerprint": fingerprint,
    }


def notification(
    alerts: Sequence[Mapping[str, Any]], group_labels: Mapping[str, str]
) -> dict[str, Any]:
    """A complete notification (`truncatedAlerts` 0) of one aggregation group: firing while any
    of its alerts fires, as Alertmanager sets it."""
    firing = any(a["status"] == "firing" for a in alerts)
    pairs = ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))
    return {
        "version": "4",
        "groupKey": f"{{}}:{{{pairs}}}",
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": RECEIVER,
        "groupLabels": dict(group_labels),
        "commonLabels": dict(group_labels),
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": [dict(a) for a in alerts],
    }
