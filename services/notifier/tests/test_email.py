"""The email channel against a real SMTP server (aiosmtpd) on loopback: STARTTLS and implicit
TLS with a certificate made for the test, AUTH, the contact method's address as recipient,
templates, and how refusals are classified."""

from __future__ import annotations

import email
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, Session

from herald.notifier.channels import (
    EmailChannel,
    EmailTarget,
    PermanentError,
    SmtpServer,
    open_channels,
    plan_channels,
)
from herald.notifier.notice import Notice, build_notice
from herald.shared.config import MessageTemplate, parse_config
from services.notifier.tests.events import opened
from tests.loopback import listening_socket

CONFIG = parse_config("services: {payments-api: {name: Payments API}}")


def notice(recipient: str | None = None) -> Notice:
    n = build_notice(opened(), CONFIG)
    assert n is not None
    return n.model_copy(
        update={"recipient": recipient, "ack_url": "https://herald.example.com/ack/tok"}
    )


@dataclass
class Mailbox:
    """What the SMTP server accepted."""

    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((envelope, email.message_from_bytes(raw)))
        return "250 queued"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = data.login == b"herald" and data.password == b"mail-secret"
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    key, crt = where / "key.pem", where / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(crt), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return crt, key


def free_port() -> int:
    sock = listening_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def starttls(cert: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    ctl = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls(cert),
        require_starttls=True,
        authenticator=box.authenticate,
        auth_require_tls=True,
    )
    ctl.start()
    try:
        yield box, port
    finally:
        ctl.stop()


def target(port: int, cert: tuple[Path, Path], **kw: Any) -> EmailTarget:
    server: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "username": "herald",
        "password": "mail-secret",
        "ca_file": str(cert[0]),
        "timeout_seconds": 10.0,
    }
    mail = {k: kw.pop(k) for k in ("to", "template") if k in kw}
    server.update(kw)
    return EmailTarget(SmtpServer(**server), "Herald <herald@example.com>", **mail)


async def test_a_page_is_mailed_over_starttls_to_the_contact_methods_address(
    starttls: tuple[Mailbox, int], cert: tuple[Path, Path]
) -> None:
    box, port = starttls
    await EmailChannel("mail", target(port, cert)).send(notice("alice@example.com"))
    [(envelope, msg)] = box.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    assert box.logins == ["herald"]  # AUTH after STARTTLS (the server refuses it before)
    assert msg["Subject"] == "[OPENED] Payments API: Card payments failing"
    assert msg["To"] == "alice@example.com"
    assert msg["X-Herald-Incident"] == "payments-api-inc-1"
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert "5% of card payments fail" in text
    assert "Acknowledge: https://herald.example.com/ack/tok" in text
    assert "Started: 2024-05-01T12:00:00Z" in text


async def test_without_an_address_the_channels_recipients_get_it_with_its_template(
    starttls: tuple[Mailbox, int], cert: tuple[Path, Path]
) -> None:
    box, port = starttls
    tpl = MessageTemplate(title="PAGE {{ service.id }}", body="{{ summary }} -> {{ ack_url }}")
    mail = EmailChannel("mail", target(port, cert, to=("oncall@example.com",), template=tpl))
    await mail.send(notice())
    [(envelope, msg)] = box.messages
    assert envelope.rcpt_tos == ["oncall@example.com"]
    assert msg["Subject"] == "PAGE payments-api"
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode().strip() == (
        "Card payments failing -> https://herald.example.com/ack/tok"
    )


async def test_a_refused_recipient_is_permanent_and_an_untrusted_certificate_too(
    starttls: tuple[Mailbox, int], cert: tuple[Path, Path]
) -> None:
    box, port = starttls
    box.refuse.add("gone@example.com")
    with pytest.raises(PermanentError, match="SMTP 550"):
        await EmailChannel("mail", target(port, cert)).send(notice("gone@example.com"))
    with pytest.raises(PermanentError, match="certificate"):
        await EmailChannel("mail", target(port, cert, ca_file=None)).send(notice("a@example.com"))
    with pytest.raises(PermanentError, match="no recipient"):
        await EmailChannel("mail", target(port, cert)).send(notice())
    assert box.messages == []


async def test_implicit_tls(cert: tuple[Path, Path]) -> None:
    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port, ssl_context=server_tls(cert))
    ctl.start()
    try:
        mail = EmailChannel("mail", target(port, cert, security="tls", username=None))
        await mail.send(notice("bob@example.com"))
    finally:
        ctl.stop()
    [(envelope, _)] = box.messages
    assert envelope.rcpt_tos == ["bob@example.com"]


def test_plan_builds_email_channels_with_default_ports_and_secrets() -> None:
    config = parse_config(
        """
channels:
  mail:
    type: email
    host: smtp.example.com
    from: "Herald <herald@example.com>"
    username: herald
    password: {env: SMTP_PASSWORD}
  relay: {type: email, host: relay.local, security: tls, from: h@example.com}
"""
    )
    plan = plan_channels(config, {"SMTP_PASSWORD": "pw"})
    assert plan.emails["mail"].smtp.port == 587
    assert plan.emails["mail"].smtp.password == "pw"
    assert "pw" not in repr(plan.emails["mail"])
    assert plan.emails["relay"].smtp.port == 465
    assert set(open_channels(plan, None)) == {"mail", "relay"}  # type: ignore[arg-type]


def test_subscriber_mail_goes_through_the_same_smtp_sender_said_the_same_way() -> None:
    from herald.notifier.subscribers.wiring import smtp_server

    config = parse_config(
        """
subscribers:
  smtp: {host: smtp.example.com, security: tls, username: u, password: {env: SMTP_PASSWORD}}
"""
    )
    server = smtp_server(config, {"SMTP_PASSWORD": "pw"})
    assert server == SmtpServer(
        host="smtp.example.com",
        port=465,
        security="tls",
        username="u",
        password="pw",
        timeout_seconds=10.0,
    )
    assert smtp_server(parse_config("{}"), {}).port == 587  # starttls unless told otherwise
