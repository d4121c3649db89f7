"""The notice: what a channel tells the people on call about one incident event (pure).

`Notice.model_dump(mode="json")` is the webhook body, a contract receivers rely on:

    {"type": "incident.opened" | "incident.resolved", "event_id": ...,
     "service": {"id": ..., "name": ...}, "incident": <Incident as JSON>,
     "text": "[OPENED] Payments API: <title>", "status_page_url": ...,
     "recipient": null | "alice@example.com", "user": null | "alice",
     "ack_url": "" | "https://.../ack/<token>", "resolve_url": "" | ...}

Pages of an escalation (services with an escalation policy) carry the user paged, their address
on the channel (`recipient`) and signed acknowledge / resolve links; `incident.acknowledged` tells
everyone paged that someone acknowledged, `incident.worsened` pages the holders again when the
incident got worse (public now, a higher impact).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from herald.shared.config import HeraldConfig
from herald.shared.events import Incident, IncidentEvent, IncidentOpened, IncidentResolved

NoticeType = Literal[
    "incident.opened", "incident.resolved", "incident.acknowledged", "incident.worsened"
]

_LABELS: dict[str, str] = {
    "incident.opened": "OPENED",
    "incident.resolved": "RESOLVED",
    "incident.acknowledged": "ACKNOWLEDGED",
    "incident.worsened": "WORSE",
}


class NoticeService(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    """The status-page service id (the config's key)."""
    name: str
    """Its display name."""


class Notice(BaseModel):
    """One notification about one incident event, the same for every channel."""

    model_config = ConfigDict(frozen=True)

    type: NoticeType
    """The incident event's kind."""
    event_id: str
    """The incident event's id: with the channel id, the identity of one notification."""
    service: NoticeService
    incident: Incident
    """The incident snapshot carried by the event (its text fields are untrusted)."""
    text: str
    """One line for humans, e.g. `[OPENED] Payments API: Card payments failing`."""
    status_page_url: str
    """The public status page (`page.url` of the config), empty when not configured."""
    recipient: str | None = None
    """The paged user's address on this channel (their contact method's `address`)."""
    user: str | None = None
    """The user paged (None: a channel target, or the service's legacy `oncall:` target)."""
    ack_url: str = ""
    """A signed link that acknowledges the incident (GET shows a confirmation, POST acts)."""
    resolve_url: str = ""
    """A signed link that asks for the incident to be resolved, where allowed."""


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(text.split())


def notice_text(kind: NoticeType, service_name: str, title: str) -> str:
    return f"[{_LABELS[kind]}] {one_line(service_name)}: {one_line(title)}"


def build_notice(event: IncidentEvent, config: HeraldConfig) -> Notice | None:
    """The notice for `event`, or None for kinds that notify nobody (yet)."""
    if not isinstance(event, IncidentOpened | IncidentResolved):
        return None
    if isinstance(event, IncidentOpened) and not event.incident.paging:
        return None  # a maintenance window holds its pages
    svc = config.services.get(event.service)
    name = svc.name if svc is not None else event.service
    return Notice(
        type=event.kind,
        event_id=event.event_id,
        service=NoticeService(id=event.service, name=name),
        incident=event.incident,
        text=notice_text(event.kind, name, event.incident.title or event.incident.id),
        status_page_url=config.page.url,
    )


def incident_notice(
    config: HeraldConfig, kind: NoticeType, event_id: str, incident: Incident
) -> Notice:
    """The notice of `kind` about `incident` (an escalation's page, an acknowledgement...)."""
    svc = config.services.get(incident.service)
    name = svc.name if svc is not None else incident.service
    return Notice(
        type=kind,
        event_id=event_id,
        service=NoticeService(id=incident.service, name=name),
        incident=incident,
        text=notice_text(kind, name, incident.title or incident.id),
        status_page_url=config.page.url,
    )
