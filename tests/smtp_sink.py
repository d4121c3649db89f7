"""A real SMTP server on loopback (aiosmtpd, in its own thread) that keeps every message it
receives, parsed, for the test to await."""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.infra import free_port

WAIT = 10.0


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.sink.deliver(message, list(envelope.rcpt_tos))
        return "250 OK"


class SmtpSink:
    """`async with SmtpSink() as smtp`: `smtp.port`, `await smtp.next()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self._queue: asyncio.Queue[tuple[EmailMessage, list[str]]] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    def deliver(self, message: EmailMessage, recipients: list[str]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (message, recipients))

    async def __aenter__(self) -> SmtpSink:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._controller.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._controller.stop)

    async def next(self, timeout: float = WAIT) -> tuple[EmailMessage, list[str]]:
        return await asyncio.wait_for(self._queue.get(), timeout)

    def empty(self) -> bool:
        return self._queue.empty()
