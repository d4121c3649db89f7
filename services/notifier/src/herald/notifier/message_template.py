"""A notice as a message: title and body rendered from Jinja2 templates (pure).

Templates run in Jinja2's `SandboxedEnvironment` (no attribute access to internals, no
imports), as plain text: nothing is HTML-escaped because no channel renders HTML (email is
`text/plain`, Apprise is sent as TEXT, the webhook body is JSON). The incident's text comes
from alert annotations and stays text. A template that fails to render (an error at send
time, say a filter that does not exist) falls back to the kind's default, so a page is never
lost to a template mistake; `check_template` finds syntax errors at start.

Every template sees the same variables (`context`): `type`, `label` (OPENED, RESOLVED...),
`service` (`.id`, `.name`), `incident` (the whole snapshot), `title`, `summary`,
`description`, `severity`, `status`, `impact`, `started_at`, `resolved_at` (ISO 8601, UTC),
`status_page_url`, `generator_url`, `runbook_url` (of the incident's most relevant alert that
has one), `ack_url`, `resolve_url`, `user`, `recipient`, `text` (the one-line summary).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from herald.notifier.notice import _LABELS, Notice
from herald.shared.config import MessageTemplate

ChannelKind = Literal["email", "webhook", "apprise", "console"]

_ENV = SandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)

DEFAULT_TITLE = "{{ text }}"

DEFAULT_BODY = """\
{{ label }}: {{ service.name }}: {{ title }}
{% if description %}

{{ description }}
{% endif %}

Severity: {{ severity or "unknown" }}. Status: {{ status }}, impact: {{ impact }}.
Started: {{ started_at }}
{% if resolved_at %}
Resolved: {{ resolved_at }}
{% endif %}
{% if ack_url %}

Acknowledge: {{ ack_url }}
{% endif %}
{% if resolve_url %}
Resolve: {{ resolve_url }}
{% endif %}
{% if runbook_url %}
Runbook: {{ runbook_url }}
{% endif %}
{% if generator_url %}
Source: {{ generator_url }}
{% endif %}
{% if status_page_url %}
Status page: {{ status_page_url }}
{% endif %}
"""

EMAIL_TITLE = "{{ text }}{% if severity %} ({{ severity }}){% endif %}"

EMAIL_BODY = (
    DEFAULT_BODY
    + """
--
Sent by Herald{% if user %} to {{ user }}{% endif %}. Acknowledging stops the escalation.
"""
)

CHAT_BODY = """\
{% if description %}{{ description }}
{% endif %}
Severity: {{ severity or "unknown" }}, status: {{ status }}, impact: {{ impact }}
Started: {{ started_at }}
{% if resolved_at %}Resolved: {{ resolved_at }}
{% endif %}
{% if ack_url %}Acknowledge: {{ ack_url }}
{% endif %}
{% if runbook_url %}Runbook: {{ runbook_url }}
{% endif %}
{% if generator_url %}Source: {{ generator_url }}
{% endif %}
{% if status_page_url %}Status page: {{ status_page_url }}
{% endif %}
"""

DEFAULTS: dict[ChannelKind, tuple[str, str]] = {
    "email": (EMAIL_TITLE, EMAIL_BODY),
    "webhook": (DEFAULT_TITLE, DEFAULT_BODY),
    "apprise": (DEFAULT_TITLE, CHAT_BODY),
    "console": (DEFAULT_TITLE, CHAT_BODY),
}
"""The title and body templates of each channel kind when the channel sets none."""


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def context(notice: Notice) -> dict[str, Any]:
    """The variables every template sees."""
    inc = notice.incident
    alerts = inc.alerts
    severity = next((a.severity for a in alerts if a.severity), None)
    generator = next((a.generator_url for a in alerts if a.generator_url), "")
    runbook = next((a.runbook_url for a in alerts if a.runbook_url), "")
    summary = next((a.summary for a in alerts if a.summary), "") or inc.title
    return {
        "type": notice.type,
        "label": _LABELS[notice.type],
        "service": {"id": notice.service.id, "name": notice.service.name},
        "incident": inc.model_dump(mode="json"),
        "title": inc.title or inc.id,
        "summary": summary,
        "description": inc.body.strip(),
        "severity": severity,
        "status": inc.status.value,
        "impact": inc.impact.value,
        "started_at": _iso(inc.started_at),
        "resolved_at": _iso(inc.resolved_at),
        "status_page_url": notice.status_page_url,
        "generator_url": generator,
        "runbook_url": runbook,
        "ack_url": notice.ack_url,
        "resolve_url": notice.resolve_url,
        "user": notice.user,
        "recipient": notice.recipient,
        "text": notice.text,
    }


def check_template(source: str) -> str | None:
    """Why `source` is not a valid template (a syntax error), or None."""
    try:
        _ENV.from_string(source)
    except TemplateError as exc:
        return str(exc)
    return None


def _render(source: str, fallback: str, values: dict[str, Any]) -> str:
    try:
        return _ENV.from_string(source).render(values)
    except TemplateError:
        return _ENV.from_string(fallback).render(values)


def render(kind: ChannelKind, notice: Notice, template: MessageTemplate | None = None) -> Message:
    """`notice` as the title and body of a `kind` channel, with the channel's `template`
    (its unset parts: the kind's defaults)."""
    title_default, body_default = DEFAULTS[kind]
    values = context(notice)
    title_src = template.title if template is not None and template.title else title_default
    body_src = template.body if template is not None and template.body else body_default
    title = " ".join(_render(title_src, title_default, values).split())
    body = _render(body_src, body_default, values).strip() + "\n"
    return Message(title=title, body=body)
