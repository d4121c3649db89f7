"""The Apprise channel: planned from the configuration, sending to a real local HTTP receiver
through Apprise's generic JSON notifier (`json://`), never logging its URLs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from herald.notifier.channels import (
    MAX_SEND_SECONDS,
    AppriseChannel,
    AppriseTarget,
    AppriseUrl,
    RetryableError,
    open_channels,
    plan_channels,
)
from herald.notifier.channels.apprise import apprise_message
from herald.notifier.notice import Notice, build_notice
from herald.shared.config import ConfigError, HeraldConfig, parse_config
from services.notifier.tests.events import opened, resolved
from services.notifier.tests.root_log import RootLog
from tests.loopback import listening_socket
from tests.receiver import WAIT, Receiver

SECRET = "S3cretToken4711"

CONFIG = parse_config(
    """
page: {url: "https://status.example.com"}
services:
  payments-api: {name: Payments API, oncall: backend}
oncall:
  backend: {channels: [chat, partly, dormant]}
channels:
  chat:
    type: apprise
    urls: [{env: CHAT_URL}]
    timeout_seconds: 3
  partly:
    type: apprise
    urls:
      - {env: PARTLY_UNSET, optional: true}
      - {env: PARTLY_URL}
  dormant:
    type: apprise
    urls:
      - {env: DORMANT_A, optional: true}
      - {file: /nonexistent/herald/dormant, optional: true}
"""
)


def notice_of(config: HeraldConfig = CONFIG, *, resolve: bool = False) -> Notice:
    notice = build_notice(resolved() if resolve else opened(), config)
    assert notice is not None
    return notice


def json_url(receiver: Receiver, path: str) -> str:
    return f"json://127.0.0.1:{receiver.port}{path}?token={SECRET}"


def channel(*urls: str, timeout: float = 5.0) -> AppriseChannel:
    target = AppriseTarget(
        tuple(AppriseUrl(n, "JSON", url) for n, url in enumerate(urls)), timeout_seconds=timeout
    )
    return AppriseChannel("chat", target)


ENV = {
    "CHAT_URL": f"json://pager.example/hook?token={SECRET}",
    "PARTLY_URL": f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}",
}


def test_plan_checks_urls_and_disables_channels_with_none_set() -> None:
    plan = plan_channels(CONFIG, ENV)
    assert set(plan.apprise) == {"chat", "partly"}
    chat = plan.apprise["chat"]
    assert chat.timeout_seconds == 3
    assert [(u.index, u.service, u.url) for u in chat.urls] == [(0, "JSON", ENV["CHAT_URL"])]
    partly = plan.apprise["partly"]
    assert [(u.index, u.service) for u in partly.urls] == [(1, "Slack")]
    assert plan.skipped == {"partly": "urls.0 from environment variable PARTLY_UNSET not set"}
    assert set(plan.disabled) == {"dormant"}
    assert "DORMANT_A" in plan.disabled["dormant"]
    assert "/nonexistent/herald/dormant" in plan.disabled["dormant"]
    assert SECRET not in repr(plan)


def test_plan_names_a_missing_required_url() -> None:
    with pytest.raises(
        ConfigError, match=r"channels\.chat\.urls\.0: secret environment variable CHAT_URL"
    ):
        plan_channels(CONFIG, {"PARTLY_URL": ENV["PARTLY_URL"]})


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"slack://{SECRET}", "not a valid Slack URL (scheme slack://)"),
        (f"nosuchservice://{SECRET}@host", "not a URL Apprise supports (scheme nosuchservice://)"),
        (SECRET, "not an Apprise URL (no `scheme://` at its start)"),
    ],
)
def test_an_invalid_url_is_a_config_error_naming_where_it_is_not_what_it_is(
    url: str, why: str, root_log: RootLog
) -> None:
    with pytest.raises(ConfigError) as err:
        plan_channels(CONFIG, {**ENV, "PARTLY_URL": url})
    assert f"channels.partly.urls.1: {why}" in str(err.value)
    assert SECRET not in str(err.value)
    assert SECRET not in root_log.text


async def test_open_channels_opens_the_enabled_apprise_channels() -> None:
    plan = plan_channels(CONFIG, ENV)
    async with httpx.AsyncClient() as http:
        channels = open_channels(plan, http)
    assert set(channels) == {"chat", "partly"}
    assert isinstance(channels["chat"], AppriseChannel)


def test_message_is_the_notice_line_and_a_plain_text_body() -> None:
    title, body = apprise_message(notice_of())
    assert title == "[OPENED] Payments API: Card payments failing"
    assert body.splitlines() == [
        "5% of card payments fail",
        "Severity: unknown, status: investigating, impact: major",
        "Started: 2024-05-01T12:00:00Z",
        "Status page: https://status.example.com",
    ]
    title, body = apprise_message(notice_of(resolve=True))
    assert title == "[RESOLVED] Payments API: Card payments failing"
    assert "status: resolved, impact: major" in body
    assert "Resolved: 2024-05-01T12:30:00Z" in body


def test_every_configurable_timeout_fits_the_send_bound() -> None:
    def with_timeout(seconds: float) -> str:
        return f"channels:\n  c: {{type: apprise, urls: [x], timeout_seconds: {seconds}}}\n"

    parse_config(with_timeout(MAX_SEND_SECONDS))
    with pytest.raises(ConfigError):
        parse_config(with_timeout(MAX_SEND_SECONDS + 1))
    with pytest.raises(ValueError, match="apprise timeout"):
        AppriseTarget((AppriseUrl(0, "JSON", "json://x"),), MAX_SEND_SECONDS + 1)


async def test_sends_the_notice_through_apprise_without_logging_the_url(
    receiver: Receiver, root_log: RootLog
) -> None:
    await channel(json_url(receiver, "/chat")).send(notice_of())
    got = await receiver.next("/chat")
    assert got.body["title"] == "[OPENED] Payments API: Card payments failing"
    assert got.body["message"].startswith("5% of card payments fail\n")
    assert got.body["type"] == "failure"
    assert SECRET not in root_log.text
    assert f":{receiver.port}" not in root_log.text

    await channel(json_url(receiver, "/chat")).send(notice_of(resolve=True))
    assert (await receiver.next("/chat")).body["type"] == "success"


async def test_a_server_error_is_retryable_and_names_the_url_by_its_place(
    receiver: Receiver, root_log: RootLog
) -> None:
    receiver.always("/down", 500)
    both = channel(json_url(receiver, "/up"), json_url(receiver, "/down"))
    with pytest.raises(RetryableError) as err:
        await both.send(notice_of())
    assert str(err.value) == "not delivered to urls.1 (JSON)"
    # Each URL was tried, the healthy one delivered.
    assert (await receiver.next("/up")).body["type"] == "failure"
    assert (await receiver.next("/down")).body["type"] == "failure"
    assert SECRET not in root_log.text


async def test_a_send_is_cut_off_at_its_timeout() -> None:
    # A server that takes the connection and never answers: the send is cut off all the same.
    sock = listening_socket()
    try:
        port = sock.getsockname()[1]
        silent = channel(f"json://127.0.0.1:{port}/hook", timeout=0.2)
        with pytest.raises(RetryableError, match="timed out"):
            await asyncio.wait_for(silent.send(notice_of()), WAIT)
    finally:
        sock.close()
