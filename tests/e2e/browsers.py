"""The same room-page scenario in Chromium and in Firefox.

* Chromium: Debian's ``chromium`` driven by Playwright (as tests/e2e/test_browser_room.py).
* Firefox: Debian's ``firefox-esr`` driven by puppeteer-core over WebDriver BiDi, in a Node
  process (tests/e2e/firefox/driver.mjs) that this module talks to with one JSON object
  a line on its stdin and stdout. Playwright cannot download its own Firefox build here.

Firefox pairs no loopback candidates (``media.peerconnection.ice.loopback`` does not bring
them back in Firefox ESR 153), so a server announcing 127.0.0.1 never gets its checks.
:func:`media_namespace` gives the tests a network namespace of their own, with lo and
one veth pair whose first end has :data:`MEDIA_ADDRESS`: the server's media socket
listens there, the pages load from 127.0.0.1 (a secure context), and nothing can leave
the namespace (its default route points at an address nobody has).

Both give a :class:`Page` with ``goto``, ``evaluate(fn, arg)``, ``wait_for(fn, arg)``,
``screenshot`` and ``close``, where ``fn`` is the source of a JavaScript function of one
argument. :class:`RoomPage` builds what the tests need on that alone (the room page
exposes its state as ``window.snapconf``, see src/snapconf/web/static/room.js), so a
scenario is written once and run in each browser. Every wait is bounded; consoles, the
driver's stderr and the server log are kept for failure reports.

A test module serves its pages from :func:`module_server` (in the namespace, with join
tokens if asked: :meth:`Server.join_url`) and takes the ``pages``, ``fox`` and ``chrome``
fixtures of tests/e2e/conftest.py; :class:`Pages` joins pages and prints them if the test
fails; :data:`needs_chromium` and :data:`needs_firefox` skip what this machine cannot run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("SNAPCONF_CHROMIUM", "/usr/bin/chromium")
FIREFOX = os.environ.get("SNAPCONF_FIREFOX", "/usr/bin/firefox-esr")
FIREFOX_DRIVER = HERE / "firefox" / "driver.mjs"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 20_000
#: the media address inside the tests' network namespace (RFC 2544's benchmarking range)
MEDIA_ADDRESS = "198.18.0.1"
#: where an impairment relay (tests/support/netrelay.py) listens in that namespace
RELAY_ADDRESS = "198.18.0.3"
#: the join tokens' secret of a :class:`Server` that asks for them
JOIN_SECRET = "a-join-secret-for-e2e-tests-0123456789abcdef"
_CLONE_NEWNET = 0x40000000


def chromium_args(camera: Path | None = None, fake_device: str = "") -> list[str]:
    """:data:`CHROMIUM_ARGS`, the fake camera playing ``camera`` (a ``.y4m``) if given."""
    fake = "--use-fake-device-for-media-stream"
    out = [a for a in CHROMIUM_ARGS if a != fake]
    out.append(f"{fake}={fake_device}" if fake_device else fake)
    if camera is not None:
        out.append(f"--use-file-for-fake-video-capture={camera}")
    return out


def chromium_missing() -> str | None:
    """Why the Chromium tests cannot run here, or None."""
    if not shutil.which(CHROMIUM):
        return f"{CHROMIUM} is not installed"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


def firefox_missing() -> str | None:
    """Why the Firefox tests cannot run here, or None."""
    if not shutil.which(FIREFOX):
        return f"{FIREFOX} is not installed (apt-get install firefox-esr)"
    if not shutil.which("node"):
        return "node is not installed"
    if not (HERE / "firefox" / "node_modules" / "puppeteer-core").is_dir():
        return "puppeteer-core is not installed (npm ci --prefix tests/e2e/firefox)"
    return None


# ---------------------------------------------------------------------------- network


def namespace_missing() -> str | None:
    """Why :func:`media_namespace` cannot work here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    return None


