"""JetStream publishes whose acks are awaited together (the "publish async" pattern).

`JetStreamContext.publish` is a request per message: a fresh random reply token (a system call
for its random bytes), a timer and a `wait_for` per message, the ack parsed into a dataclass.
At 100 alerts per webhook that was a third of ingest's time. Here one wildcard inbox
subscription on the service's connection receives every ack; a message's reply subject ends
with a counter, its future is resolved by the subscription's callback, and a whole batch shares
one timeout. What an ack says is read as `JetStreamContext.publish` reads it: a 503 status (no
stream listens) is `NoStreamResponseError`, an `error` document an `APIError`, otherwise the
`duplicate` flag.

The promise is the same: `publish_all` returns only when JetStream acknowledged every message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import Header
from nats.js.errors import APIError, NoStreamResponseError

NO_RESPONDERS_STATUS = "503"


@dataclass(frozen=True)
class Outgoing:
    subject: str
    payload: bytes
    headers: dict[str, str]


class AckInbox:
    """Publishes on `nc` with replies to one inbox subscription of its own (made on first use;
    nats-py re-subscribes it after a reconnect)."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._prefix = ""
        self._pending: dict[str, asyncio.Future[Msg]] = {}
        self._counter = 0
        self._lock = asyncio.Lock()

    async def _subscribe(self) -> str:
        async with self._lock:
            if not self._prefix:
                inbox = self._nc.new_inbox()
                await self._nc.subscribe(f"{inbox}.*", cb=self._on_reply)
                self._prefix = f"{inbox}."
        return self._prefix

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject[len(self._prefix) :], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def publish_all(
        self, messages: Sequence[Outgoing], timeout: float
    ) -> list[bool | BaseException]:
        """Publish every message, then await all their acks (at most `timeout` seconds in all).
        Per message: True when JetStream reports it a duplicate, False when newly stored, or
        the exception saying why it was not stored."""
        prefix = self._prefix or await self._subscribe()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Msg]] = []
        tokens: list[str] = []
        refused: BaseException | None = None
        try:
            for message in messages:
                self._counter += 1
                token = str(self._counter)
                future: asyncio.Future[Msg] = loop.create_future()
                self._pending[token] = future
                tokens.append(token)
                try:
                    await self._nc.publish(
                        message.subject,
                        message.payload,
                        reply=prefix + token,
                        headers=message.headers,
                    )
                except Exception as exc:  # closed, buffer full: not stored
                    refused = exc
                    break
                futures.append(future)
            if futures:
                await asyncio.wait(futures, timeout=timeout)
        finally:
            for token in tokens:
                self._pending.pop(token, None)
        results: list[bool | BaseException] = []
        for future in futures:
            if future.done():
                results.append(_read_ack(future.result()))
            else:
                future.cancel()
                results.append(NatsTimeoutError())
        missing = len(messages) - len(futures)
        results.extend(refused or NatsTimeoutError() for _ in range(missing))
        return results


def _read_ack(msg: Msg) -> bool | BaseException:
    if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
        return NoStreamResponseError()
    try:
        doc = json.loads(msg.data)
    except ValueError as exc:
        return exc
    if not isinstance(doc, dict):
        return ValueError("not a JetStream publish ack")
    if "error" in doc:
        try:
            APIError.from_error(doc["error"])  # raises the error's own class
        except Exception as exc:  # it is the result
            return exc
        return APIError(description=str(doc["error"]))
    return bool(doc.get("duplicate", False))
