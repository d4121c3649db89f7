"""The generic webhook against a real local HTTP receiver: signed bodies, redirects followed or
reported, templates."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from herald.notifier.channels import PermanentError, WebhookChannel, WebhookTarget
from herald.notifier.notice import Notice, build_notice
from herald.shared.config import MessageTemplate, parse_config
from herald.shared.webhook_signature import signature
from herald.shared.webhook_signature import verify as verify_signature
from services.notifier.tests.events import opened
from tests.receiver import Receiver

SECRET = b"webhook-signing-key"
CONFIG = parse_config("services: {payments-api: {name: Payments API}}")


def notice() -> Notice:
    n = build_notice(opened(), CONFIG)
    assert n is not None
    return n


def channel(url: str, **kw: object) -> WebhookChannel:
    return WebhookChannel("pager", WebhookTarget(url=url, **kw), httpx.AsyncClient())  # type: ignore[arg-type]


async def test_a_signed_body_verifies_with_its_timestamp_and_not_once_altered(
    receiver: Receiver,
) -> None:
    await channel(receiver.url_for("/signed"), secret=SECRET).send(notice())
    got = await receiver.next("/signed")
    ts, sig = got.headers["x-herald-timestamp"], got.headers["x-herald-signature"]
    assert sig.startswith("sha256=")
    assert verify_signature(SECRET, ts, got.raw, sig, now=time.time())
    assert json.loads(got.raw)["type"] == "incident.opened"
    # Altered body, other key, replayed later: all rejected.
    assert not verify_signature(SECRET, ts, got.raw + b" ", sig, now=time.time())
    assert not verify_signature(b"other", ts, got.raw, sig, now=time.time())
    assert not verify_signature(SECRET, ts, got.raw, sig, now=int(ts) + 301)
    # The signature covers the timestamp too: moving it forward breaks it.
    assert not verify_signature(SECRET, str(int(ts) + 1), got.raw, sig, now=int(ts) + 1)
    assert sig == signature(SECRET, ts, got.raw)


async def test_an_unsigned_webhook_has_no_signature_headers(receiver: Receiver) -> None:
    await channel(receiver.url_for("/plain")).send(notice())
    got = await receiver.next("/plain")
    assert "x-herald-signature" not in got.headers


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_followed_with_the_same_signed_post(
    receiver: Receiver, status: int
) -> None:
    receiver.redirect("/old", status, "/new")
    await channel(
        receiver.url_for("/old"), secret=SECRET, headers={"Authorization": "Bearer t"}
    ).send(notice())
    first, moved = await receiver.next("/old"), await receiver.next("/new")
    assert moved.raw == first.raw  # POSTed again, never turned into a GET
    assert moved.headers["authorization"] == "Bearer t"  # same origin: credentials kept
    ts = moved.headers["x-herald-timestamp"]
    assert verify_signature(SECRET, ts, moved.raw, moved.headers["x-herald-signature"], time.time())


async def test_credentials_do_not_follow_a_redirect_to_another_origin(receiver: Receiver) -> None:
    async with Receiver() as other:
        receiver.redirect("/old", 307, other.url_for("/elsewhere"))
        await channel(receiver.url_for("/old"), headers={"Authorization": "Bearer t"}).send(
            notice()
        )
        moved = await other.next("/elsewhere")
    assert "authorization" not in moved.headers
    assert moved.body["type"] == "incident.opened"


async def test_a_3xx_that_cannot_be_followed_is_a_failure_that_says_so(receiver: Receiver) -> None:
    receiver.redirect("/nowhere", 302, "")
    with pytest.raises(PermanentError, match="302 without a Location"):
        await channel(receiver.url_for("/nowhere")).send(notice())
    receiver.redirect("/loop", 307, "/loop")
    with pytest.raises(PermanentError, match="more than 2 redirects"):
        await channel(receiver.url_for("/loop"), max_redirects=2).send(notice())
    assert receiver.count("/loop") == 3


async def test_a_template_renders_text_and_message(receiver: Receiver) -> None:
    template = MessageTemplate(
        title="{{ severity or 'page' }}: {{ service.name }}", body="{{ description }}"
    )
    await channel(receiver.url_for("/templated"), template=template).send(notice())
    got = await receiver.next("/templated")
    assert got.body["text"] == "page: Payments API"
    assert got.body["message"] == "5% of card payments fail\n"
