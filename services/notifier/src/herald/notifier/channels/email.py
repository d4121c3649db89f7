"""The email channel: one `text/plain` message per page, sent through the notifier's SMTP
sender (`channels.smtp`: STARTTLS, implicit TLS or plain; what is retryable).

The recipient is the contact method's `address` (a user's email), else the channel's `to`.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from herald.notifier.channels.channel import PermanentError
from herald.notifier.channels.smtp import SmtpSender, SmtpServer
from herald.notifier.message_template import render
from herald.notifier.notice import Notice
from herald.shared.config import MessageTemplate


@dataclass(frozen=True)
class EmailTarget:
    """An email channel with its secrets resolved (kept out of repr)."""

    smtp: SmtpServer
    sender: str
    to: tuple[str, ...] = ()
    template: MessageTemplate | None = None


def email_message(
    notice: Notice, sender: str, to: tuple[str, ...], template: MessageTemplate | None
) -> EmailMessage:
    message = render("email", notice, template)
    msg = EmailMessage()
    msg["Subject"] = message.title
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(usegmt=True)
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "herald"
    msg["Message-ID"] = make_msgid(idstring=_safe_id(notice.event_id), domain=domain)
    msg["X-Herald-Incident"] = notice.incident.id
    msg["X-Herald-Event"] = notice.type
    msg.set_content(message.body)
    return msg


def _safe_id(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in text)[:64]


class EmailChannel:
    def __init__(self, channel_id: str, target: EmailTarget) -> None:
        self.channel_id = channel_id
        self.target = target
        self.smtp = SmtpSender(target.smtp)

    async def send(self, notice: Notice) -> None:
        to = (notice.recipient,) if notice.recipient else self.target.to
        if not to:
            raise PermanentError("no recipient (no contact method address, no `to`)")
        msg = email_message(notice, self.target.sender, to, self.target.template)
        await self.smtp.send(msg, to)
