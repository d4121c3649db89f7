"""The status page as readers see it in Chromium: on a phone in dark mode during an outage (the
timeline, the words and icons, the live indicator), the incident's own page, and German for a
German browser. Screenshots of each state are saved under the test's output directory."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from devstack.processes import Stack
from tests.browser.services import example_alert, post_alert
from tests.browser.test_live_page import CRASHLOOP_TITLE, LIVE_MS, component_status, open_incident
from tests.browser.witness import Witness

pytestmark = pytest.mark.browser

UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$")
"""What the hover shows: the time in UTC."""


async def test_a_phone_in_dark_mode_follows_an_outage(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        color_scheme="dark",
        locale="en-US",
        timezone_id="America/New_York",
    )
    page = await context.new_page()
    witness = await Witness.attach(page)
    try:
        await page.goto(f"{stack.url('statuspage')}/")
        await expect(page.locator("#live")).to_be_visible(timeout=LIVE_MS)
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"  # the dark palette
        # Nothing wider than the phone: no horizontal scrolling.
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.screenshot(path=tmp_path / "phone-dark-operational.png", full_page=True)

        await post_alert(stack, example_alert("crashloop-firing.json"))

        await expect(component_status(page, "Payments API")).to_have_text(
            "Major Outage", timeout=LIVE_MS
        )
        incident = open_incident(page, CRASHLOOP_TITLE)
        await expect(incident.locator("ol.timeline > li")).to_have_count(1, timeout=LIVE_MS)
        await expect(page.locator("#announcer")).to_contain_text("Payments API: Major Outage")
        # The reader's time zone (New York), with UTC on hover.
        started = incident.locator("ol.timeline time").first
        await expect(started).to_have_attribute("title", UTC_TIME)
        assert "UTC" not in (await started.text_content() or "")
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.screenshot(path=tmp_path / "phone-dark-outage.png", full_page=True)
        print(f"screenshots in {tmp_path}", file=sys.stderr)

        # The permalink: the incident's own page, server-rendered.
        await incident.locator("h3.title a").click()
        await expect(page.locator("#incident h1.title")).to_have_text(CRASHLOOP_TITLE)
        await expect(page.locator("#incident .timeline .body")).to_contain_text("CrashLoopBackOff")
        await page.screenshot(path=tmp_path / "phone-dark-incident.png", full_page=True)
        assert witness.troubles() == {}
    finally:
        await context.close()


async def test_a_german_browser_reads_german(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    context = await browser.new_context(
        locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"}
    )
    page = await context.new_page()
    try:
        await page.goto(f"{stack.url('statuspage')}/")
        await expect(page.locator("#banner-text")).to_have_text("Alle Systeme betriebsbereit")
        await expect(page.locator("#live")).to_be_visible(timeout=LIVE_MS)
        await post_alert(stack, example_alert("crashloop-firing.json"))
        await expect(component_status(page, "Payments API")).to_have_text(
            "Schwerer Ausfall", timeout=LIVE_MS
        )
        await expect(page.locator("#banner-text")).to_have_text("Schwerer Systemausfall")
        await page.screenshot(path=tmp_path / "german-outage.png", full_page=True)
    finally:
        await context.close()
