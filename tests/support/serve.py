"""Waiting for a `snapconf serve` started by a test or a benchmark."""

from __future__ import annotations

import asyncio

import aiohttp


async def wait_healthy(base_url: str, timeout: float = 20.0) -> None:
    """Return once ``GET /healthz`` answers 200; raise :class:`TimeoutError` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            try:
                async with http.get(base_url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{base_url} did not answer /healthz within {timeout} s")
