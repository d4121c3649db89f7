"""What people do by hand (the `herald` CLI, a real process, through ingest's admin API), seen
live in Chromium without a reload: a manual update on the incident's timeline and its
postmortem (the timeline's last entry), maintenance
scheduled (upcoming) and under way (active) and completed or cancelled (the window's own page
following it too), an incident reopened by its alert
moving back from "Recently resolved" to the current incidents, and today's uptime bar following
the component. After each, a fresh load of the page (the server's truth) shows what the live
page shows. Screenshots of the main states are saved under the test's output directory."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from devstack.processes import Stack
from tests.browser.services import alert_now, herald, post_alert
from tests.browser.test_live_page import (
    LIVE_MS,
    assert_not_reloaded,
    component_status,
    open_live,
)
from tests.browser.witness import Witness

pytestmark = pytest.mark.browser

SECTIONS = ("#open-incidents", "#resolved-incidents", "#maintenances", "#components")


async def sections(page: Page) -> dict[str, str]:
    """What the page says in each section, as a reader sees it (text, bars' titles, classes)."""
    found: dict[str, str] = {}
    for selector in SECTIONS:
        found[selector] = await page.locator(selector).evaluate(
            """root => {
              const words = root.innerText.replace(/\\s+/g, " ").trim();
              const bars = Array.from(root.querySelectorAll("li.bar"))
                .map(b => b.className + "=" + b.getAttribute("title")).join("|");
              const summaries = Array.from(root.querySelectorAll(".uptime-summary, ol.bars"))
                .map(s => s.getAttribute("aria-label") || "").join("|");
              return words + " #bars " + bars + " #summaries " + summaries;
            }"""
        )
    return found


async def assert_as_reloaded(page: Page, browser: Browser) -> None:
    """The live page shows what a fresh load of it shows (the server-rendered truth)."""
    context = await browser.new_context(viewport={"width": 1000, "height": 900})
    try:
        fresh = await context.new_page()
        await fresh.goto(page.url)
        await expect(fresh.locator("#live")).to_be_visible(timeout=LIVE_MS)
        assert _steady(await sections(page)) == _steady(await sections(fresh))
    finally:
        await context.close()


PERCENT = re.compile(r"\d+(\.\d+)?%")


def _steady(found: dict[str, str]) -> dict[str, str]:
    """Without the uptime percentages: they move with the clock during an outage."""
    return {k: PERCENT.sub("N%", v) for k, v in found.items()}


def shot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    print(f"screenshot: {path}", file=sys.stderr)
    return path


async def test_a_manual_update_shows_on_the_timeline_live(
    page: Page, browser: Browser, witness: Witness, stack: Stack, tmp_path: Path
) -> None:
    await open_live(page, stack)
    await herald(
        stack,
        "incident",
        "open",
        "--service",
        "payments-api",
        "--title",
        "Checkout errors",
        "--body",
        "We are looking into failed payments.",
    )
    incident = page.locator("#open-incidents > li")
    await expect(incident).to_have_count(1, timeout=LIVE_MS)
    await expect(incident.locator("h3.title")).to_have_text("Checkout errors")
    await expect(incident.locator(".body")).to_have_text("We are looking into failed payments.")
    incident_id = await incident.get_attribute("data-incident")
    assert incident_id
    # The incident's own page, open beside it, follows too.
    permalink = await page.context.new_page()
    await permalink.goto(f"{stack.url('statuspage')}/incidents/{incident_id}")
    await expect(permalink.locator("#live")).to_be_visible(timeout=LIVE_MS)
    await permalink.evaluate("window.heraldSameDocument = true")
    own = permalink.locator("#incident")
    await expect(own.locator("ol.timeline > li")).to_have_count(1)

    await herald(
        stack,
        "incident",
        "update",
        incident_id,
        "--status",
        "identified",
        "--body",
        "A bad deploy; rolling it back.",
    )
    entries = incident.locator("ol.timeline > li")
    await expect(entries).to_have_count(2, timeout=LIVE_MS)
    newest = entries.first  # newest first
    await expect(newest.locator(".update-status")).to_have_text("Identified")
    await expect(newest.locator(".update-body")).to_have_text("A bad deploy; rolling it back.")
    await expect(incident.locator(".incident-status")).to_have_text("Identified")
    await expect(own.locator("ol.timeline > li")).to_have_count(2, timeout=LIVE_MS)
    await expect(own.locator("ol.timeline > li").first.locator(".update-body")).to_have_text(
        "A bad deploy; rolling it back."
    )
    await expect(own.locator(".meta .incident-status")).to_have_text("Identified")
    await page.screenshot(path=shot(page, tmp_path, "manual-update"), full_page=True)
    await permalink.screenshot(path=shot(page, tmp_path, "manual-update-permalink"), full_page=True)
    await assert_as_reloaded(page, browser)

    await herald(stack, "incident", "resolve", incident_id, "--body", "Rolled back; all good.")
    await expect(page.locator("#open-incidents > li")).to_have_count(0, timeout=LIVE_MS)
    resolved = page.locator("#resolved-incidents > li")
    await expect(resolved).to_have_count(1, timeout=LIVE_MS)
    await expect(resolved.locator("h3.title")).to_have_text("Checkout errors")
    await page.screenshot(path=shot(page, tmp_path, "manual-resolved"), full_page=True)
    await expect(own.locator(".meta .incident-status")).to_have_text("Resolved", timeout=LIVE_MS)
    await expect(own.locator(".meta time.resolved-at")).to_have_count(1)
    await expect(own.locator("ol.timeline > li")).to_have_count(3)
    assert await permalink.evaluate("window.heraldSameDocument === true"), "it reloaded itself"
    live_text = await own.inner_text()
    await permalink.reload()
    assert await permalink.locator("#incident").inner_text() == live_text  # as the server says
    await assert_as_reloaded(page, browser)

    # The post-incident summary closes the timeline: both pages show it at once.
    await expect(permalink.locator("#live")).to_be_visible(timeout=LIVE_MS)
    await permalink.evaluate("window.heraldSameDocument = true")
    summary = tmp_path / "postmortem.md"
    summary.write_text(POSTMORTEM, encoding="utf-8")
    await herald(stack, "incident", "postmortem", incident_id, "--body-file", str(summary))
    await expect(own.locator("ol.timeline > li")).to_have_count(4, timeout=LIVE_MS)
    told = own.locator("ol.timeline > li").first
    await expect(told.locator(".update-status")).to_have_text("Postmortem")
    await expect(told.locator(".update-body")).to_have_text(POSTMORTEM)
    await expect(own.locator(".meta .incident-status")).to_have_text("Postmortem")
    closed = page.locator("#resolved-incidents > li")
    await expect(closed.locator(".incident-status")).to_have_text("Postmortem", timeout=LIVE_MS)
    await permalink.screenshot(path=shot(page, tmp_path, "postmortem-permalink"), full_page=True)
    assert await permalink.evaluate("window.heraldSameDocument === true"), "it reloaded itself"
    live_text = await own.inner_text()
    await permalink.reload()
    reloaded = permalink.locator("#incident")
    assert await reloaded.inner_text() == live_text  # as the server says
    await expect(reloaded.locator("ol.timeline > li").first.locator(".update-body")).to_have_text(
        POSTMORTEM
    )
    await assert_as_reloaded(page, browser)
    await assert_not_reloaded(page)
    assert witness.troubles() == {}


POSTMORTEM = "A deploy shipped without its migration; we now run migrations first."


async def unresolved(stack: Stack) -> list[dict[str, object]]:
    """The Statuspage v2 API's open incidents (what scripts and other tools read)."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{stack.url('statuspage')}/api/v2/incidents/unresolved.json")
    response.raise_for_status()
    incidents: list[dict[str, object]] = response.json()["incidents"]
    return incidents


async def test_a_status_by_hand_on_an_alerts_incident_shows_on_the_page_and_api_live(
    page: Page, browser: Browser, witness: Witness, stack: Stack, tmp_path: Path
) -> None:
    """An incident an alert opened carries its own public status: a person's `identified`
    must reach the page's header and /api/v2, not only the timeline entry (they kept saying
    "Investigating")."""
    await open_live(page, stack)
    await post_alert(stack, alert_now("crashloop-firing.json", datetime.now(UTC)))
    incident = page.locator("#open-incidents > li")
    await expect(incident).to_have_count(1, timeout=LIVE_MS)
    await expect(incident.locator(".incident-status")).to_have_text("Investigating")
    incident_id = await incident.get_attribute("data-incident")
    assert incident_id

    await herald(
        stack,
        "incident",
        "update",
        incident_id,
        "--status",
        "identified",
        "--body",
        "A bad image tag; rolling back.",
    )
    newest = incident.locator("ol.timeline > li").first
    await expect(newest.locator(".update-body")).to_have_text(
        "A bad image tag; rolling back.", timeout=LIVE_MS
    )
    await expect(newest.locator(".update-status")).to_have_text("Identified")
    await expect(incident.locator(".incident-status")).to_have_text("Identified")
    (api,) = await unresolved(stack)
    assert (api["id"], api["status"]) == (incident_id, "identified")
    updates = api["incident_updates"]
    assert isinstance(updates, list)
    assert (updates[0]["status"], updates[0]["body"]) == (
        "identified",
        "A bad image tag; rolling back.",
    )
    await page.screenshot(path=shot(page, tmp_path, "alerts-identified"), full_page=True)
    await assert_as_reloaded(page, browser)

    await herald(stack, "incident", "update", incident_id, "--status", "monitoring")
    await expect(incident.locator(".incident-status")).to_have_text("Monitoring", timeout=LIVE_MS)
    assert [i["status"] for i in await unresolved(stack)] == ["monitoring"]
    assert witness.troubles() == {}


async def test_maintenance_shows_live_upcoming_active_and_done(
    page: Page, browser: Browser, witness: Witness, stack: Stack, tmp_path: Path
) -> None:
    await open_live(page, stack)
    windows = page.locator("#maintenances > li")
    await expect(page.locator("#no-maintenance")).to_be_visible()
    now = datetime.now(UTC)
    await herald(
        stack,
        "maintenance",
        "schedule",
        "--services",
        "nodes",
        "--title",
        "Search index rebuild",
        "--start",
        (now + timedelta(days=2)).isoformat(),
        "--end",
        (now + timedelta(days=2, hours=1)).isoformat(),
    )
    upcoming = windows.filter(has_text="Search index rebuild")
    await expect(upcoming).to_have_count(1, timeout=LIVE_MS)
    await expect(upcoming.locator(".incident-status")).to_have_text("Scheduled")
    await expect(page.locator("#no-maintenance")).to_be_hidden()
    await page.screenshot(path=shot(page, tmp_path, "maintenance-upcoming"), full_page=True)
    await assert_as_reloaded(page, browser)

    # A window that starts in a moment: the correlator starts it by itself.
    await herald(
        stack,
        "maintenance",
        "schedule",
        "--services",
        "payments-api",
        "--title",
        "Database upgrade",
        "--start",
        "+1s",
        "--end",
        "+2h",
    )
    active = windows.filter(has_text="Database upgrade")
    await expect(active.locator(".incident-status")).to_have_text("In progress", timeout=LIVE_MS)
    await expect(component_status(page, "Payments API")).to_have_text(
        "Under Maintenance", timeout=LIVE_MS
    )
    await expect(windows).to_have_count(2)
    await expect(windows.first).to_contain_text("Database upgrade")  # active, then upcoming
    await page.screenshot(path=shot(page, tmp_path, "maintenance-active"), full_page=True)
    await assert_as_reloaded(page, browser)

    listed = await herald(stack, "maintenance", "list", "--json")
    active_id = next(
        w["id"] for w in json.loads(listed)["maintenances"] if w["title"] == "Database upgrade"
    )
    # The live list links each window to its own page (its shortlink), which shows it.
    await expect(active.locator("h3 a")).to_have_attribute("href", f"/incidents/{active_id}")
    permalink = await browser.new_page()
    await open_live(permalink, stack, f"/incidents/{active_id}")
    own = permalink.locator("#maintenance")
    await expect(own.locator("h1")).to_have_text("Database upgrade")
    await expect(own.locator(".incident-status")).to_have_text("In progress")
    await expect(own.locator(".timeline li")).to_have_count(2)
    await permalink.screenshot(path=shot(permalink, tmp_path, "maintenance-page"), full_page=True)

    await herald(stack, "maintenance", "complete", active_id)
    await expect(active).to_have_count(0, timeout=LIVE_MS)
    await expect(component_status(page, "Payments API")).to_have_text(
        "Operational", timeout=LIVE_MS
    )
    await expect(windows).to_have_count(1)
    # The window's own page follows it to the end, without a reload.
    await expect(own.locator(".meta .incident-status")).to_have_text("Completed", timeout=LIVE_MS)
    await expect(own).to_have_class(re.compile(r"\bmaintenance-completed\b"))
    await expect(own.locator(".timeline li")).to_have_count(3)
    await expect(own.locator(".timeline li").first.locator(".update-status")).to_have_text(
        "Completed"
    )
    await permalink.screenshot(path=shot(permalink, tmp_path, "maintenance-done"), full_page=True)
    await assert_same_after_reload(permalink, "#maintenance")
    await permalink.close()
    await assert_as_reloaded(page, browser)
    await assert_not_reloaded(page)
    assert witness.troubles() == {}


async def test_a_cancelled_windows_own_page_says_so_live(
    page: Page, witness: Witness, stack: Stack, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    await herald(
        stack,
        "maintenance",
        "schedule",
        "--services",
        "nodes",
        "--title",
        "Node pool resize",
        "--body",
        "New nodes join the pool.",
        "--start",
        (now + timedelta(days=1)).isoformat(),
        "--end",
        (now + timedelta(days=1, hours=1)).isoformat(),
    )
    listed = await herald(stack, "maintenance", "list", "--json")
    window_id = next(
        w["id"] for w in json.loads(listed)["maintenances"] if w["title"] == "Node pool resize"
    )
    await open_live(page, stack, f"/incidents/{window_id}")
    own = page.locator("#maintenance")
    await expect(own.locator(".meta .incident-status")).to_have_text("Scheduled")
    await expect(own.locator(".timeline li")).to_have_count(1)

    await herald(stack, "maintenance", "cancel", window_id)
    await expect(own.locator(".meta .incident-status")).to_have_text("Completed", timeout=LIVE_MS)
    await expect(own.locator(".timeline li")).to_have_count(2)
    newest = own.locator(".timeline li").first
    await expect(newest.locator(".update-body")).to_have_text("The maintenance was cancelled.")
    await expect(own.locator(".timeline li").last.locator(".update-body")).to_have_text(
        "New nodes join the pool."
    )
    await page.screenshot(path=shot(page, tmp_path, "maintenance-cancelled"), full_page=True)
    await assert_same_after_reload(page, "#maintenance")
    assert witness.troubles() == {}


async def assert_same_after_reload(page: Page, selector: str) -> None:
    """The page did not reload itself, and a reload (the server's truth) shows what it shows."""
    await assert_not_reloaded(page)
    live = await page.locator(selector).evaluate(WHAT_IT_SAYS)
    await page.reload()
    await expect(page.locator("#live")).to_be_visible(timeout=LIVE_MS)
    assert await page.locator(selector).evaluate(WHAT_IT_SAYS) == live


WHAT_IT_SAYS = """root => root.innerText + " #classes " + Array.from(
  root.querySelectorAll("*"), e => e.className).join("|") + " " + root.className"""


async def test_a_reopened_incident_moves_back_to_the_current_ones_live(
    page: Page, browser: Browser, witness: Witness, stack: Stack, tmp_path: Path
) -> None:
    await open_live(page, stack)
    start = datetime.now(UTC) - timedelta(minutes=3)
    await post_alert(stack, alert_now("crashloop-firing.json", start))
    await expect(page.locator("#open-incidents > li")).to_have_count(1, timeout=LIVE_MS)
    await post_alert(
        stack, alert_now("crashloop-resolved.json", start, start + timedelta(minutes=1))
    )
    resolved = page.locator("#resolved-incidents > li")
    await expect(resolved).to_have_count(1, timeout=LIVE_MS)
    await expect(page.locator("#open-incidents > li")).to_have_count(0)
    incident_id = await resolved.get_attribute("data-incident")

    # The same alert fires again within the reopen window: the same incident opens again.
    await post_alert(stack, alert_now("crashloop-firing.json", start + timedelta(minutes=2)))
    reopened = page.locator("#open-incidents > li")
    await expect(reopened).to_have_count(1, timeout=LIVE_MS)
    await expect(reopened).to_have_attribute("data-incident", incident_id or "")
    await expect(resolved).to_have_count(0, timeout=LIVE_MS)
    await expect(page.locator("#no-resolved")).to_be_visible()
    await expect(component_status(page, "Payments API")).to_have_text("Major Outage")
    await page.screenshot(path=shot(page, tmp_path, "reopened"), full_page=True)
    await assert_as_reloaded(page, browser)
    await assert_not_reloaded(page)
    assert witness.troubles() == {}


async def test_todays_uptime_bar_follows_the_component_live(
    page: Page, browser: Browser, witness: Witness, stack: Stack, tmp_path: Path
) -> None:
    await open_live(page, stack)
    row = page.locator("#components li.component[data-component='payments-api']")
    today = row.locator("ol.bars > li.bar").last
    await expect(today).to_have_class("bar bar-operational")
    await post_alert(stack, alert_now("crashloop-firing.json", datetime.now(UTC)))
    await expect(component_status(page, "Payments API")).to_have_text(
        "Major Outage", timeout=LIVE_MS
    )
    await expect(today).to_have_class("bar bar-major_outage", timeout=LIVE_MS)
    await expect(today).to_have_attribute("title", f"{datetime.now(UTC).date()}: Major Outage")
    await page.screenshot(path=shot(page, tmp_path, "uptime-today"), full_page=True)
    await assert_as_reloaded(page, browser)
    await assert_not_reloaded(page)
    assert witness.troubles() == {}
