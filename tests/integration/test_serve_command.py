"""``python -m snapconf serve`` as a user runs it."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
from tests.conftest import free_port


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "snapconf",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_serve_answers_health_metrics_and_a_room_page_then_stops_on_sigterm():
    http_port, media_port = free_port(), free_port()
    process = await _start("serve", "--http-port", str(http_port), "--media-port", str(media_port))
    try:
        url = f"http://127.0.0.1:{http_port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            async with http.get(url + "/healthz") as r:
                assert (await r.json())["status"] == "ok"
            async with http.get(url + "/metrics") as r:
                text = await r.text()
                assert "snapconf_conferences 0" in text
                assert "# TYPE snapconf_media_dropped_total counter" in text
            async with http.get(url + "/ma-reunion") as r:
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
                assert r.headers["X-Frame-Options"] == "DENY"
            async with http.get(url + "/bad%20room") as r:
                assert r.status == 404
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0
        log = out.decode()
        assert f"127.0.0.1:{media_port}" in log and "shutting down" in log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_an_unknown_setting_stops_serve_with_its_name(tmp_path):
    config = tmp_path / "snapconf.toml"
    config.write_text("[media]\nprot = 10000\n")
    process = await _start("serve", "--config", str(config))
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert "unknown setting media.prot" in out.decode()
