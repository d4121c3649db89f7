"""Fixtures for the browser tests: the four services as processes (as `make run` runs them,
like tests/e2e), and a page in Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from devstack.processes import Stack
from tests.browser.chromium import INSTALL_HINT, LAUNCH_ARGS, find_chromium
from tests.browser.services import stack_for
from tests.browser.witness import Witness
from tests.infra import Infra


@pytest.fixture
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    async with stack_for(infra) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=list(LAUNCH_ARGS), headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1000, "height": 900})
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


@pytest.fixture
async def witness(page: Page) -> Witness:
    return await Witness.attach(page)
