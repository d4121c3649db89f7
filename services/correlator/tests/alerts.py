"""Alert events built as ingest would build them, for the correlator tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from herald.shared.events import AlertReceived, AlertState

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

AlertFactory = Callable[..., AlertReceived]


def make_alert(
    fingerprint: str = "fp1",
    status: str = "firing",
    starts_at: datetime = T0,
    ends_at: datetime | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    integration: str = "alertmanager",
    **extra: Any,
) -> AlertReceived:
    state = AlertState(status)
    if state is AlertState.RESOLVED and ends_at is None:
        ends_at = starts_at + timedelta(minutes=5)
    occurred = starts_at if state is AlertState.FIRING else ends_at
    assert occurred is not None
    return AlertReceived(
        event_id=f"{integration}:{fingerprint}:{state.value}:{starts_at.isoformat()}",
        occurred_at=occurred,
        received_at=occurred + timedelta(seconds=1),
        integration=integration,
        fingerprint=fingerprint,
        status=state,
        labels={"alertname": "HighErrorRate", "service": "payments-api", "severity": "critical"}
        if labels is None
        else labels,
        annotations={} if annotations is None else annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        **extra,
    )
