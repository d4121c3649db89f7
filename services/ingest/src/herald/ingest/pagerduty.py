"""PagerDuty Events API v2 (`POST /v2/enqueue`): an event -> the same `AlertReceived` as an
Alertmanager alert.

Source of truth: PagerDuty's developer documentation, "Send an Alert Event" (fields, limits,
de-duplication) and "Events API v2 Overview" (responses). The `routing_key` is the token of a
Herald integration. `trigger` fires the alert whose identity is its `dedup_key`, `resolve`
resolves it, `acknowledge` is accepted and stores nothing (acknowledging is done where Herald
pages, not by the monitoring tool). Which field goes where: docs/integrations.md.

Pure: no I/O; the arrival time is a parameter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from herald.ingest.limits import CLIPPED_ANNOTATION, DEFAULT_LIMITS, Clipping, FieldLimits
from herald.ingest.normalize import event_id
from herald.shared.events import AlertReceived, AlertState

SEVERITIES = ("critical", "error", "warning", "info")
"""PagerDuty's severities, copied as they are into Herald's severity label (whose default map
knows critical, error and warning; `info` gets the map's default)."""

DEDUP_KEY_MAX = 255
SUMMARY_MAX = 1024
"""PagerDuty's own limits (characters)."""

ALERTNAME = "PagerDuty"
"""`alertname` of an event without a `payload.class`."""

_DATETIME = TypeAdapter(datetime)
_SEPARATOR = "\x1f"


class Action(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class PagerDutyEvent:
    """A validated Events API v2 event (the fields Herald uses)."""

    routing_key: str
    action: Action
    dedup_key: str
    """As sent, or (a trigger without one) derived from the event's content, so that a retried
    trigger keeps its identity."""
    summary: str = ""
    source: str = ""
    severity: str = ""
    timestamp: datetime | None = None
    component: str = ""
    group: str = ""
    event_class: str = ""
    custom_details: Any = None
    links: tuple[Mapping[str, Any], ...] = ()
    images: tuple[Mapping[str, Any], ...] = ()
    client: str = ""
    client_url: str = ""


class InvalidEvent(Exception):
    """The event is not valid; `errors` says why, in PagerDuty's words."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _string(doc: Mapping[str, Any], key: str, where: str, errors: list[str]) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append(f"'{where}' must be a string")
        return ""
    return value


def _objects(doc: Mapping[str, Any], key: str, errors: list[str]) -> tuple[Mapping[str, Any], ...]:
    value = doc.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errors.append(f"'{key}' must be a list of objects")
        return ()
    return tuple(value)


def _timestamp(raw: str, errors: list[str]) -> datetime | None:
    if not raw:
        return None
    try:
        value = _DATETIME.validate_python(raw)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValidationError, OverflowError, ValueError):
        errors.append("'payload.timestamp' is not an ISO 8601 timestamp")
        return None


def derived_dedup_key(doc: Mapping[str, Any]) -> str:
    """A dedup_key for a trigger sent without one: a hash of the event without its routing key
    (PagerDuty makes a random one; a hash keeps a retried trigger the same alert)."""
    content = {k: v for k, v in doc.items() if k != "routing_key"}
    try:
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (RecursionError, ValueError):  # nested deeper than json.dumps goes: its outline
        canonical = repr(sorted(content))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def parse_event(doc: Mapping[str, Any]) -> PagerDutyEvent:
    """Validate an Events API v2 body (a JSON object); InvalidEvent lists every problem."""
    errors: list[str] = []
    routing_key = _string(doc, "routing_key", "routing_key", errors)
    if not routing_key.strip() and "'routing_key' must be a string" not in errors:
        errors.append("'routing_key' is missing or blank")
    raw_action = _string(doc, "event_action", "event_action", errors)
    action: Action | None = None
    if raw_action in {a.value for a in Action}:
        action = Action(raw_action)
    elif "'event_action' must be a string" not in errors:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup_key = _string(doc, "dedup_key", "dedup_key", errors)
    if len(dedup_key) > DEDUP_KEY_MAX:
        errors.append(f"'dedup_key' is too long (at most {DEDUP_KEY_MAX} characters)")
    payload = doc.get("payload")
    if payload is not None and not isinstance(payload, dict):
        errors.append("'payload' must be an object")
        payload = None
    fields: dict[str, Any] = {}
    if action is Action.TRIGGER:
        if payload is None:
            errors.append("'payload' is missing")
            payload = {}
        for key in ("summary", "source", "severity"):
            fields[key] = _string(payload, key, f"payload.{key}", errors)
            if not fields[key].strip() and f"'payload.{key}' must be a string" not in errors:
                errors.append(f"'payload.{key}' is missing or blank")
        if fields["severity"] and fields["severity"] not in SEVERITIES:
            errors.append(
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
            )
    elif action is not None and not dedup_key:
        errors.append("'dedup_key' is missing or blank")
    payload = payload or {}
    timestamp = _timestamp(_string(payload, "timestamp", "payload.timestamp", errors), errors)
    component = _string(payload, "component", "payload.component", errors)
    group = _string(payload, "group", "payload.group", errors)
    event_class = _string(payload, "class", "payload.class", errors)
    links = _objects(doc, "links", errors)
    images = _objects(doc, "images", errors)
    client = _string(doc, "client", "client", errors)
    client_url = _string(doc, "client_url", "client_url", errors)
    if errors or action is None:
        raise InvalidEvent(errors)
    return PagerDutyEvent(
        routing_key=routing_key,
        action=action,
        dedup_key=dedup_key or derived_dedup_key(doc),
        timestamp=timestamp,
        component=component,
        group=group,
        event_class=event_class,
        custom_details=payload.get("custom_details"),
        links=links,
        images=images,
        client=client,
        client_url=client_url,
        **fields,
    )


def alert_fingerprint(integration: str, dedup_key: str) -> str:
    """An alert's identity: its integration and dedup_key (never the routing key it came with),
    16 hex digits like Alertmanager's."""
    return hashlib.sha256(f"{integration}{_SEPARATOR}{dedup_key}".encode()).hexdigest()[:16]


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, indent=2)
    except (RecursionError, ValueError):
        return "(not shown: nested too deeply)"


def pagerduty_alert(
    event: PagerDutyEvent,
    integration: str,
    received_at: datetime,
    *,
    severity_label: str = "severity",
    limits: FieldLimits = DEFAULT_LIMITS,
) -> AlertReceived | None:
    """The alert event of a trigger or a resolve; None for an acknowledge (nothing to store).

    A trigger starts at its `payload.timestamp`, else at its arrival. A resolve starts and ends
    at its arrival (or its timestamp, when later): ingest keeps no state, and an event with a
    later start replaces what the correlator holds for the alert, so the resolve wins over the
    trigger it follows."""
    if event.action is Action.ACKNOWLEDGE:
        return None
    clipping = Clipping()
    fingerprint = alert_fingerprint(integration, event.dedup_key)
    labels_in: dict[str, str] = {"alertname": event.event_class or ALERTNAME}
    if event.severity:
        labels_in[severity_label] = event.severity
    for name, value in (
        ("source", event.source),
        ("component", event.component),
        ("group", event.group),
        ("class", event.event_class),
    ):
        if value:
            labels_in[name] = value
    labels_in["dedup_key"] = event.dedup_key
    labels = clipping.mapping(
        "labels",
        labels_in,
        key_limit=limits.label_name,
        value_limit=limits.label_value,
        count=limits.labels,
        total=limits.labels_total,
    )
    annotations_in: dict[str, str] = {}
    if event.summary:
        annotations_in["summary"] = clipping.field("payload.summary", event.summary, SUMMARY_MAX)
    if event.custom_details is not None:
        annotations_in["description"] = _json_text(event.custom_details)
    if event.links:
        annotations_in["links"] = _json_text(list(event.links))
    if event.images:
        annotations_in["images"] = _json_text(list(event.images))
    if event.client:
        annotations_in["client"] = event.client
    annotations = clipping.mapping(
        "annotations",
        annotations_in,
        key_limit=limits.annotation_name,
        value_limit=limits.annotation_value,
        count=limits.annotations,
        total=limits.annotations_total,
    )
    generator_url = clipping.field("client_url", event.client_url, limits.url)
    note = clipping.note(limits.clipped_note)
    if note is not None:
        annotations[CLIPPED_ANNOTATION] = note
    if event.action is Action.TRIGGER:
        status = AlertState.FIRING
        starts_at = event.timestamp or received_at
        ends_at = None
        occurred = starts_at
    else:
        status = AlertState.RESOLVED
        starts_at = max(received_at, event.timestamp) if event.timestamp else received_at
        ends_at = starts_at
        occurred = starts_at
    return AlertReceived(
        event_id=event_id(integration, fingerprint, status, starts_at),
        occurred_at=occurred,
        received_at=received_at,
        integration=integration,
        fingerprint=fingerprint,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=generator_url,
        receiver="pagerduty",
    )
