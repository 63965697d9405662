"""Book, kill the server with SIGKILL, restart it: the booking and its PIN still work."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from tests.conftest import free_port
from tests.integration.api.helpers import SECRET, Api
from tests.support.serve import wait_healthy

from snapconf.bookings.store import Store
from snapconf.client import Client
from snapconf.config import load


async def _serve(config: Path, http_port: int, media_port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "snapconf",
        "serve",
        "--config",
        str(config),
        "--http-port",
        str(http_port),
        "--media-port",
        str(media_port),
        "--sip-port",
        "0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{http_port}")
    except TimeoutError:
        process.kill()
        raise
    return process


async def test_a_booking_survives_sigkill_and_restart(tmp_path: Path) -> None:
    db = tmp_path / "snapconf.db"
    config = tmp_path / "snapconf.toml"
    config.write_text(
        f'[store]\npath = "{db}"\n[api]\ntoken_secret = "{SECRET}"\n'
        'dialin_numbers = ["+33 1 89 00 00 00"]\n'
        "[organisers]\ndev_login = true\n"  # signs in with the development sign-in
    )
    http_port, media_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}"
    process = await _serve(config, http_port, media_port)
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(url, session)
            api.token = await api.sign_in("alice@agriculture.gouv.fr")
            start = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
            status, conf = await api.call(
                "POST",
                "/conferences",
                {"title": "Survivante", "start": start, "duration_minutes": 30},
            )
            assert status == 201
        process.send_signal(signal.SIGKILL)
        await process.wait()
        assert process.returncode == -signal.SIGKILL

        process = await _serve(config, http_port, media_port)
        async with aiohttp.ClientSession() as session:
            api = Api(url, session, api.token)  # the same key: the token still works
            status, got = await api.call("GET", f"/conferences/{conf['id']}")
            assert status == 200 and got == conf
        async with Client(url, conf["id"], "Bob", decode=False) as bob:
            assert bob.participant_id
        # the PIN still leads to it
        store = await Store.open(load(str(config), environ={}).store)
        try:
            booking = await store.by_pin(conf["pin"])
            assert booking is not None and booking.id == conf["id"]
        finally:
            await store.close()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
