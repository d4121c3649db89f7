"""Alertmanager notification -> one `AlertReceived` event per alert, every field bounded.

Pure: no I/O; the arrival time is a parameter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime

from herald.ingest.alertmanager import WebhookAlert, WebhookMessage
from herald.ingest.limits import (
    CLIPPED_ANNOTATION,
    DEFAULT_LIMITS,
    Clipping,
    FieldLimits,
    safe_fingerprint,
)
from herald.shared.events import AlertReceived, AlertState, GroupReported

_FIELD_SEPARATOR = "\x1f"
"""ASCII unit separator: cannot appear in an integration id, a fingerprint or a timestamp."""

ExtraAnnotations = Callable[[WebhookAlert], Iterable[tuple[str, str]]]
"""Source-specific annotations of an alert (Grafana's URLs and values), added after its own."""


def event_id(integration: str, fingerprint: str, status: AlertState, starts_at: datetime) -> str:
    """Identity of one alert event: the same (integration, fingerprint, status, startsAt) always
    gives the same id, whoever sends it, with whichever token, however often. Also the JetStream
    `Nats-Msg-Id`."""
    when = starts_at.astimezone(UTC).isoformat(timespec="microseconds")
    text = _FIELD_SEPARATOR.join((integration, fingerprint, status.value, when))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def occurred_at(alert: WebhookAlert, received_at: datetime) -> datetime:
    """Event time: `startsAt` when firing; `endsAt` when resolved (arrival time if it has none)."""
    if alert.status is AlertState.FIRING:
        return alert.starts_at
    return alert.ends_at if alert.ends_at is not None else received_at


def alert_events(
    message: WebhookMessage,
    integration: str,
    received_at: datetime,
    limits: FieldLimits = DEFAULT_LIMITS,
    extra: ExtraAnnotations | None = None,
) -> Iterator[AlertReceived]:
    """One event per alert of the notification, in the payload's order, made one at a time
    (so a caller publishing in batches never holds them all)."""
    shared = Clipping()
    group_key = shared.field("groupKey", message.group_key, limits.group_key)
    receiver = shared.field("receiver", message.receiver, limits.receiver)
    external_url = shared.field("externalURL", message.external_url, limits.url)
    for alert in message.alerts:
        clipping = Clipping(list(shared.notes))
        # Alertmanager's fingerprint is of the labels as sent, before any clipping.
        fp = alert.effective_fingerprint()
        bounded_fp = safe_fingerprint(fp, limits.fingerprint)
        if bounded_fp is not fp:
            clipping.notes.append("fingerprint")
        labels = clipping.mapping(
            "labels",
            alert.labels,
            key_limit=limits.label_name,
            value_limit=limits.label_value,
            count=limits.labels,
            total=limits.labels_total,
        )
        annotation_items: Iterable[tuple[str, str]] = alert.annotations.items()
        if extra is not None:
            own = alert.annotations
            added = [(k, v) for k, v in extra(alert) if k not in own]
            annotation_items = [*own.items(), *added]
        annotations = clipping.mapping(
            "annotations",
            annotation_items,
            key_limit=limits.annotation_name,
            value_limit=limits.annotation_value,
            count=limits.annotations,
            total=limits.annotations_total,
        )
        generator_url = clipping.field("generatorURL", alert.generator_url, limits.url)
        note = clipping.note(limits.clipped_note)
        if note is not None:
            annotations[CLIPPED_ANNOTATION] = note
        # Validated again, though every field already is of its type: pydantic-core's
        # validation of these plain values is faster than `model_construct`'s Python loop.
        yield AlertReceived(
            event_id=event_id(integration, bounded_fp, alert.status, alert.starts_at),
            occurred_at=occurred_at(alert, received_at),
            received_at=received_at,
            integration=integration,
            fingerprint=bounded_fp,
            status=alert.status,
            labels=labels,
            annotations=annotations,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            generator_url=generator_url,
            receiver=receiver,
            group_key=group_key,
            external_url=external_url,
        )


def normalize(
    message: WebhookMessage,
    integration: str,
    received_at: datetime,
    limits: FieldLimits = DEFAULT_LIMITS,
) -> list[AlertReceived]:
    """Every event of the notification (see `alert_events`)."""
    return list(alert_events(message, integration, received_at, limits))


def group_report(
    integration: str,
    group_key: str,
    listed: Sequence[AlertReceived],
    truncated_alerts: int,
    received_at: datetime,
) -> GroupReported:
    """The notification as a whole (which alerts its group listed), published after its alerts.
    Its id includes the arrival time: two notifications listing the same alerts are two reports
    (the second one may come after the group changed in between)."""
    when = received_at.astimezone(UTC).isoformat(timespec="microseconds")
    text = _FIELD_SEPARATOR.join(("group", integration, group_key, when))
    return GroupReported(
        event_id=hashlib.sha256(text.encode()).hexdigest()[:32],
        occurred_at=received_at,
        integration=integration,
        group_key=group_key,
        fingerprints=tuple(e.fingerprint for e in listed),
        firing=tuple(e.fingerprint for e in listed if e.status is AlertState.FIRING),
        truncated_alerts=truncated_alerts,
    )
