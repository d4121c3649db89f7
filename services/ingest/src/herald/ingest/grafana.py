"""Grafana-managed alerting's webhook contact point, on the Alertmanager endpoint.

Grafana's payload is Alertmanager's webhook message (version "1") plus `orgId`, `state`,
`title` and `message` for the notification, and per alert `values` (or the older
`valueString`), `dashboardURL`, `panelURL`, `silenceURL` and `imageURL`. Source: Grafana's
"Configure the webhook notifier for Alerting" documentation (its example JSON payload).

A body is Grafana's when it carries `orgId` (Alertmanager never sends it). Its alerts become the
same `AlertReceived` events as Alertmanager's: labels and fingerprint as Grafana sent them, the
per-alert extras as annotations (Grafana's own annotations of the same name win). The
notification-level `title`, `message` and `state` are Grafana's rendering of the whole group
and are not copied into each alert (each alert already carries its labels and annotations).

Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from herald.ingest.alertmanager import WebhookAlert, WebhookMessage
from herald.ingest.limits import DEFAULT_LIMITS, FieldLimits
from herald.ingest.normalize import ExtraAnnotations, alert_events
from herald.shared.events import AlertReceived

ORG_ANNOTATION = "grafana_org_id"
VALUES_ANNOTATION = "grafana_values"
VALUE_STRING_ANNOTATION = "grafana_value_string"
URL_ANNOTATIONS = ("dashboard_url", "panel_url", "silence_url", "image_url")
"""Per-alert URLs, stored as annotations of these names (the alert's attribute names too)."""


def is_grafana(doc: Mapping[str, Any]) -> bool:
    """Whether a webhook body is Grafana's (by its content: `orgId` is Grafana's alone)."""
    return "orgId" in doc


def _null_string(value: Any) -> Any:
    return "" if value is None else value


class GrafanaAlert(WebhookAlert):
    """One alert of Grafana's payload."""

    values: dict[str, float | None] = Field(default_factory=dict)
    """The values of the rule's queries and expressions by reference id (`B`, `C`...)."""
    value_string: str = Field(default="", alias="valueString")
    """Older Grafana versions: the values as one string."""
    dashboard_url: str = Field(default="", alias="dashboardURL")
    panel_url: str = Field(default="", alias="panelURL")
    silence_url: str = Field(default="", alias="silenceURL")
    image_url: str = Field(default="", alias="imageURL")

    @field_validator("values", mode="before")
    @classmethod
    def _null_values(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator(
        "value_string", "dashboard_url", "panel_url", "silence_url", "image_url", mode="before"
    )
    @classmethod
    def _null_str(cls, value: Any) -> Any:
        return _null_string(value)


class GrafanaMessage(WebhookMessage):
    """The body Grafana's webhook contact point POSTs."""

    version: str = "1"
    org_id: int | str | None = Field(default=None, alias="orgId")
    """Grafana organization id (an annotation of each alert)."""
    state: str = ""
    """`alerting` or `ok` for the whole notification (not copied: each alert has its status)."""
    title: str = ""
    """Rendered title of the notification (not copied)."""
    message: str = ""
    """Rendered message of the notification (not copied)."""
    alerts: list[GrafanaAlert]  # type: ignore[assignment]

    @field_validator("state", "title", "message", mode="before")
    @classmethod
    def _null_text(cls, value: Any) -> Any:
        return _null_string(value)


def _values_text(values: Mapping[str, float | None]) -> str:
    """`{"B": 44.2, "C": 1}` as compact JSON (NaN and infinities as null)."""
    clean = {k: (v if v is not None and math.isfinite(v) else None) for k, v in values.items()}
    return json.dumps(clean, separators=(",", ":"), sort_keys=True)


def _extras(org_id: int | str | None) -> ExtraAnnotations:
    def extra(alert: WebhookAlert) -> Iterator[tuple[str, str]]:
        assert isinstance(alert, GrafanaAlert)
        if org_id is not None:
            yield ORG_ANNOTATION, str(org_id)
        if alert.values:
            yield VALUES_ANNOTATION, _values_text(alert.values)
        if alert.value_string:
            yield VALUE_STRING_ANNOTATION, alert.value_string
        for name in URL_ANNOTATIONS:
            url = getattr(alert, name)
            if url:
                yield name, url

    return extra


def grafana_events(
    message: GrafanaMessage,
    integration: str,
    received_at: datetime,
    limits: FieldLimits = DEFAULT_LIMITS,
) -> Iterator[AlertReceived]:
    """One event per alert of a Grafana notification (see `normalize.alert_events`)."""
    return alert_events(message, integration, received_at, limits, extra=_extras(message.org_id))
