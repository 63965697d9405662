"""Fixtures shared by the integration tests: a real server on loopback, free ports."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from snapconf.app import Server
from snapconf.config import Config, apply


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    """Start in-process servers on free ports: ``await make_server(media={"port": 0})``."""
    servers: list[Server] = []

    async def factory(**sections: dict[str, Any]) -> Server:
        config = Config()
        config.http.port = 0
        config.media.port = 0
        apply(config, {"sip": {"port": 0}, **sections}, "test")
        server = Server(config)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[Server]]) -> Server:
    return await make_server()


def base_url(server: Server) -> str:
    return f"http://127.0.0.1:{server.http_port}"


# CI installs every tool the tests need, so there a skipped test means a broken install
# that would otherwise pass unnoticed: with NO_SKIP_TESTS=1, skips fail.
_NO_SKIP = os.environ.get("NO_SKIP_TESTS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if _NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped while NO_SKIP_TESTS=1: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    outcome = yield
    report = outcome.get_result()
    if _NO_SKIP and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped while NO_SKIP_TESTS=1: {report.longrepr}"