#: skip marks: the test needs Chromium; Firefox, with a network namespace to reach media
needs_chromium = pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
needs_firefox = pytest.mark.skipif(
    (firefox_missing() or namespace_missing()) is not None,
    reason=str(firefox_missing() or namespace_missing()),
)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def media_namespace(extra_addresses: tuple[str, ...] = ()) -> Iterator[str]:
    """Move this thread into a new network namespace with :data:`MEDIA_ADDRESS`; yield it.

    Processes started meanwhile (the server, the browsers) are in it too, and so are the
    sockets this thread opens. ``extra_addresses`` are more addresses of the same link
    (e.g. :data:`RELAY_ADDRESS`). On exit the thread goes back and the namespace is deleted.
    """
    name = f"snapconf-e2e-{os.getpid()}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "media0", "type", "veth", "peer", "name", "media1")
        for address in (MEDIA_ADDRESS, *extra_addresses):
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", "media0")
        _ip("-n", name, "link", "set", "media0", "up")
        _ip("-n", name, "link", "set", "media1", "up")
        # browsers want a default route; this one leads to no host and out of nowhere
        _ip("-n", name, "route", "add", "default", "via", "198.18.0.2", "dev", "media0")
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/self/ns/net") as home, open(f"/run/netns/{name}") as netns:
            if libc.setns(netns.fileno(), _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the test namespace failed")
            try:
                yield MEDIA_ADDRESS
            finally:
                if libc.setns(home.fileno(), _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back failed")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


# ---------------------------------------------------------------------------- server


#: the tests' own variables, which the server would refuse as unknown configuration
TEST_VARIABLES = {
    "SNAPCONF_SCREENSHOTS",
    "SNAPCONF_E2E_SCREENSHOT_DIR",
    "SNAPCONF_CHROMIUM",
    "SNAPCONF_FIREFOX",
    "SNAPCONF_FIREFOX_PROFILE",
    "SNAPCONF_FIREFOX_PREFS",
}


def server_environment() -> dict[str, str]:
    """This process's environment without the tests' own ``SNAPCONF_`` variables."""
    return {k: v for k, v in os.environ.items() if k not in TEST_VARIABLES}


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``snapconf serve`` as a subprocess on free ports, its output in a log file.

    HTTP is on 127.0.0.1; media on ``media_address`` (127.0.0.1 by default). ``config``
    is more of the TOML configuration file, for sections other than http and media.
    ``announced``, when given, is the address written in the ICE candidates instead (e.g.
    the impairment relay's, tests/support/netrelay.py, on the same port). ``join_secret``,
    when given, is the secret of the join tokens the server asks for (:meth:`join_url`).
    """

    def __init__(
        self,
        log_path: Path,
        media_address: str = "127.0.0.1",
        config: str = "",
        announced: str | None = None,
        join_secret: str = "",
    ) -> None:
        self.http_port = _free_port(socket.SOCK_STREAM)
        self.media_port = _free_port(socket.SOCK_DGRAM)
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.media_address = media_address
        self.log_path = log_path
        self.join_secret = join_secret
        if join_secret:
            config += f'[auth]\njwt_secret = "{join_secret}"\n'
        config_path = log_path.with_suffix(".toml")
        media = f'listen = ["{media_address}"]\n'
        if announced is not None:
            media += f'announced = ["{announced}"]\n'
        config_path.write_text(f'[http]\nhost = "127.0.0.1"\n[media]\n{media}{config}')
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "snapconf",
                    "serve",
                    "--config",
                    str(config_path),
                    "--http-port",
                    str(self.http_port),
                    "--media-port",
                    str(self.media_port),
                    "--sip-port",
                    "0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_environment(),
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /healthz within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, room: str) -> str:
        return f"{self.base_url}/{room}"

    def join_url(self, room: str, role: str = "participant") -> str:
        """The room's address, with a join token of ``role`` if the server asks for one."""
        if not self.join_secret:
            return self.url(room)
        return f"{self.url(room)}?token={join_token(room, role, self.join_secret)}"

    def drops(self) -> dict[str, int]:
        """``snapconf_media_dropped_total`` by reason, from /metrics."""
        with urllib.request.urlopen(f"{self.base_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        out: dict[str, int] = {}
        prefix = 'snapconf_media_dropped_total{reason="'
        for line in text.splitlines():
            if line.startswith(prefix):
                reason, _, value = line[len(prefix) :].partition('"} ')
                out[reason] = int(float(value))
        return out


def join_token(room: str, role: str = "participant", secret: str = JOIN_SECRET) -> str:
    """A join token for ``room`` as ``role`` (docs/auth.md), valid for an hour."""
    import jwt

    claims = {"room": room, "exp": time.time() + 3600, "role": role}
    return jwt.encode(claims, secret, algorithm="HS256")


@contextlib.contextmanager
def module_server(
    tmp_path_factory: pytest.TempPathFactory, config: str = "", join_secret: str = ""
) -> Iterator[Server]:
    """A :class:`Server` that Firefox can reach: in a :func:`media_namespace` (when this
    machine can make one), ready; stopped on exit. For a module-scoped ``server`` fixture.
    """
    with contextlib.ExitStack() as stack:
        media_address = "127.0.0.1"
        if namespace_missing() is None:
            media_address = stack.enter_context(media_namespace())
        srv = Server(
            tmp_path_factory.mktemp("server") / "server.log",
            media_address,
            config=config,
            join_secret=join_secret,
        )
        stack.callback(srv.stop)
        try:
            srv.wait_ready()
        except RuntimeError:
            print(f"----- snapconf server log -----\n{srv.log()}")
            raise
        yield srv


# ---------------------------------------------------------------------------- pages


class Page(Protocol):
    name: str
    console: list[str]

    async def goto(self, url: str) -> None: ...

    async def evaluate(self, fn: str, arg: Any = None) -> Any: ...

    async def wait_for(self, fn: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> Any: ...

    async def screenshot(self, path: str) -> None: ...

    async def close(self) -> None: ...


class Browser(Protocol):
    kind: str

    async def new_page(self, name: str) -> Page: ...

    def dump(self) -> str: ...

    async def close(self) -> None: ...


class WaitTimeout(AssertionError):
    """A bounded wait in a page ran out."""


class ChromiumPage:
    def __init__(self, name: str, context: Any, page: Any) -> None:
        self.name = name
        self.context = context
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    async def goto(self, url: str) -> None:
        await self.page.goto(url)

    async def evaluate(self, fn: str, arg: Any = None) -> Any:
        return await self.page.evaluate(fn, arg)

    async def wait_for(self, fn: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> Any:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            handle = await self.page.wait_for_function(fn, arg=arg, timeout=timeout_ms, polling=200)
        except PlaywrightTimeout:
            raise WaitTimeout(f"{self.name}: {fn} not true within {timeout_ms} ms") from None
        return await handle.json_value()

    async def screenshot(self, path: str) -> None:
        await self.page.screenshot(path=path)

    async def close(self) -> None:
        await self.page.close(run_before_unload=True)
        await self.context.close()


class ChromiumBrowser:
    """One headless Chromium; every page gets a context of its own.

    ``camera``: a ``.y4m`` file the fake camera plays (tests/support/y4m.py) instead of
    Chromium's own pattern; ``fake_device``: the fake device's settings (e.g. ``"fps=15"``,
    fewer frames to encode on a small machine); ``viewport``: the pages' size.
    """

    kind = "chromium"

    def __init__(
        self,
        camera: Path | None = None,
        fake_device: str = "",
        viewport: tuple[int, int] = (1000, 700),
        args: tuple[str, ...] = (),
    ) -> None:
        self._playwright: Any = None
        self._browser: Any = None
        self.viewport = viewport
        self.args = chromium_args(camera, fake_device) + list(args)
        #: the pages' language (the room page is French unless the browser is not)
        self.locale = "fr-FR"

    async def start(self) -> ChromiumBrowser:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        self._browser = await self._playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=self.args
        )
        return self

    async def new_page(self, name: str) -> Page:
        width, height = self.viewport
        context = await self._browser.new_context(
            viewport={"width": width, "height": height}, locale=self.locale
        )
        return ChromiumPage(name, context, await context.new_page())

    def dump(self) -> str:
        return ""

    async def close(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()


class DriverError(RuntimeError):
    """The Firefox driver answered a request with an error."""


class FirefoxPage:
    def __init__(self, name: str, browser: FirefoxBrowser, page_id: str) -> None:
        self.name = name
        self.browser = browser
        self.page_id = page_id
        self.console: list[str] = []

    async def goto(self, url: str) -> None:
        await self.browser.call("goto", page=self.page_id, url=url)

    async def evaluate(self, fn: str, arg: Any = None) -> Any:
        return await self.browser.call("evaluate", page=self.page_id, fn=fn, args=[arg])

    async def wait_for(self, fn: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> Any:
        try:
            return await self.browser.call(
                "waitFor",
                page=self.page_id,
                fn=fn,
                args=[arg],
                timeout=timeout_ms,
                deadline=timeout_ms / 1000 + 10,
            )
        except DriverError as exc:
            if "Timed out" in str(exc) or "TimeoutError" in str(exc):
                raise WaitTimeout(f"{self.name}: {fn} not true within {timeout_ms} ms") from None
            raise

    async def screenshot(self, path: str) -> None:
        await self.browser.call("screenshot", page=self.page_id, path=path)

    async def close(self) -> None:
        await self.browser.call("closePage", page=self.page_id)


class FirefoxBrowser:
    """One firefox-esr, headless, behind the Node driver process."""

    kind = "firefox"

    def __init__(self, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self.profile = stderr_path.parent / "firefox-profile"
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._pages: dict[str, FirefoxPage] = {}
        self._next_id = 1
        self._ready: asyncio.Future[str] | None = None
        self.version = ""

    async def start(self, timeout: float = 60.0) -> FirefoxBrowser:
        self.profile.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        with self.stderr_path.open("wb") as stderr:
            self._process = await asyncio.create_subprocess_exec(
                "node",
                str(FIREFOX_DRIVER),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env={
                    **os.environ,
                    "SNAPCONF_FIREFOX": FIREFOX,
                    "SNAPCONF_FIREFOX_PROFILE": str(self.profile),
                },
                limit=16 * 1024 * 1024,
            )
        self._reader = asyncio.create_task(self._read())
        try:
            self.version = await asyncio.wait_for(self._ready, timeout)
        except TimeoutError:
            await self.close()
            raise RuntimeError(
                f"Firefox did not start within {timeout} s:\n{self.dump()}"
            ) from None
        return self

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while True:
            line = await self._process.stdout.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "id" in msg:
                future = self._pending.pop(msg["id"], None)
                if future is not None and not future.done():
                    if msg.get("ok"):
                        future.set_result(msg.get("result"))
                    else:
                        future.set_exception(DriverError(str(msg.get("error"))))
            elif msg.get("event") == "console":
                page = self._pages.get(msg.get("page", ""))
                if page is not None:
                    page.console.append(str(msg.get("text")))
            elif msg.get("event") == "ready" and self._ready and not self._ready.done():
                self._ready.set_result(str(msg.get("version", "")))
        failure = DriverError(f"the Firefox driver exited:\n{self.dump()}")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(failure)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(failure)
        self._pending.clear()

    async def call(self, cmd: str, *, deadline: float = 60.0, **fields: Any) -> Any:
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise DriverError(f"the Firefox driver is not running:\n{self.dump()}")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        process.stdin.write(json.dumps({"id": request_id, "cmd": cmd, **fields}).encode() + b"\n")
        await process.stdin.drain()
        try:
            return await asyncio.wait_for(future, deadline)
        except TimeoutError:
            raise DriverError(f"the Firefox driver did not answer {cmd} in {deadline} s") from None
        finally:
            self._pending.pop(request_id, None)

    async def new_page(self, name: str) -> Page:
        page_id = str(await self.call("newPage"))
        page = FirefoxPage(name, self, page_id)
        self._pages[page_id] = page
        return page

    def dump(self) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            text = ""
        return f"----- Firefox driver stderr ({self.version}) -----\n{text[-20000:]}"

    async def close(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.returncode is None:
            with contextlib.suppress(Exception):
                assert process.stdin is not None
                process.stdin.write(b'{"id": 0, "cmd": "close"}\n')
                await process.stdin.drain()
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@contextlib.asynccontextmanager
async def launch(kind: str, tmp_path: Path) -> AsyncIterator[Browser]:
    """A started browser of ``kind`` ("chromium" or "firefox"), closed on exit."""
    browser: ChromiumBrowser | FirefoxBrowser
    if kind == "chromium":
        browser = ChromiumBrowser()
    else:
        browser = FirefoxBrowser(tmp_path / "firefox-driver.log")
    await browser.start()
    try:
        yield browser
    finally:
        await browser.close()


# ---------------------------------------------------------------------------- room pages

#: receiver stats of the remote tracks of one participant and kind (RTCRtpReceiver.getStats)
_RECEIVED_JS = """async ({participantId, kind}) => {
    const pc = window.snapconf.pc.recv;
    const out = {tracks: 0, packets: 0, frames: 0, samples: 0, width: 0};
    if (!pc) return out;
    const mids = Object.entries(window.snapconf.state.recvTracks)
        .filter(([, t]) => t.participantId === participantId && t.kind === kind)
        .map(([mid]) => mid);
    for (const transceiver of pc.getTransceivers()) {
        if (!mids.includes(transceiver.mid)) continue;
        const dir = transceiver.currentDirection;
        if (dir !== 'recvonly' && dir !== 'sendrecv') continue;
        out.tracks += 1;
        (await transceiver.receiver.getStats()).forEach(r => {
            if (r.type !== 'inbound-rtp') return;
            out.packets += r.packetsReceived || 0;
            out.frames += r.framesDecoded || 0;
            out.samples += r.totalSamplesReceived || 0;
            out.width = Math.max(out.width, r.frameWidth || 0);
        });
    }
    return out;
}"""

_MIX_JS = """async () => {
    const pc = window.snapconf.pc.recv;
    const out = {tracks: 0, packets: 0, samples: 0};
    if (!pc) return out;
    const mids = Object.entries(window.snapconf.state.recvTracks)
        .filter(([, t]) => t.source === 'mix').map(([mid]) => mid);
    for (const transceiver of pc.getTransceivers()) {
        if (!mids.includes(transceiver.mid)) continue;
        const dir = transceiver.currentDirection;
        if (dir !== 'recvonly' && dir !== 'sendrecv') continue;
        out.tracks += 1;
        (await transceiver.receiver.getStats()).forEach(r => {
            if (r.type !== 'inbound-rtp') return;
            out.packets += r.packetsReceived || 0;
            out.samples += r.totalSamplesReceived || 0;
        });
    }
    return out;
}"""


#: what a page's connections carry (the selected candidate pair of each, with its local
#: address, which is the peer address the impairment relay sees) and, per remote track,
#: the receiver's inbound-rtp figures (W3C webrtc-stats §8.2 RTCInboundRtpStreamStats)
_NETWORK_JS = """async () => {
    const S = window.snapconf;
    const out = {send: {}, recv: {}, tracks: []};
    const pairOf = report => {
        let transport = null;
        let pair = null;
        report.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) transport = r; });
        if (transport) pair = report.get(transport.selectedCandidatePairId);
        // Firefox has no transport stats: its selected pair says so itself
        else report.forEach(r => { if (r.type === 'candidate-pair' && r.selected) pair = r; });
        if (!pair) return {};
        const local = report.get(pair.localCandidateId) || {};
        return {localAddress: local.address || '', localPort: local.port || 0,
                availableOutgoingBitrate: pair.availableOutgoingBitrate || 0,
                availableIncomingBitrate: pair.availableIncomingBitrate || 0,
                bytesSent: pair.bytesSent || 0, bytesReceived: pair.bytesReceived || 0,
                rtt: pair.currentRoundTripTime || 0};
    };
    for (const which of ['send', 'recv']) {
        const pc = S.pc[which];
        if (pc) out[which] = pairOf(await pc.getStats());
    }
    const pc = S.pc.recv;
    if (!pc) return out;
    for (const transceiver of pc.getTransceivers()) {
        const info = S.state.recvTracks[transceiver.mid];
        const dir = transceiver.currentDirection;
        if (!info || (dir !== 'recvonly' && dir !== 'sendrecv')) continue;
        (await transceiver.receiver.getStats()).forEach(r => {
            if (r.type !== 'inbound-rtp') return;
            out.tracks.push({participantId: info.participantId, trackId: info.trackId,
                kind: r.kind, source: info.source, bytes: r.bytesReceived || 0,
                packets: r.packetsReceived || 0, lost: r.packetsLost || 0,
                nacks: r.nackCount || 0, plis: r.pliCount || 0,
                retransmitted: r.retransmittedPacketsReceived || 0,
                frames: r.framesDecoded || 0, width: r.frameWidth || 0,
                height: r.frameHeight || 0, freezes: r.freezeCount || 0,
                samples: r.totalSamplesReceived || 0});
        });
    }
    return out;
}"""


#: asks the server for its ``stats`` on the page's own socket, as the page's requests do
_SERVER_STATS_JS = """() => new Promise((resolve, reject) => {
    const S = window.snapconf.state;
    const id = S.nextId++;
    S.pending.set(id, {resolve, reject});
    S.ws.send(JSON.stringify({type: 'getStats', id}));
    setTimeout(() => reject(new Error('no stats answer in 5 s')), 5000);
})"""


class RoomPage:
    """A room page in either browser, joined under ``name``."""

    def __init__(self, page: Page, kind: str) -> None:
        self.page = page
        self.kind = kind
        self.name = page.name
        self.participant_id = ""

    @classmethod
    async def open(
        cls, browser: Browser, server: Server, room: str, name: str, role: str = "participant"
    ) -> RoomPage:
        """A new page of ``browser`` that asked to join ``room`` as ``name`` (it may be held
        in the waiting room, or refused); ``role`` is its token's, if the server asks for one.
        """
        page = await browser.new_page(name)
        rp = cls(page, browser.kind)
        await page.goto(server.join_url(room, role))
        await rp.ask_to_join(name)
        return rp

    @classmethod
    async def join(
        cls, browser: Browser, server: Server, room: str, name: str, role: str = "participant"
    ) -> RoomPage:
        """As :meth:`open`, once the page is in the meeting."""
        rp = await cls.open(browser, server, room, name, role)
        await rp.joined()
        return rp

    async def ask_to_join(self, name: str) -> None:
        """Fill in the name and press the join button (the pre-join screen is shown)."""
        await self.page.evaluate(
            """name => {
                document.querySelector('#display-name').value = name;
                document.querySelector('#join-button').click();
            }""",
            name,
        )

    async def joined(self) -> str:
        """Wait until the page is in the meeting; its participant id."""
        self.participant_id = await self.page.wait_for("() => window.snapconf.participantId")
        return self.participant_id

    def dump(self) -> str:
        return f"----- console of {self.name} ({self.kind}, {self.participant_id}) -----\n" + (
            "\n".join(self.page.console)
        )

    async def errors(self) -> str:
        text: str = await self.page.evaluate("() => document.querySelector('#errors').innerText")
        return text

    async def click(self, selector: str) -> None:
        await self.page.evaluate("sel => document.querySelector(sel).click()", selector)

    async def received(self, participant_id: str, kind: str) -> dict[str, int]:
        figures: dict[str, int] = await self.page.evaluate(
            _RECEIVED_JS, {"participantId": participant_id, "kind": kind}
        )
        return figures

    async def network(self) -> dict[str, Any]:
        """Both connections' selected pairs and every remote track's inbound figures."""
        figures: dict[str, Any] = await self.page.evaluate(_NETWORK_JS)
        return figures

    async def server_stats(self) -> dict[str, Any]:
        """The server's signaling ``stats`` answer to this page (docs/signaling.md)."""
        figures: dict[str, Any] = await self.page.evaluate(_SERVER_STATS_JS)
        return figures

    async def mix_received(self) -> dict[str, int]:
        figures: dict[str, int] = await self.page.evaluate(_MIX_JS)
        return figures

    async def _stats_for_failure(self) -> str:
        """The server's view of this page, compact, for an assertion message."""
        try:
            return json.dumps(await self.server_stats(), separators=(",", ":"))
        except Exception as error:  # the page may be gone: the message still helps
            return f"unavailable ({error!r})"

    async def _growing(
        self,
        what: str,
        read: Callable[[], Awaitable[dict[str, int]]],
        key: str,
        minimum: int,
    ) -> dict[str, int]:
        deadline = time.monotonic() + WAIT_MS / 1000
        first = await read()
        while first[key] == 0:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} ({self.kind}): no {what} within {WAIT_MS} ms: {first};"
                    f" errors shown: {await self.errors()!r};"
                    f" server stats: {await self._stats_for_failure()}"
                )
            await asyncio.sleep(0.5)
            first = await read()
        while True:
            await asyncio.sleep(1)
            now = await read()
            if now[key] - first[key] >= minimum:
                return now
            if time.monotonic() > deadline + 5:
                raise AssertionError(
                    f"{self.name} ({self.kind}): {what} stalled: {first} -> {now};"
                    f" errors shown: {await self.errors()!r};"
                    f" server stats: {await self._stats_for_failure()}"
                )

    async def decodes_video_of(self, participant_id: str, frames: int = 10) -> dict[str, int]:
        """Wait until video frames of ``participant_id`` are decoded, and more keep coming."""
        return await self._growing(
            f"video frames from {participant_id}",
            lambda: self.received(participant_id, "video"),
            "frames",
            frames,
        )

    async def decodes_audio_of(self, participant_id: str, packets: int = 20) -> dict[str, int]:
        """Wait until audio of ``participant_id`` arrives and is decoded (samples grow)."""
        figures = await self._growing(
            f"audio from {participant_id}",
            lambda: self.received(participant_id, "audio"),
            "packets",
            packets,
        )
        assert figures["samples"] > 0, f"{self.name}: audio packets but no samples: {figures}"
        return figures

    async def decodes_mix(self, packets: int = 20) -> dict[str, int]:
        return await self._growing("mixed audio", self.mix_received, "packets", packets)


class Pages:
    """The room pages and browsers of one test (the ``pages`` fixture, tests/e2e/conftest.py),
    their consoles and the drivers' logs printed if it fails."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.pages: list[RoomPage] = []
        self.browsers: list[Browser] = []

    async def open(
        self, browser: Browser, room: str, name: str, role: str = "participant"
    ) -> RoomPage:
        """:meth:`RoomPage.open` on this test's server."""
        page = await RoomPage.open(browser, self.server, room, name, role)
        self.pages.append(page)
        return page

    async def join(
        self, browser: Browser, room: str, name: str, role: str = "participant"
    ) -> RoomPage:
        """:meth:`RoomPage.join` on this test's server."""
        page = await self.open(browser, room, name, role)
        await page.joined()
        return page

    def dump(self) -> str:
        return "\n".join([p.dump() for p in self.pages] + [b.dump() for b in self.browsers])
