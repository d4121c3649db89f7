"""WCAG AA contrast of the status page's text, measured in Chromium: every visible element with
text of its own (banner, component names and status words, incident titles, meta and timeline,
uptime summaries, footer, links), its computed colour against the background that shows behind
it, in light and in dark mode: operational, in an outage, with the outage resolved, during
maintenance and while the page reconnects; the incident's own page and the history page."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Page, expect

from devstack.processes import Stack
from tests.browser.contrast import (
    contrast_ratio,
    flatten,
    over,
    parse_css_color,
    required_ratio,
)
from tests.browser.services import example_alert, herald, post_alert, start_service
from tests.browser.test_live_page import (
    CRASHLOOP_TITLE,
    LIVE_MS,
    component_status,
    open_incident,
    open_live,
)

pytestmark = pytest.mark.browser

# Every visible element holding text of its own (not only in its children), with its colour,
# size, weight and the background colours from it up to the root.
_TEXTS = """
() => {
  const found = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = Array.from(el.childNodes)
      .filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent).join("").trim();
    if (!own) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden: for screen readers
    const style = getComputedStyle(el);
    const backgrounds = [];
    for (let n = el; n; n = n.parentElement) {
      const s = getComputedStyle(n);
      if (s.backgroundImage !== "none") backgrounds.push("image");
      backgrounds.push(s.backgroundColor);
    }
    const name = (n) => n.tagName.toLowerCase() + (n.id ? "#" + n.id : "")
      + Array.from(n.classList).map((c) => "." + c).join("");
    const landmark = el.parentElement.closest("header, footer, section, main");
    found.push({
      element: (landmark ? name(landmark) + " " : "")
        + (el.parentElement !== landmark ? name(el.parentElement) + " " : "") + name(el),
      text: own.slice(0, 40),
      color: style.color,
      size: parseFloat(style.fontSize),
      weight: Number(style.fontWeight),
      backgrounds,
    });
  }
  return found;
}
"""


@dataclass(frozen=True)
class Text:
    element: str
    text: str
    ratio: float
    needed: float

    def __str__(self) -> str:
        return f"{self.element} {self.text!r}: {self.ratio:.2f}:1 (needs {self.needed}:1)"


async def texts_on(page: Page) -> list[Text]:
    measured = []
    found: list[dict[str, Any]] = await page.evaluate(_TEXTS)
    for item in found:
        assert "image" not in item["backgrounds"], f"{item['element']}: text over an image"
        background = flatten(parse_css_color(c) for c in item["backgrounds"])
        color = over(parse_css_color(item["color"]), background)
        measured.append(
            Text(
                item["element"],
                item["text"],
                contrast_ratio(color, background),
                required_ratio(item["size"], item["weight"]),
            )
        )
    return measured


async def assert_contrast(page: Page, state: str, must_cover: tuple[str, ...]) -> None:
    """In light and in dark mode: every text meets AA, and the texts measured include an element
    matching each of `must_cover` (so the test cannot pass by finding nothing)."""
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        texts = await texts_on(page)
        missing = [m for m in must_cover if not any(_covers(m, t.element) for t in texts)]
        assert missing == [], f"{state}, {scheme}: nothing measured for {missing}"
        failing = [str(t) for t in texts if t.ratio < t.needed]
        assert failing == [], f"{state}, {scheme}: below WCAG AA:\n" + "\n".join(failing)


def _covers(pattern: str, element: str) -> bool:
    """`footer time#updated-at` covers `footer p time#updated-at`: every part is in it."""
    return all(part in element for part in pattern.split())


EVERY_STATE = (
    "header.masthead span.site-title",
    "p#banner-text",
    "h2",
    "span.name",
    "span.status.status-operational",
    "p.description",
    "p.uptime-summary",
    "footer p",
    "footer span#live",
    "footer a",
    "footer time#updated-at",
)


def node_not_ready() -> dict[str, Any]:
    """A warning for the Nodes component: it turns Degraded Performance."""
    payload = example_alert("crashloop-firing.json")
    alert = copy.deepcopy(payload["alerts"][0])
    alert["labels"] = {"alertname": "KubeNodeNotReady", "node": "worker-3", "severity": "warning"}
    alert["annotations"] = {"summary": "worker-3 is NotReady", "description": "kubelet stopped"}
    alert["fingerprint"] = "0dd0dd0dd0dd0dd0"
    payload.update(
        groupKey='{}:{alertname="KubeNodeNotReady"}',
        groupLabels={"alertname": "KubeNodeNotReady"},
        commonLabels=alert["labels"],
        commonAnnotations=alert["annotations"],
        alerts=[alert],
    )
    return payload


async def test_the_page_meets_wcag_aa_contrast_light_and_dark(page: Page, stack: Stack) -> None:
    await open_live(page, stack)
    await assert_contrast(page, "operational", (*EVERY_STATE, "p#no-open.empty"))

    await post_alert(stack, example_alert("crashloop-firing.json"))
    await post_alert(stack, node_not_ready())
    await expect(component_status(page, "Payments API")).to_have_text(
        "Major Outage", timeout=LIVE_MS
    )
    await expect(component_status(page, "Nodes")).to_have_text(
        "Degraded Performance", timeout=LIVE_MS
    )
    incident = open_incident(page, CRASHLOOP_TITLE)
    await expect(incident.locator("ol.timeline > li")).to_have_count(1, timeout=LIVE_MS)
    await assert_contrast(
        page,
        "outage",
        (
            *EVERY_STATE,
            "span.status.status-major_outage",
            "span.status.status-degraded_performance",
            "h3.title a",
            "p.meta",
            "span.incident-status",
            "span.service",
            "span.update-status",
            "p.body",
        ),
    )

    await post_alert(stack, example_alert("crashloop-resolved.json"))
    await expect(page.locator("#resolved-incidents > li")).to_have_count(1, timeout=LIVE_MS)
    await assert_contrast(page, "resolved", (*EVERY_STATE, "h3.title a", "time.resolved-at"))

    # The incident's own page.
    await page.locator("#resolved-incidents h3.title a").click()
    await expect(page.locator("#incident h1.title")).to_have_text(CRASHLOOP_TITLE)
    await assert_contrast(page, "the incident's page", ("h1.title", "p.body", "footer p"))


async def test_maintenance_history_and_reconnecting_meet_wcag_aa_contrast(
    page: Page, stack: Stack
) -> None:
    await open_live(page, stack)
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
    await expect(component_status(page, "Payments API")).to_have_text(
        "Under Maintenance", timeout=LIVE_MS
    )
    await expect(page.locator("#banner")).to_have_attribute(
        "data-indicator", "maintenance", timeout=LIVE_MS
    )
    await assert_contrast(
        page,
        "maintenance",
        (
            *EVERY_STATE,
            "section#banner.banner.indicator-maintenance p#banner-text",
            "span.status.status-under_maintenance",
            "h3.title a",  # the window's (no incident is open)
            "li.incident.maintenance p.meta",
        ),
    )

    # The page's process is gone: the footer says so, in a colour of its own.
    await stack.kill("statuspage")
    await expect(page.locator("#reconnecting")).to_be_visible(timeout=LIVE_MS)
    await assert_contrast(page, "reconnecting", ("footer span#reconnecting.reconnecting",))
    await start_service(stack, "statuspage")

    await page.goto(f"{stack.url('statuspage')}/history")
    await assert_contrast(page, "the history page", ("h1", "footer p", "footer a"))
