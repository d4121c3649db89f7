"""A reader subscribes in Chromium with the page's plain form (no script needed), confirms from
the mail a real SMTP server received, hears of an outage by mail, and leaves with the mail's
unsubscribe link. The four services run as processes, as `make run` runs them."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from devstack.processes import Stack
from tests.browser.services import ROOT, TOKEN, example_alert, post_alert
from tests.infra import Infra
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.browser

WAIT = 20.0


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as sink:
        yield sink


@pytest.fixture
async def subscribing_stack(infra: Infra, smtp: SmtpSink, tmp_path: Path) -> AsyncIterator[Stack]:
    """The example stack with subscribers on, its mail going to `smtp`."""
    config = tmp_path / "herald.yaml"
    env = infra.stack_env(
        config, HERALD_DEMO_TOKEN=TOKEN, HERALD_SUBSCRIBERS_SECRET="browser-secret"
    )
    env.pop("HERALD_DEMO_PAGER_URL", None)
    page_url = f"http://127.0.0.1:{env['HERALD_STATUSPAGE_PORT']}"
    config.write_text(
        (ROOT / "examples" / "herald.yaml").read_text()
        + f"""
subscribers:
  enabled: true
  public_url: "{page_url}"
  sender: "Demo Status <status@demo.test>"
  smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none}}
  coalesce: 1h
"""
    )
    async with Stack(env, out=sys.stderr) as running:
        yield running


async def test_a_reader_subscribes_confirms_hears_of_an_outage_and_unsubscribes(
    browser: Browser, subscribing_stack: Stack, smtp: SmtpSink, tmp_path: Path
) -> None:
    stack = subscribing_stack
    context = await browser.new_context(java_script_enabled=False, locale="en-US")
    page = await context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    try:
        await page.goto(f"{stack.url('statuspage')}/")
        await page.get_by_role("link", name="Get updates").first.click()
        await expect(page.locator("#subscribe-form")).to_be_visible()
        await page.fill("#email", "reader@example.com")
        await page.get_by_label("Everything").uncheck()
        await page.get_by_label("Payments API").check()
        await page.click("#subscribe-button")
        await expect(page.locator("#subscribe-result")).to_contain_text("confirmation link")
        await page.screenshot(path=tmp_path / "subscribe-sent.png", full_page=True)

        mail, rcpt = await smtp.next(WAIT)
        assert rcpt == ["reader@example.com"]
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        (confirm,) = [w for w in text.split() if "/subscribe/confirm?token=" in w]
        await page.goto(confirm)
        await page.click("#confirm-button")
        await expect(page.locator("#subscribe-result")).to_contain_text("You are subscribed")

        await post_alert(stack, example_alert("crashloop-firing.json"))
        mail, _ = await smtp.next(WAIT)
        assert "Payments API" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        unsubscribe = mail["List-Unsubscribe"].strip("<>")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        await page.goto(unsubscribe)
        await page.click("#unsubscribe-button")
        await expect(page.locator("#subscribe-result")).to_contain_text("unsubscribed")
        await page.screenshot(path=tmp_path / "unsubscribed.png", full_page=True)
        assert violations == []
    finally:
        await context.close()
