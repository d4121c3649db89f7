"""Channels from the config, and how the webhook channel classifies failures."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from herald.notifier.channels import (
    MAX_SEND_SECONDS,
    ConsoleChannel,
    PermanentError,
    RetryableError,
    WebhookChannel,
    WebhookTarget,
    open_channels,
    plan_channels,
)
from herald.notifier.channels.secrecy import keep_urls_out_of_logs
from herald.notifier.notice import build_notice
from herald.shared.config import ConfigError, parse_config
from services.notifier.tests.events import opened
from services.notifier.tests.root_log import RootLog

CONFIG = parse_config(
    """
services:
  payments-api: {name: Payments API, oncall: backend}
oncall:
  backend: {channels: [console, pager, optional]}
channels:
  console: {type: console}
  pager:
    type: webhook
    url: {env: PAGER_URL}
    timeout_seconds: 3
    headers:
      Authorization: {env: PAGER_AUTH}
      X-Optional: {env: UNSET_HEADER, optional: true}
  optional:
    type: webhook
    url: {env: OPTIONAL_URL, optional: true}
"""
)
NOTICE = build_notice(opened(), CONFIG)
assert NOTICE is not None


def test_plan_resolves_secrets_and_disables_optional_unset_webhooks() -> None:
    plan = plan_channels(CONFIG, {"PAGER_URL": "http://pager/x", "PAGER_AUTH": "Bearer s3cret"})
    assert plan.console == ("console",)
    assert plan.webhooks["pager"] == WebhookTarget(
        url="http://pager/x", headers={"Authorization": "Bearer s3cret"}, timeout_seconds=3
    )
    assert set(plan.disabled) == {"optional"}
    assert "OPTIONAL_URL" in plan.disabled["optional"]
    assert "s3cret" not in repr(plan)
    assert "http://pager/x" not in repr(plan)


def test_plan_names_missing_required_secrets() -> None:
    with pytest.raises(
        ConfigError, match=r"channels\.pager: secret environment variable PAGER_URL"
    ):
        plan_channels(CONFIG, {"PAGER_AUTH": "x"})


async def test_open_channels_skips_disabled_ones() -> None:
    plan = plan_channels(CONFIG, {"PAGER_URL": "http://pager/x", "PAGER_AUTH": "x"})
    async with httpx.AsyncClient() as http:
        channels = open_channels(plan, http)
    assert set(channels) == {"console", "pager"}
    assert isinstance(channels["console"], ConsoleChannel)
    assert isinstance(channels["pager"], WebhookChannel)


async def test_console_logs_one_structured_line(caplog: pytest.LogCaptureFixture) -> None:
    assert NOTICE is not None
    with caplog.at_level(logging.INFO, logger="herald.notifier.console"):
        await ConsoleChannel("console").send(NOTICE)
    [record] = caplog.records
    assert record.getMessage() == "[OPENED] Payments API: Card payments failing"
    assert record.__dict__["event_id"] == "ev-open-1"
    assert record.__dict__["channel"] == "console"


def webhook(handler: httpx.MockTransport) -> WebhookChannel:
    target = WebhookTarget(url="http://pager.test/hook", headers={"Authorization": "Bearer t"})
    return WebhookChannel("pager", target, httpx.AsyncClient(transport=handler))


async def test_webhook_posts_the_notice_with_headers_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    assert NOTICE is not None
    await webhook(httpx.MockTransport(handle)).send(NOTICE)
    [request] = seen
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Bearer t"
    assert request.headers["Idempotency-Key"] == "ev-open-1:pager"
    assert request.headers["Content-Type"] == "application/json"
    full = NOTICE.model_dump(mode="json")
    for unset in ("recipient", "user", "ack_url", "resolve_url"):  # escalation pages only
        assert not full.pop(unset)
    assert json.loads(request.content) == full


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_webhook_server_errors_are_retryable(status: int) -> None:
    assert NOTICE is not None
    channel = webhook(httpx.MockTransport(lambda _: httpx.Response(status)))
    with pytest.raises(RetryableError, match=f"HTTP {status}"):
        await channel.send(NOTICE)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
async def test_webhook_client_errors_are_permanent(status: int) -> None:
    assert NOTICE is not None
    channel = webhook(httpx.MockTransport(lambda _: httpx.Response(status)))
    with pytest.raises(PermanentError, match=f"HTTP {status}"):
        await channel.send(NOTICE)


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused http://pager.test/hook"), httpx.ReadTimeout("slow")]
)
async def test_webhook_network_errors_are_retryable_and_do_not_leak_the_url(
    exc: httpx.HTTPError,
) -> None:
    def fail(_: httpx.Request) -> httpx.Response:
        raise exc

    assert NOTICE is not None
    with pytest.raises(RetryableError) as info:
        await webhook(httpx.MockTransport(fail)).send(NOTICE)
    assert "pager.test" not in str(info.value)


async def test_webhook_timeout_bounds_the_whole_request_not_each_step() -> None:
    # A receiver that answers its headers, then drips its body for ever: each read is quick,
    # so httpx's per-step timeouts never fire; the whole request is cut off all the same.
    async def drip() -> AsyncIterator[bytes]:
        while True:
            yield b" "
            await asyncio.sleep(0)

    target = WebhookTarget(url="http://pager.test/hook", timeout_seconds=0.05)
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=drip()))
    )
    assert NOTICE is not None
    with pytest.raises(RetryableError, match="timed out"):
        await asyncio.wait_for(WebhookChannel("pager", target, http).send(NOTICE), 10)


def test_every_configurable_webhook_timeout_fits_the_send_bound() -> None:
    def with_timeout(seconds: float) -> str:
        return f"""
channels:
  pager: {{type: webhook, url: "http://pager/x", timeout_seconds: {seconds}}}
"""

    parse_config(with_timeout(MAX_SEND_SECONDS))
    with pytest.raises(ConfigError):
        parse_config(with_timeout(MAX_SEND_SECONDS + 1))
    with pytest.raises(ValueError, match="webhook timeout"):
        WebhookTarget(url="http://pager/x", timeout_seconds=MAX_SEND_SECONDS + 1)


async def test_webhook_urls_stay_out_of_the_log(root_log: RootLog) -> None:
    # httpx logs every request's URL at INFO; the notifier keeps it to warnings.
    keep_urls_out_of_logs()
    assert NOTICE is not None
    await webhook(httpx.MockTransport(lambda _: httpx.Response(200))).send(NOTICE)
    assert "pager.test" not in root_log.text
