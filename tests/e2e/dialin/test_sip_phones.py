"""Real softphones in one conference through the gateway and the audio mixer.

baresip (``ctrl_tcp`` to dial, send DTMF and hang up; ``aufile`` plays a tone as the
microphone; ``sndfile`` records what it hears) and linphonec (``soundcard use files``, ``play``
and ``record``; digits typed on its stdin). Each phone sends its own tone; each recording must
hold the other phone's tone and not its own (the mixer's mix-minus). Both binaries are
required (Debian ``baresip`` and ``linphone-cli``): the test fails, not skips, when one is
missing. test_sip_phones_and_browser.py adds a browser, with the server's real bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from tests.support.dialin import MixerBridge

from snapconf.dialin.config import SipConfig
from snapconf.dialin.directory import StaticConferenceDirectory
from snapconf.dialin.gateway import SipGateway

pytestmark = pytest.mark.e2e

PIN = "4242"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_even_range(size: int) -> tuple[int, int]:
    while True:
        low = random.randrange(30000, 60000 - size, 2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", low))
            except OSError:
                continue
        return low, low + size - 1


def write_tone(path: Path, freq: float, seconds: float, rate: int = 8000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (9000 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() == 2:
            data = data[::2]
    return data.astype(np.float64), rate


def band_db(pcm: np.ndarray, rate: int, freq: float) -> float:
    """Power in a 60 Hz band around ``freq`` relative to the whole spectrum, in dB."""
    x = pcm * np.hanning(len(pcm))
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = spec[(freqs > freq - 30) & (freqs < freq + 30)].sum()
    return float(10 * np.log10(band / spec.sum() + 1e-12))


class Baresip:
    """One baresip process with its own config directory, driven over ctrl_tcp."""

    def __init__(self, workdir: Path, name: str, tone_hz: float, ptime: int | None = None) -> None:
        self.dir = workdir / name
        self.dir.mkdir()
        self.name = name
        self.tone_hz = tone_hz
        #: the packet time baresip sends and asks for (its a=ptime), if not its default
        self.ptime = ptime
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        self.proc: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.log: BinaryIO | None = None

    async def start(self) -> None:
        binary = shutil.which("baresip")
        if binary is None:
            pytest.fail("baresip is required: apt-get install baresip")
        write_tone(self.dir / "tone.wav", self.tone_hz, 60)
        low, high = free_even_range(20)
        (self.dir / "config").write_text(
            f"sip_listen 127.0.0.1:{free_port()}\n"
            "audio_player aubridge,nowhere\n"
            f"audio_source aufile,{self.dir / 'tone.wav'}\n"
            "audio_alert aubridge,nowhere\n"
            "module_path /usr/lib/baresip/modules\n"
            "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
            "module ctrl_tcp.so\nmodule_app account.so\nmodule_app menu.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}\n"
            f"snd_path {self.dir}\n"
            "net_prefer_ipv6 no\n"
            f"rtp_ports {low}-{high}\n"
        )
        ptime = f";ptime={self.ptime}" if self.ptime else ""
        (self.dir / "accounts").write_text(
            f"<sip:{self.name}@127.0.0.1>;regint=0;audio_codecs=PCMU,telephone-event{ptime}\n"
        )
        self.log = (self.dir / "baresip.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            binary, "-f", str(self.dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self.log,
            stderr=asyncio.subprocess.STDOUT,
        )
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while True:
            try:
                _, self.writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                return
            except OSError:
                if loop.time() > end:
                    raise
                await asyncio.sleep(0.1)

    async def command(self, command: str, params: str = "") -> None:
        assert self.writer is not None
        data = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.writer.write(str(len(data)).encode() + b":" + data + b",")  # a netstring
        await self.writer.drain()

    async def dial(self, uri: str) -> None:
        await self.command("dial", uri)

    async def dtmf(self, digits: str) -> None:
        for d in digits:
            await self.command("sndcode", d)
            await asyncio.sleep(0.25)

    def recording(self) -> Path:
        found = sorted(self.dir.glob("dump-*-dec.wav"))
        assert found, f"{self.name} recorded nothing: {(self.dir / 'baresip.log').read_text()}"
        return found[-1]

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()  # baresip hangs up (BYE) on SIGTERM
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.log is not None:
            self.log.close()
            self.log = None


class Linphonec:
    """linphonec (Debian ``linphone-cli``) reading commands on stdin: ``soundcard use files``,
    ``play`` a tone as the microphone, ``record`` what it hears. Its rc sets ``use_ipv6=0`` and
    ``ipv6_migration_done=1`` (else it offers IPv6); the SIP port is set with ``ports sip``
    because this build opens no listening point from the rc alone; HOME is a temporary
    directory so its database stays out of the real one."""

    def __init__(self, workdir: Path, name: str, tone_hz: float) -> None:
        self.dir = workdir / name
        self.dir.mkdir()
        self.name = name
        self.tone_hz = tone_hz
        self.proc: asyncio.subprocess.Process | None = None
        self.log: BinaryIO | None = None

    async def start(self) -> None:
        binary = shutil.which("linphonec")
        if binary is None:
            pytest.fail("linphonec is required: apt-get install linphone-cli")
        write_tone(self.dir / "tone.wav", self.tone_hz, 60, rate=16000)
        low, high = free_even_range(20)
        (self.dir / "home").mkdir()
        (self.dir / "rc").write_text(
            "[sip]\nuse_ipv6=0\nipv6_migration_done=1\nsip_tcp_port=0\nsip_tls_port=0\n"
            f"[rtp]\naudio_rtp_port={low}-{high}\n"
            "[sound]\necho_cancellation=0\n"
            "[video]\ncapture=0\ndisplay=0\nautomatically_initiate=0\n"
            "automatically_accept=0\n"
        )
        self.log = (self.dir / "linphonec.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            binary, "-c", str(self.dir / "rc"),
            stdin=asyncio.subprocess.PIPE, stdout=self.log, stderr=asyncio.subprocess.STDOUT,
            cwd=self.dir, env={**os.environ, "HOME": str(self.dir / "home")},
        )
        await asyncio.sleep(1.0)
        await self.send(f"ports sip {free_port()}")
        await self.send("soundcard use files")
        await self.send(f"play {self.dir / 'tone.wav'}")
        await self.send(f"record {self.dir / 'heard.wav'}")

    async def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        await asyncio.sleep(0.2)

    async def dial(self, uri: str) -> None:
        await self.send(f"call {uri}")

    async def dtmf(self, digits: str) -> None:
        for d in digits:  # a line of DTMF characters is sent as digits during a call
            await self.send(d)
            await asyncio.sleep(0.1)

    def recording(self) -> Path:
        path = self.dir / "heard.wav"
        assert path.exists(), (self.dir / "linphonec.log").read_text(errors="replace")
        return path

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.send("terminate")
                await self.send("quit")
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.log is not None:
            self.log.close()
            self.log = None


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[SipGateway, MixerBridge]]:
    low, high = free_even_range(40)
    cfg = SipConfig(host="127.0.0.1", port=0, ring_time=0.1, rtp_port_min=low,
                    rtp_port_max=high, static_conferences={"alpha": PIN})
    bridge = MixerBridge()
    gw = SipGateway(cfg, StaticConferenceDirectory(cfg.static_conferences), bridge)
    await gw.start()
    await gw.prompts_ready()
    yield gw, bridge
    await gw.close()
    await bridge.close()


async def wait_for_legs(bridge: MixerBridge, n: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while len(bridge.open_legs()) < n:
        assert loop.time() < end, f"only {len(bridge.open_legs())} of {n} phones joined"
        await asyncio.sleep(0.1)


async def wait_prompts_done(gw: SipGateway, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while any(c.prompt_playing for c in gw.calls.values()):
        assert loop.time() < end
        await asyncio.sleep(0.05)


async def test_two_softphones_hear_each_other_not_themselves(
    gateway: tuple[SipGateway, MixerBridge], tmp_path: Path
) -> None:
    gw, bridge = gateway
    uri = f"sip:conf@127.0.0.1:{gw.udp_port}"
    phones: list[Baresip | Linphonec] = [
        Baresip(tmp_path, "baresip", 700.0), Linphonec(tmp_path, "linphonec", 1300.0)
    ]
    try:
        for i, phone in enumerate(phones):
            await phone.start()
            await phone.dial(uri)
            loop = asyncio.get_running_loop()
            end = loop.time() + 10
            while not any(c.state.value == "confirmed" and c.leg is None
                          for c in gw.calls.values()):
                assert loop.time() < end, f"{phone.name}'s call was not answered"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            await phone.dtmf(PIN + "#")
            await wait_for_legs(bridge, i + 1, 10)
        await wait_prompts_done(gw, 10)
        await asyncio.sleep(3.0)  # both talking and listening to the mix
        assert [leg.participant_count for leg in bridge.open_legs()] == [2, 2]
        # baresip offers PCMU only; linphonec offers Opus first: both paths through the mixer
        assert [leg.codec for leg in bridge.open_legs()] == ["PCMU", "opus"]
        for leg in bridge.open_legs():
            assert leg.received > 100
    finally:
        await asyncio.gather(*(phone.stop() for phone in phones))
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while gw.calls:
        assert loop.time() < end, "calls left behind after the phones hung up"
        await asyncio.sleep(0.1)
    assert gw.ports.in_use == set()
    # what each phone recorded is the behaviour; mixer overruns (the softphones share the cores
    # with the mixer) are a cost, measured by benchmarks/mixer.py
    tones = {p.name: p.tone_hz for p in phones}
    for phone in phones:
        pcm, rate = read_wav(phone.recording())
        tail = pcm[-int(2.0 * rate) - int(0.3 * rate) : -int(0.3 * rate)]
        own = band_db(tail, rate, phone.tone_hz)
        for other, hz in tones.items():
            if other != phone.name:
                heard = band_db(tail, rate, hz)
                assert heard > -3, f"{phone.name} does not hear {other}: {heard:.1f} dB"
                assert heard - own > 30, f"{phone.name} hears itself: own {own:.1f} dB"
