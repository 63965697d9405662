"""G.711 tables against the reference arithmetic, FFmpeg's codec, and a round trip."""

from __future__ import annotations

import av
import numpy as np
import pytest
from av.audio.frame import AudioFrame

from snapconf.media.codecs import G711Decoder, G711Encoder, get_codec
from snapconf.media.codecs.g711 import (
    ALAW_DECODE,
    ALAW_ENCODE,
    ULAW_DECODE,
    ULAW_ENCODE,
    alaw_decode,
    alaw_encode,
    mean_square,
    peak,
    quiet_codes,
    ulaw_decode,
    ulaw_encode,
)

ALL = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def tone(freq: float, rate: int, n: int, amp: float = 10000) -> np.ndarray:
    return np.rint(amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def ffmpeg_encode(codec: str, pcm: np.ndarray) -> bytes:
    ctx = av.CodecContext.create(codec, "w")
    ctx.sample_rate = 8000
    ctx.layout = "mono"
    ctx.format = "s16"
    ctx.open()
    frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    return b"".join(bytes(p) for p in ctx.encode(frame))


def test_known_values() -> None:
    # ITU-T G.711: 0 -> 0xFF (mu) and 0xD5 (A); extremes map to the end codes
    assert ulaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == b"\xff\x80\x00"
    assert alaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == b"\xd5\xaa\x2a"
    assert ulaw_decode(b"\xff\x80\x00").tolist() == [0, 32124, -32124]
    assert alaw_decode(b"\xd5\xaa\x2a").tolist() == [8, 32256, -32256]


@pytest.mark.parametrize(("law", "ffmpeg"), [("PCMU", "pcm_mulaw"), ("PCMA", "pcm_alaw")])
def test_decode_table_matches_ffmpeg(law: str, ffmpeg: str) -> None:
    ctx = av.CodecContext.create(ffmpeg, "r")
    ctx.sample_rate = 8000
    ctx.layout = "mono"
    frames = ctx.decode(av.Packet(bytes(range(256))))
    expected = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    table = ULAW_DECODE if law == "PCMU" else ALAW_DECODE
    assert np.array_equal(table, expected)


@pytest.mark.parametrize(("law", "ffmpeg"), [("PCMU", "pcm_mulaw"), ("PCMA", "pcm_alaw")])
def test_encode_table_agrees_with_ffmpeg(law: str, ffmpeg: str) -> None:
    ours = np.frombuffer(
        (ULAW_ENCODE if law == "PCMU" else ALAW_ENCODE)[ALL.view(np.uint16)], np.uint8
    )
    theirs = np.frombuffer(ffmpeg_encode(ffmpeg, ALL), np.uint8)
    # both quantise to the same step; they may differ only on exact decision boundaries
    decode = ULAW_DECODE if law == "PCMU" else ALAW_DECODE
    diff = np.abs(decode[ours].astype(np.int32) - decode[theirs].astype(np.int32))
    step = np.abs(np.diff(np.sort(decode.astype(np.int32)))).max()
    assert diff.max() <= step
    assert np.count_nonzero(ours != theirs) < 0.02 * len(ALL)


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_encode_is_monotonic_and_decode_inverts_codes(law: str) -> None:
    enc = ULAW_ENCODE if law == "PCMU" else ALAW_ENCODE
    dec = ULAW_DECODE if law == "PCMU" else ALAW_DECODE
    decoded = dec[enc[ALL.view(np.uint16)]].astype(np.int32)
    assert np.all(np.diff(decoded) >= 0)  # quantisation never reorders samples
    assert len(np.unique(decoded)) == (255 if law == "PCMU" else 256)  # mu-law has two zeros
    codes = np.arange(256, dtype=np.uint8)
    again = enc[dec.view(np.uint16)]
    if law == "PCMU":  # -0 (0x7F) re-encodes as +0 (0xFF)
        codes[0x7F] = 0xFF
    assert np.array_equal(again, codes)


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_round_trip_tone(law: str) -> None:
    spec = get_codec(law)
    enc, dec = spec.new_encoder(), spec.new_decoder()
    x = tone(1000, 8000, 160)
    payload = enc.encode(x)
    assert len(payload) == 160
    y = dec.decode(payload, 160)
    assert y.dtype == np.int16
    err = np.abs(y.astype(np.int32) - x)
    assert err.max() <= np.abs(x.astype(np.int32)).max() // 16 + 16  # ~4 bits of mantissa
    snr = 10 * np.log10(np.sum(x.astype(float) ** 2) / np.sum(err.astype(float) ** 2))
    assert snr > 30


def test_concealment_fades_to_silence() -> None:
    dec = G711Decoder("PCMU", fade_ms=40)
    x = tone(400, 8000, 160)
    dec.decode(ulaw_encode(x), 160)
    first = dec.decode(None, 160)
    second = dec.decode(None, 160)
    third = dec.decode(None, 160)
    assert len(first) == len(second) == len(third) == 160
    assert np.abs(first[:10]).max() > 0.9 * np.abs(x[:10]).max()  # starts where speech was
    assert np.abs(first[-20:]).max() < 0.6 * np.abs(x).max()  # half faded after 20 ms
    assert np.abs(second).max() < 0.55 * np.abs(x).max()
    assert not third.any()  # silent after 40 ms
    # a good frame restores full level immediately
    assert np.abs(dec.decode(ulaw_encode(x), 160)).max() > 9000


def test_invalid_input() -> None:
    with pytest.raises(ValueError, match=r"^G.711 law must be 'PCMU' or 'PCMA', got 'mu'$"):
        G711Encoder("mu")
    with pytest.raises(ValueError, match=r"^pcm dtype is float64, expected int16$"):
        G711Encoder("PCMA").encode(np.zeros(160))
    with pytest.raises(ValueError, match=r"^pcm has 2 dimensions, expected 1$"):
        G711Encoder("PCMA").encode(np.zeros((1, 160), dtype=np.int16))
    with pytest.raises(ValueError, match=r"^G.711 payload is empty$"):
        G711Decoder("PCMU").decode(b"", 160)
    with pytest.raises(
        ValueError, match=r"^G.711 payload of 200 samples exceeds the output buffer$"
    ):
        G711Decoder("PCMU").decode_into(b"\x00" * 200, np.empty(160, dtype=np.int16))


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_peak_and_quiet_codes_without_decoding(law: str) -> None:
    rng = np.random.default_rng(3)
    enc, dec = G711Encoder(law), G711Decoder(law)
    for scale in (0, 3, 30, 300, 3000, 30000):
        x = np.clip(rng.normal(0, scale + 1e-9, 160), -32768, 32767).astype(np.int16)
        payload = enc.encode(x)
        true_peak = int(np.abs(dec.decode(payload, 160).astype(np.int32)).max())
        assert dec.peak(payload) == peak(payload, law) == true_peak
        quiet = quiet_codes(law, 100)
        assert (not payload.translate(None, quiet)) == (true_peak <= 100)
        decoded = dec.decode(payload, 160).astype(np.float64)
        assert mean_square(payload, law) == pytest.approx(np.mean(decoded**2))
