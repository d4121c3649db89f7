"""Subscriber mail (pure): the confirmation of a double opt-in, the incident notices and the
maintenance notices (scheduled, started, completed).

Plain text only: incident titles and bodies come from alert annotations (untrusted text), and
text stays text. Header values are folded onto one line (no header injection through a title).
Every notice carries RFC 8058 one-click unsubscribe: `List-Unsubscribe: <https://...>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (a mail provider POSTs that body to the URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from herald.notifier.subscribers.payload import maintenance_services, shortlink
from herald.shared.config import HeraldConfig
from herald.shared.events import Incident, MaintenanceStatus, MaintenanceWindow
from herald.shared.public_page import (
    COMPONENT_STATUS_WORDS,
    INCIDENT_STATUS_WORDS,
    MAINTENANCE_STATUS_WORDS,
    component_name,
    maintenance_updates,
)
from herald.shared.statuses import CLOSED

UPDATES_SHOWN = 5

_SPACE = re.compile(r"\s+")


def one_line(text: str, limit: int = 200) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str


def _message(
    config: HeraldConfig, envelope: Envelope, subject: str, body: str, now: datetime
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = envelope.sender
    msg["To"] = envelope.recipient
    msg["Subject"] = one_line(subject, 250)
    msg["Date"] = format_datetime(now)
    domain = envelope.sender.rpartition("@")[2].strip("> ") or "herald.invalid"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    return msg


def confirmation(
    config: HeraldConfig,
    envelope: Envelope,
    confirm_url: str,
    components: tuple[str, ...],
    expires_at: datetime,
    now: datetime,
) -> EmailMessage:
    title = one_line(config.page.title)
    which = (
        ", ".join(component_name(config, c) for c in components)
        if components
        else "every component"
    )
    body = (
        f"Someone (hopefully you) asked to be told by email when {title} has an incident,\n"
        f"for {which}.\n\n"
        f"To confirm, open this link and press Confirm:\n{confirm_url}\n\n"
        f"The link works until {expires_at:%Y-%m-%d %H:%M} UTC. If you did not ask for this,\n"
        "ignore this message: nothing is sent to you unless you confirm.\n"
    )
    return _message(config, envelope, f"Confirm your subscription to {title}", body, now)


def incident_notice(
    config: HeraldConfig,
    envelope: Envelope,
    incident: Incident,
    unsubscribe_url: str,
    now: datetime,
) -> EmailMessage:
    title = one_line(config.page.title)
    status = INCIDENT_STATUS_WORDS[incident.status]
    component = component_name(config, incident.service)
    lines = [
        one_line(incident.title, 300),
        f"Status: {status} · {component}: "
        + (
            "Operational"
            if incident.status in CLOSED
            else COMPONENT_STATUS_WORDS[incident.component_status]
        ),
        "",
    ]
    entries = list(incident.timeline)[::-1][:UPDATES_SHOWN]
    if not entries and incident.body:
        lines += [incident.body, ""]
    for n, entry in enumerate(entries):
        is_first = n == len(incident.timeline) - 1
        body = incident.body if is_first and incident.body else entry.body
        lines += [
            f"{INCIDENT_STATUS_WORDS[entry.status]} ({entry.at:%Y-%m-%d %H:%M} UTC)",
            body,
            "",
        ]
    lines += [f"Follow it: {shortlink(config, incident.id)}", "", *_footer(title, unsubscribe_url)]
    msg = _message(
        config, envelope, f"[{title}] {status}: {incident.title}", "\n".join(lines) + "\n", now
    )
    return _unsubscribable(msg, unsubscribe_url)


def _footer(title: str, unsubscribe_url: str) -> list[str]:
    return [
        "--",
        f"You get this because you subscribed to {title}.",
        f"Unsubscribe (one click): {unsubscribe_url}",
    ]


def _unsubscribable(msg: EmailMessage, unsubscribe_url: str) -> EmailMessage:
    """RFC 8058 one-click unsubscribe headers."""
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg


MAINTENANCE_SUBJECTS: dict[MaintenanceStatus, str] = {
    MaintenanceStatus.SCHEDULED: "Scheduled maintenance",
    MaintenanceStatus.IN_PROGRESS: "Maintenance in progress",
    MaintenanceStatus.VERIFYING: "Maintenance being verified",
    MaintenanceStatus.COMPLETED: "Maintenance completed",
}


def maintenance_notice(
    config: HeraldConfig,
    envelope: Envelope,
    window: MaintenanceWindow,
    unsubscribe_url: str,
    now: datetime,
) -> EmailMessage:
    """A maintenance window was scheduled, started or completed (or was cancelled)."""
    title = one_line(config.page.title)
    what = (
        "Maintenance cancelled"
        if window.cancelled and window.status is MaintenanceStatus.COMPLETED
        else MAINTENANCE_SUBJECTS[window.status]
    )
    components = ", ".join(component_name(config, s) for s in maintenance_services(config, window))
    lines = [
        one_line(window.title, 300),
        f"Status: {MAINTENANCE_STATUS_WORDS[window.status]} · {components}",
        f"Scheduled: {window.starts_at:%Y-%m-%d %H:%M} to {window.ends_at:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    for update in maintenance_updates(window):
        lines += [
            f"{MAINTENANCE_STATUS_WORDS[update.status]} ({update.at:%Y-%m-%d %H:%M} UTC)",
            update.body,
            "",
        ]
    # Its own page, the same shortlink the webhooks and the page's API give.
    lines += [f"Follow it: {shortlink(config, window.id)}", "", *_footer(title, unsubscribe_url)]
    msg = _message(
        config, envelope, f"[{title}] {what}: {window.title}", "\n".join(lines) + "\n", now
    )
    return _unsubscribable(msg, unsubscribe_url)
