"""Alertmanager webhook payloads for the tests (shaped like webhook.Message v4)."""

from __future__ import annotations

from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def alert(
    name: str = "HighErrorRate",
    *,
    status: str = "firing",
    starts_at: str = "2024-05-01T10:00:00.123456789Z",
    ends_at: str = ZERO_TIME,
    fingerprint: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": name, "service": "payments-api", "severity": "critical", **labels},
        "annotations": {"summary": f"{name} on payments", "description": "<b>5xx</b> > 5%"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    }
    if fingerprint is not None:
        doc["fingerprint"] = fingerprint
    return doc


def message(*alerts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    statuses = {a["status"] for a in alerts}
    return {
        "version": "4",
        "groupKey": '{}:{service="payments-api"}',
        "truncatedAlerts": 0,
        "status": "firing" if "firing" in statuses else "resolved",
        "receiver": "herald",
        "groupLabels": {"service": "payments-api"},
        "commonLabels": {"service": "payments-api"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
        **extra,
    }
