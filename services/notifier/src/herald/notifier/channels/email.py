"""The email channel: one `text/plain` message over SMTP, with STARTTLS or implicit TLS.

Built on the standard library's `smtplib`, run in a worker thread: no new dependency, and the
same STARTTLS/TLS/AUTH code every Python SMTP client has relied on for years. `timeout_seconds`
is both the socket timeout of each step and the bound of the whole send (`asyncio.timeout`
around the thread: a send cut off may still finish in the background, then the retry sends
twice: better twice than never; the `Message-ID` is the same, so mail clients show one).

- `starttls` (default, port 587): the session is upgraded before AUTH; a server that does not
  offer STARTTLS is a permanent failure (never a silent downgrade to plain text).
- `tls` (port 465): TLS from the first byte.
- `none` (port 25): plain, for a relay on a trusted network only.
Certificates are checked against the system's CAs, or `ca_file`'s.

The recipient is the contact method's `address` (a user's email), else the channel's `to`.
SMTP 4xx answers, network errors and timeouts are retryable; 5xx answers (a refused recipient,
bad credentials) are permanent.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from herald.notifier.channels.channel import MAX_SEND_SECONDS, PermanentError, RetryableError
from herald.notifier.message_template import render
from herald.notifier.notice import Notice
from herald.shared.config import MessageTemplate

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class EmailTarget:
    """An email channel with its secrets resolved (kept out of repr)."""

    host: str
    port: int
    security: str
    sender: str
    to: tuple[str, ...] = ()
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout_seconds: float = 15.0
    template: MessageTemplate | None = None

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds <= MAX_SEND_SECONDS:
            raise ValueError(f"email timeout must be in (0, {MAX_SEND_SECONDS}] seconds")
        if self.security not in DEFAULT_PORTS:
            raise ValueError(f"unknown email security {self.security!r}")


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

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.target.ca_file)

    def _send_blocking(self, msg: EmailMessage, to: tuple[str, ...]) -> None:
        t = self.target
        smtp: smtplib.SMTP
        if t.security == "tls":
            smtp = smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout_seconds, context=self._tls())
        else:
            smtp = smtplib.SMTP(t.host, t.port, timeout=t.timeout_seconds)
        with smtp:
            smtp.ehlo()
            if t.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise PermanentError("the SMTP server does not offer STARTTLS")
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if t.username:
                smtp.login(t.username, t.password or "")
            smtp.send_message(msg, from_addr=None, to_addrs=list(to))

    async def send(self, notice: Notice) -> None:
        to = (notice.recipient,) if notice.recipient else self.target.to
        if not to:
            raise PermanentError("no recipient (no contact method address, no `to`)")
        msg = email_message(notice, self.target.sender, to, self.target.template)
        try:
            async with asyncio.timeout(self.target.timeout_seconds):
                await asyncio.to_thread(self._send_blocking, msg, to)
        except PermanentError:
            raise
        except (TimeoutError, smtplib.SMTPServerDisconnected):
            raise RetryableError("timed out or disconnected") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise _by_code(codes[-1] if codes else 550, "recipient refused") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, type(exc).__name__) from None
        except ssl.SSLCertVerificationError:
            raise PermanentError("the SMTP server's certificate is not trusted") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryableError(f"network error ({type(exc).__name__})") from None


def _by_code(code: int, what: str) -> PermanentError | RetryableError:
    if 400 <= code < 500:
        return RetryableError(f"SMTP {code}: {what}")
    return PermanentError(f"SMTP {code}: {what}")
