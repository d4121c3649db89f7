"""Alertmanager's webhook payload (version 4), mirrored field by field.

Source of truth: prometheus/alertmanager `notify/webhook/webhook.go` (Message) and
`template/template.go` (Data, Alert). Extra fields (`notification_reason`, `routeLabels`, ...
in newer versions) are ignored. Hand-written payloads may omit most fields: only
`alerts[].status`, `alerts[].labels` and `alerts[].startsAt` are required.

Pure: no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from herald.shared.events import AlertState

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_MASK64 = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = b"\xff"
"""prometheus/common `model.SeparatorByte`: cannot occur in valid UTF-8."""

ZERO_TIME_YEAR = 1
"""Go's zero `time.Time` (0001-01-01T00:00:00Z): Alertmanager's "no end" for a firing alert."""


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common `LabelSet.Fingerprint`):
    FNV-1a 64 over the labels sorted by name, each name and value followed by 0xff, as 16
    lower-case hex digits. Used when a payload carries no fingerprint."""
    h = _FNV64_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), _SEPARATOR, labels[name].encode(), _SEPARATOR):
            for byte in part:
                h = ((h ^ byte) * _FNV64_PRIME) & _MASK64
    return f"{h:016x}"


def _as_utc(value: datetime) -> datetime:
    """RFC 3339 times carry an offset; a hand-written one without is taken as UTC. A time whose
    UTC equivalent is outside years 1-9999 is a validation error (ValueError), not a crash."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range once converted to UTC") from None


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class WebhookAlert(_Payload):
    """One alert (`template.Alert`)."""

    status: AlertState
    """`firing` or `resolved`."""
    labels: dict[str, str]
    """The alert's identifying label set."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Free text (summary, description, runbook_url...): untrusted."""
    starts_at: datetime = Field(alias="startsAt")
    """When the alert started firing (event time of a firing alert)."""
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    """When it resolved (event time of a resolved alert); None for Go's zero time or when absent."""
    generator_url: str = Field(default="", alias="generatorURL")
    """Link to the expression that generated the alert."""
    fingerprint: str = ""
    """Alertmanager's fingerprint of `labels`; computed when absent or empty."""

    @field_validator("annotations", mode="before")
    @classmethod
    def _null_map(cls, value: Any) -> Any:
        """Go marshals a nil map as `null`: read it as empty."""
        return {} if value is None else value

    @field_validator("starts_at")
    @classmethod
    def _starts_utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @field_validator("ends_at", mode="before")
    @classmethod
    def _empty_end(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("ends_at")
    @classmethod
    def _zero_end(cls, value: datetime | None) -> datetime | None:
        if value is None or value.year == ZERO_TIME_YEAR:
            return None
        return _as_utc(value)

    @field_validator("generator_url", "fingerprint", mode="before")
    @classmethod
    def _null_string(cls, value: Any) -> Any:
        return "" if value is None else value

    def effective_fingerprint(self) -> str:
        """The payload's fingerprint, or the one Alertmanager would compute from the labels."""
        return self.fingerprint or fingerprint(self.labels)


class WebhookMessage(_Payload):
    """The body Alertmanager POSTs (`webhook.Message`, which embeds `template.Data`)."""

    version: str = "4"
    """Payload format version; Alertmanager sends "4"."""
    group_key: str = Field(default="", alias="groupKey")
    """Identifies the alert group (the route and its group labels)."""
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    """How many alerts Alertmanager left out because of the receiver's `max_alerts`."""
    status: AlertState | None = None
    """`firing` when at least one alert of the group fires, else `resolved`."""
    receiver: str = ""
    """Name of the Alertmanager receiver that sent this."""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    """Backlink to the Alertmanager that sent the notification."""
    alerts: list[WebhookAlert]
    """The alerts of the group (firing and resolved)."""

    @field_validator("group_labels", "common_labels", "common_annotations", mode="before")
    @classmethod
    def _null_map(cls, value: Any) -> Any:
        """Go marshals a nil map as `null`: read it as empty."""
        return {} if value is None else value

    @field_validator("version", "group_key", "receiver", "external_url", mode="before")
    @classmethod
    def _null_string(cls, value: Any) -> Any:
        return "" if value is None else value
