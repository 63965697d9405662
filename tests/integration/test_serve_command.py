"""``python -m snapconf serve`` as a user runs it."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
from tests.conftest import free_port
from tests.support.serve import wait_healthy


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
    http_port, media_port, sip_port = free_port(), free_port(), free_port()
    process = await _start(
        "serve",
        "--http-port",
        str(http_port),
        "--media-port",
        str(media_port),
        "--sip-port",
        str(sip_port),
    )
    try:
        url = f"http://127.0.0.1:{http_port}"
        await wait_healthy(url)
        async with aiohttp.ClientSession() as http:
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
        # the SIP gateway answers a trunk's health check
        assert (await _sip_options(sip_port)).startswith("SIP/2.0 200")
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0
        log = out.decode()
        assert f"127.0.0.1:{media_port}" in log and "shutting down" in log
        assert f"sip: listening on 127.0.0.1:{sip_port}" in log
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


async def _sip_options(port: int) -> str:
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not answer.done():
                answer.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    here = transport.get_extra_info("sockname")[1]
    request = (
        f"OPTIONS sip:conf@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK-serve-test\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1:{here}>;tag=1\r\n"
        f"To: <sip:conf@127.0.0.1:{port}>\r\n"
        "Call-ID: serve-test@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    try:
        transport.sendto(request.encode(), ("127.0.0.1", port))
        return (await asyncio.wait_for(answer, 5)).decode()
    finally:
        transport.close()
