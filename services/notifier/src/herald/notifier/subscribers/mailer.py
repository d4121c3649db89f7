"""A small SMTP sender for subscriber mail (stdlib smtplib, run in a worker thread so the event
loop never waits on a mail server). Replaceable by the notifier's email channel once it exists:
the courier only needs `send(EmailMessage)` raising RetryableError or PermanentError.

5xx answers are permanent (an unknown mailbox stays unknown); 4xx, network errors and timeouts
are retryable.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from herald.notifier.channels.channel import PermanentError, RetryableError


class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 10.0


class SmtpMailer:
    def __init__(self, target: SmtpTarget) -> None:
        self.target = target

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        t = self.target
        try:
            if t.tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    t.host, t.port, timeout=t.timeout_seconds, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(t.host, t.port, timeout=t.timeout_seconds)
            with client:
                if t.starttls:
                    client.starttls(context=ssl.create_default_context())
                if t.username:
                    client.login(t.username, t.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentError(f"recipient refused ({codes[0]})") from None
            raise RetryableError(f"recipient deferred ({codes[0]})") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise PermanentError(f"SMTP {exc.smtp_code}") from None
            raise RetryableError(f"SMTP {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableError(f"mail server unreachable ({type(exc).__name__})") from None
