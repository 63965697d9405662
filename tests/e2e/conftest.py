"""Fixtures the browser tests share.

* ``chromium``: a Playwright Chromium, for the tests written with Playwright's own API.
* ``pages``, ``fox`` and ``chrome``: a :class:`~tests.e2e.browsers.Pages` on the module's
  ``server`` fixture (see :func:`~tests.e2e.browsers.module_server`), and a Firefox ESR
  and a Chromium (tests/e2e/browsers.py) launched for the test; the pages' consoles, the
  Firefox driver's stderr and the server's log of the test are printed if it fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.browsers import CHROMIUM, CHROMIUM_ARGS, Browser, Pages, Server, launch


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, driven by Playwright; closed after the test."""
    async_api = pytest.importorskip("playwright.async_api")
    playwright = await async_api.async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        # the room page speaks the browser's language: French unless a test asks otherwise
        # (Playwright's contexts say en-US by default)
        new_context = browser.new_context

        async def french_context(**options: Any) -> Any:
            options.setdefault("locale", "fr-FR")
            return await new_context(**options)

        browser.new_context = french_context
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await playwright.stop()


@pytest.fixture
async def pages(request: pytest.FixtureRequest, server: Server) -> AsyncIterator[Pages]:
    """The test's room pages on the module's ``server``; dumped if the test fails."""
    failed_before = request.session.testsfailed
    log_start = len(server.log())
    p = Pages(server)
    yield p
    if request.session.testsfailed > failed_before:
        print(p.dump())
        print(f"----- snapconf server log (this test) -----\n{server.log()[log_start:]}")


@pytest.fixture
async def fox(pages: Pages, tmp_path: Path) -> AsyncIterator[Browser]:
    """Debian's firefox-esr, over WebDriver BiDi (tests/e2e/firefox/driver.mjs)."""
    async with launch("firefox", tmp_path) as browser:
        pages.browsers.append(browser)
        yield browser


@pytest.fixture
async def chrome(pages: Pages, tmp_path: Path) -> AsyncIterator[Browser]:
    """Debian's Chromium, through the same :class:`~tests.e2e.browsers.Browser` interface."""
    async with launch("chromium", tmp_path) as browser:
        yield browser
