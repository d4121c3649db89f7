"""The notifier's one SMTP sender: the email channel (pages) and subscriber mail both send
through it.

Built on the standard library's `smtplib`, run in a worker thread: no new dependency, and the
same STARTTLS/TLS/AUTH code every Python SMTP client has relied on for years; the event loop
never waits on a mail server. `timeout_seconds` is both the socket timeout of each step and the
bound of the whole send (`asyncio.timeout` around the thread: a send cut off may still finish
in the background, then the retry sends twice: better twice than never; the `Message-ID` is the
same, so mail clients show one).

- `starttls` (port 587): the session is upgraded before AUTH; a server that does not offer
  STARTTLS is a permanent failure (never a silent downgrade to plain text).
- `tls` (port 465): TLS from the first byte.
- `none` (port 25): plain, for a relay on a trusted network only.
Certificates are checked against the system's CAs, or `ca_file`'s.

SMTP 4xx answers, network errors and timeouts are retryable; 5xx answers (a refused recipient,
bad credentials) and an untrusted certificate are permanent.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

from herald.notifier.channels.channel import MAX_SEND_SECONDS, PermanentError, RetryableError

Security = Literal["starttls", "tls", "none"]

DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, with its credentials resolved (kept out of repr)."""

    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout_seconds: float = 15.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds <= MAX_SEND_SECONDS:
            raise ValueError(f"SMTP timeout must be in (0, {MAX_SEND_SECONDS}] seconds")
        if self.security not in DEFAULT_PORTS:
            raise ValueError(f"unknown SMTP security {self.security!r}")


class SmtpSender:
    """`await send(message)`: raises RetryableError or PermanentError when it was not sent."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.server.ca_file)

    def _send_blocking(self, msg: EmailMessage, to: Sequence[str] | None) -> None:
        s = self.server
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=self._tls())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        with smtp:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise PermanentError("the SMTP server does not offer STARTTLS")
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(msg, from_addr=None, to_addrs=list(to) if to else None)

    async def send(self, msg: EmailMessage, to: Sequence[str] | None = None) -> None:
        """Send `msg` to `to` (default: the message's To/Cc/Bcc)."""
        try:
            async with asyncio.timeout(self.server.timeout_seconds):
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
    """A 4xx may pass (a full mailbox, greylisting); anything else is refused for good."""
    if 400 <= code < 500:
        return RetryableError(f"SMTP {code}: {what}")
    return PermanentError(f"SMTP {code}: {what}")
