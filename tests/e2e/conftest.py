"""Fixtures the browser tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.e2e.browsers import CHROMIUM, CHROMIUM_ARGS


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
