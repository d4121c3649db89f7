"""The public status page in headless Chromium, watched without a reload: a CrashLoopBackOff alert
turns Payments API to "Major Outage" and shows the incident, its resolution turns it back, alert
text stays text, the page breaks no rule of its Content-Security-Policy, and a browser whose
status-page process is stopped or killed and started again reconnects and catches up on its own."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from devstack.processes import Stack
from tests.browser.services import example_alert, post_alert, start_service, stop_service
from tests.browser.witness import Witness

pytestmark = pytest.mark.browser

LIVE_MS = 15_000
"""How long a pushed change may take to show (a bound for a hung test, not a timing assertion)."""

CRASHLOOP_TITLE = "Payments API pod is in CrashLoopBackOff"
CRASHLOOP_BODY = "has been in CrashLoopBackOff for more than 2 minutes"


def component_status(page: Page, name: str) -> Locator:
    """The status words of the component row named `name`."""
    row = page.locator("#components li.component").filter(
        has=page.locator(".name").get_by_text(name, exact=True)
    )
    return row.locator(".row > .status")


def open_incident(page: Page, title: str) -> Locator:
    return page.locator("#open-incidents > li").filter(
        has=page.locator("h3.title").get_by_text(title, exact=True)
    )


async def open_live(page: Page, stack: Stack, path: str = "/") -> None:
    """Load the page (or another of the status page's, at `path`) and wait until its
    EventSource is connected (the footer says "live")."""
    await page.goto(f"{stack.url('statuspage')}{path}")
    await expect(page.locator("#live")).to_be_visible(timeout=LIVE_MS)
    await page.evaluate("window.heraldSameDocument = true")


async def assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.heraldSameDocument === true"), "the page reloaded itself"


async def test_outage_and_recovery_show_up_live(
    page: Page, witness: Witness, stack: Stack, tmp_path: Path
) -> None:
    await open_live(page, stack)
    payments = component_status(page, "Payments API")
    banner = page.locator("#banner-text")
    await expect(payments).to_have_text("Operational")
    await expect(banner).to_have_text("All Systems Operational")
    await expect(page.locator("#no-open")).to_have_text("No open incidents.")
    updated = page.locator("#updated-at")  # the footer's "last updated" follows each change
    quiet = await updated.get_attribute("datetime")

    await post_alert(stack, example_alert("crashloop-firing.json"))

    await expect(payments).to_have_text("Major Outage", timeout=LIVE_MS)
    await expect(updated).not_to_have_attribute("datetime", quiet or "", timeout=LIVE_MS)
    outage = await updated.get_attribute("datetime")
    await expect(banner).to_have_text("Major System Outage", timeout=LIVE_MS)
    incident = open_incident(page, CRASHLOOP_TITLE)
    await expect(incident).to_have_count(1, timeout=LIVE_MS)
    await expect(incident.locator(".body")).to_contain_text(CRASHLOOP_BODY)
    await expect(incident.locator(".service")).to_have_text("Payments API")
    await expect(page.locator("#no-open")).to_be_hidden()
    await page.screenshot(path=tmp_path / "outage.png", full_page=True)
    print(f"screenshot at the outage: {tmp_path / 'outage.png'}", file=sys.stderr)

    await post_alert(stack, example_alert("crashloop-resolved.json"))

    await expect(payments).to_have_text("Operational", timeout=LIVE_MS)
    await expect(banner).to_have_text("All Systems Operational", timeout=LIVE_MS)
    await expect(updated).not_to_have_attribute("datetime", outage or "", timeout=LIVE_MS)
    await expect(page.locator("#open-incidents > li")).to_have_count(0, timeout=LIVE_MS)
    await expect(page.locator("#no-open")).to_be_visible()
    resolved = page.locator("#resolved-incidents > li")
    await expect(resolved).to_have_count(1, timeout=LIVE_MS)
    await expect(resolved.locator("h3.title")).to_have_text(CRASHLOOP_TITLE)
    await expect(resolved.locator(".incident-status")).to_have_text("Resolved")
    await page.screenshot(path=tmp_path / "resolved.png", full_page=True)

    await assert_not_reloaded(page)
    assert witness.troubles() == {}


async def test_alert_markup_is_shown_as_text(page: Page, witness: Witness, stack: Stack) -> None:
    summary = "<img src=x onerror=alert(1)>"
    description = '<script>alert("xss")</script> & <b>not bold</b>\nsecond line'
    payload = example_alert("crashloop-firing.json")
    hostile = copy.deepcopy(payload["alerts"][0])
    hostile["labels"] = {
        "alertname": "KubeNodeNotReady",
        "node": "worker-3",
        "severity": "warning",
    }
    hostile["annotations"] = {"summary": summary, "description": description}
    hostile["fingerprint"] = "0badc0de0badc0de"
    payload.update(
        groupLabels={"alertname": "KubeNodeNotReady"},
        commonLabels=hostile["labels"],
        commonAnnotations=hostile["annotations"],
        alerts=[hostile],
    )
    await open_live(page, stack)

    await post_alert(stack, payload)

    await expect(component_status(page, "Nodes")).to_have_text(
        "Degraded Performance", timeout=LIVE_MS
    )
    # The incident came in the same pushed event as the component's status.
    await expect_literal(page, summary, description)
    await assert_not_reloaded(page)
    assert witness.troubles() == {}

    # The server-rendered page (what a browser without JS sees) escapes it too.
    await page.reload()
    await expect_literal(page, summary, description)
    assert witness.troubles() == {}


async def expect_literal(page: Page, summary: str, description: str) -> None:
    incident = page.locator("#open-incidents > li")
    await expect(incident).to_have_count(1)
    await expect(incident.locator("h3.title")).to_have_text(summary)
    body = await incident.locator(".body").evaluate("node => node.textContent")
    assert body.strip() == description
    for tag in ("img", "script", "b"):
        await expect(page.locator(f"main {tag}")).to_have_count(0)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_page_reconnects_and_catches_up_after_a_statuspage_restart(
    page: Page, witness: Witness, stack: Stack, how: str
) -> None:
    """SIGTERM: the process shuts down and closes its streams. SIGKILL (the OOM killer, a lost
    node): it says nothing, the kernel closes its sockets, and nothing it held survives."""
    await open_live(page, stack)
    payments = component_status(page, "Payments API")
    live = page.locator("#live")
    reconnecting = page.locator("#reconnecting")
    await expect(payments).to_have_text("Operational")

    if how == "SIGKILL":
        await stack.kill("statuspage")
    else:
        await stop_service(stack, "statuspage")
    await expect(live).to_be_hidden(timeout=LIVE_MS)  # the EventSource saw the stream end
    # It is retrying the stream (not given up on it and polling the JSON instead).
    await expect(reconnecting).to_have_text("Reconnecting…")
    # The outage begins while nothing serves the page.
    await post_alert(stack, example_alert("crashloop-firing.json"))
    await start_service(stack, "statuspage")

    # EventSource reconnects by itself (retry: 3000) and the change it missed arrives.
    await expect(live).to_be_visible(timeout=LIVE_MS)
    await expect(reconnecting).to_be_hidden()
    await expect(payments).to_have_text("Major Outage", timeout=LIVE_MS)
    await expect(open_incident(page, CRASHLOOP_TITLE)).to_have_count(1, timeout=LIVE_MS)
    await expect(page.locator("#banner-text")).to_have_text("Major System Outage")

    await post_alert(stack, example_alert("crashloop-resolved.json"))  # and it is live again
    await expect(payments).to_have_text("Operational", timeout=LIVE_MS)
    await expect(page.locator("#banner-text")).to_have_text(
        "All Systems Operational", timeout=LIVE_MS
    )
    await assert_not_reloaded(page)
    troubles = witness.troubles()
    # A reconnection attempt made while the process was down fails, and Chromium logs it; a
    # killed process also cuts its stream mid-chunk (a stopped one ends it cleanly).
    troubles.pop("console errors", None)
    assert troubles == {}
    expected = ["ERR_CONNECTION_REFUSED"]
    if how == "SIGKILL":
        expected.append("ERR_INCOMPLETE_CHUNKED_ENCODING")
    assert all(_failed_event_stream(e, expected) for e in witness.console_errors), (
        witness.console_errors
    )


def _failed_event_stream(console_error: str, errors: list[str]) -> bool:
    return bool(re.search(rf"({'|'.join(errors)}).*/events\)$", console_error))
