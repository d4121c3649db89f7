"""Alertmanager notification -> one `AlertReceived` event per alert.

Pure: no I/O; the arrival time is a parameter.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from herald.ingest.alertmanager import WebhookAlert, WebhookMessage
from herald.shared.events import AlertReceived, AlertState

_FIELD_SEPARATOR = "\x1f"
"""ASCII unit separator: cannot appear in an integration id, a fingerprint or a timestamp."""


def event_id(integration: str, fingerprint: str, status: AlertState, starts_at: datetime) -> str:
    """Identity of one alert event: the same (integration, fingerprint, status, startsAt) always
    gives the same id, whoever sends it and however often. Also the JetStream `Nats-Msg-Id`."""
    when = starts_at.astimezone(UTC).isoformat(timespec="microseconds")
    text = _FIELD_SEPARATOR.join((integration, fingerprint, status.value, when))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def occurred_at(alert: WebhookAlert, received_at: datetime) -> datetime:
    """Event time: `startsAt` when firing; `endsAt` when resolved (arrival time if it has none)."""
    if alert.status is AlertState.FIRING:
        return alert.starts_at
    return alert.ends_at if alert.ends_at is not None else received_at


def normalize(
    message: WebhookMessage, integration: str, received_at: datetime
) -> list[AlertReceived]:
    """One event per alert of the notification, in the payload's order."""
    events: list[AlertReceived] = []
    for alert in message.alerts:
        fp = alert.effective_fingerprint()
        events.append(
            AlertReceived(
                event_id=event_id(integration, fp, alert.status, alert.starts_at),
                occurred_at=occurred_at(alert, received_at),
                received_at=received_at,
                integration=integration,
                fingerprint=fp,
                status=alert.status,
                labels=dict(alert.labels),
                annotations=dict(alert.annotations),
                starts_at=alert.starts_at,
                ends_at=alert.ends_at,
                generator_url=alert.generator_url,
                receiver=message.receiver,
                group_key=message.group_key,
                external_url=message.external_url,
            )
        )
    return events
