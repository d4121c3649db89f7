"""Reading a request body: bounded in size, parsed as a JSON object, every string valid Unicode.

The body limit is checked on Content-Length before reading and again while streaming (a client
may send more than it declared, or no Content-Length at all). The Content-Type header is not
checked: Alertmanager and Grafana send `application/json`, hand-written senders often do not.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request

from herald.ingest.alertmanager import WebhookMessage
from herald.ingest.limits import text

_ORG_ID = re.compile(rb"(?:o|\\u006[fF])(?:r|\\u0072)(?:g|\\u0067)(?:I|\\u0049)(?:d|\\u0064)")
"""The text `orgId` anywhere in a JSON body, each letter as itself or as a \\u escape: a body
without it cannot have Grafana's `orgId` key (grafana.is_grafana)."""


class BodyTooLarge(Exception):
    pass


class BadRequest(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes (by Content-Length and while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("invalid Content-Length header") from None
        if size > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("the client went away before sending the whole body") from None
    return b"".join(chunks)


def parse_json_object(body: bytes, what: str = "an Alertmanager webhook payload") -> dict[str, Any]:
    """The body as a JSON object; BadRequest when it is not one."""
    try:
        doc: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest(f"the body must be a JSON object ({what})")
    if b"\\u" in body and _may_have_surrogates(body):
        return _without_surrogates(doc)
    return doc


def alertmanager_message(body: bytes) -> WebhookMessage | None:
    """The body as an Alertmanager message, validated from its bytes in one pass (pydantic's
    own JSON parser): only when that is certainly what the exact path (`parse_json_object`,
    `is_grafana`, `WebhookMessage.model_validate`) would make of it. None otherwise: the body
    may be Grafana's (the text `orgId` in it), may carry lone surrogates (which that path
    replaces and pydantic's parser refuses), or is not a valid Alertmanager message; the
    caller then takes the exact path, which answers as it always did."""
    if b"\\u" in body:
        if _ORG_ID.search(body) or _may_have_surrogates(body):
            return None
    elif b"orgId" in body:  # without escapes, a plain substring search says the same
        return None
    try:
        return WebhookMessage.model_validate_json(body)
    except ValidationError:
        return None


def _may_have_surrogates(body: bytes) -> bool:
    """Whether the body has a `\\uD800`-`\\uDFFF` escape (cheap pre-check, case-insensitive)."""
    lowered = body.lower()
    return any(f"\\ud{c}".encode() in lowered for c in "89abcdef")


def _without_surrogates(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of `doc` with lone surrogates in every key and string replaced (iterative: the
    document may be as deep as the JSON decoder allowed)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(doc, root)]
    while stack:
        source, target = stack.pop()
        items: Any = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, dict):
                copy: Any = {}
                stack.append((value, copy))
            elif isinstance(value, list):
                copy = [None] * len(value)
                stack.append((value, copy))
            elif isinstance(value, str):
                copy = text(value)
            else:
                copy = value
            if isinstance(target, dict):
                target[text(key)] = copy
            else:
                target[key] = copy
    return root
