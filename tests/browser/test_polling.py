"""A page the status page refuses the live stream (its connection limit reached: a 503 on
`/events`) polls `/api/page.json`, the document the stream's snapshot carries, and shows what a
live page does: an incident opening, then resolved in "Recently resolved", today's uptime bar
following the component, and the incident's own page following it, all without a reload.

The status page runs with HERALD_STATUSPAGE_MAX_SSE_CLIENTS=1, the test holds that one stream,
and HERALD_STATUSPAGE_POLL_SECONDS=1 makes the page poll every second (30 s in production): the
test awaits what the page shows, never a sleep."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from devstack.processes import Stack
from tests.browser.services import alert_now, post_alert, stack_for
from tests.browser.test_live_control import _steady, sections, shot
from tests.browser.test_live_page import LIVE_MS, assert_not_reloaded, component_status
from tests.browser.witness import Witness
from tests.infra import Infra

pytestmark = pytest.mark.browser

POLLING = "Checking every 1 s"


@pytest.fixture
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    """The stack, its status page serving one live stream and polling pages every second."""
    options = {"HERALD_STATUSPAGE_MAX_SSE_CLIENTS": "1", "HERALD_STATUSPAGE_POLL_SECONDS": "1"}
    async with stack_for(infra, **options) as running:
        yield running


@pytest.fixture
async def limit_reached(stack: Stack) -> AsyncIterator[None]:
    """Hold the status page's one live stream: every browser from now on is refused it."""
    async with (
        httpx.AsyncClient(base_url=stack.url("statuspage"), timeout=10) as http,
        http.stream("GET", "/events", headers={"Accept": "text/event-stream"}) as held,
    ):
        assert held.status_code == 200  # counted once its response has started
        refused = await http.get("/events", headers={"Accept": "text/event-stream"})
        assert refused.status_code == 503
        assert refused.json()["poll"] == "/api/page.json"
        yield


async def open_polling(page: Page, url: str) -> None:
    """Load `url` and wait until the page, refused the stream, says it polls."""
    await page.goto(url)
    await expect(page.locator("#reconnecting")).to_have_text(POLLING, timeout=LIVE_MS)
    await expect(page.locator("#live")).to_be_hidden()
    await page.evaluate("window.heraldSameDocument = true")


def assert_only_refused(witness: Witness) -> None:
    """Nothing went wrong but the refusals of `/events` (503), which Chromium also logs."""
    troubles = witness.troubles()
    refused = troubles.pop("failed responses", [])
    logged = troubles.pop("console errors", [])
    assert troubles == {}
    assert refused, "the page was never refused the stream"
    assert all(re.fullmatch(r"503 http://[^ ]+/events", r) for r in refused), refused
    assert all("503" in e and "/events" in e for e in logged), logged


async def test_a_page_refused_the_live_stream_polls_and_shows_what_a_live_one_does(
    page: Page,
    browser: Browser,
    witness: Witness,
    stack: Stack,
    limit_reached: None,
    tmp_path: Path,
) -> None:
    await open_polling(page, f"{stack.url('statuspage')}/")
    row = page.locator("#components li.component[data-component='payments-api']")
    today = row.locator("ol.bars > li.bar").last
    await expect(today).to_have_class("bar bar-operational")
    await expect(page.locator("#no-resolved")).to_be_visible()

    start = datetime.now(UTC)
    await post_alert(stack, alert_now("crashloop-firing.json", start))
    opened = page.locator("#open-incidents > li")
    await expect(opened).to_have_count(1, timeout=LIVE_MS)
    await expect(component_status(page, "Payments API")).to_have_text("Major Outage")
    await expect(today).to_have_class("bar bar-major_outage", timeout=LIVE_MS)
    await expect(today).to_have_attribute("title", f"{start.date()}: Major Outage")
    incident_id = await opened.get_attribute("data-incident")
    assert incident_id
    # The incident's own page, refused the stream too, follows it by polling.
    permalink = await page.context.new_page()
    await open_polling(permalink, f"{stack.url('statuspage')}/incidents/{incident_id}")
    own = permalink.locator("#incident")
    await expect(own.locator(".meta time.resolved-at")).to_have_count(0)
    await page.screenshot(path=shot(page, tmp_path, "polling-outage"), full_page=True)

    await post_alert(
        stack, alert_now("crashloop-resolved.json", start, start + timedelta(seconds=30))
    )
    resolved = page.locator("#resolved-incidents > li")
    await expect(resolved).to_have_count(1, timeout=LIVE_MS)
    await expect(resolved).to_have_attribute("data-incident", incident_id)
    await expect(resolved.locator(".incident-status")).to_have_text("Resolved")
    await expect(opened).to_have_count(0)
    await expect(page.locator("#no-open")).to_be_visible()
    await expect(page.locator("#no-resolved")).to_be_hidden()
    await expect(component_status(page, "Payments API")).to_have_text("Operational")
    await expect(today).to_have_class("bar bar-major_outage")  # the day's worst status
    await expect(own.locator(".meta .incident-status")).to_have_text("Resolved", timeout=LIVE_MS)
    await expect(own.locator(".meta time.resolved-at")).to_have_count(1)
    await page.screenshot(path=shot(page, tmp_path, "polling-resolved"), full_page=True)

    # What a fresh load of the page (the server's truth) shows.
    fresh = await browser.new_page()
    try:
        await open_polling(fresh, page.url)
        assert _steady(await sections(page)) == _steady(await sections(fresh))
    finally:
        await fresh.close()
    assert await permalink.evaluate("window.heraldSameDocument === true"), "it reloaded itself"
    live_text = await own.inner_text()
    await permalink.reload()
    assert await permalink.locator("#incident").inner_text() == live_text
    await assert_not_reloaded(page)
    await expect(page.locator("#reconnecting")).to_have_text(POLLING)  # polled all along
    assert_only_refused(witness)


async def test_a_polling_page_goes_live_again_once_the_stream_has_room(
    page: Page, witness: Witness, stack: Stack
) -> None:
    """After four polls (4 s here, 2 minutes by default) the page tries the live stream again:
    with room there, it is live, and a change reaches it over the stream."""
    async with (
        httpx.AsyncClient(base_url=stack.url("statuspage"), timeout=10) as http,
        http.stream("GET", "/events", headers={"Accept": "text/event-stream"}) as held,
    ):
        assert held.status_code == 200
        await open_polling(page, f"{stack.url('statuspage')}/")
    # the held stream is closed: the next try of the page finds room
    await expect(page.locator("#live")).to_be_visible(timeout=LIVE_MS)
    await expect(page.locator("#reconnecting")).to_be_hidden()
    await post_alert(stack, alert_now("crashloop-firing.json", datetime.now(UTC)))
    await expect(component_status(page, "Payments API")).to_have_text(
        "Major Outage", timeout=LIVE_MS
    )
    await assert_not_reloaded(page)
    assert_only_refused(witness)
