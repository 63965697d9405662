"""Malformed input on every channel is dropped and counted while media keeps flowing."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import aiohttp
from aioice import stun as aiostun
from tests.conftest import base_url

from snapconf.client import Client, ColorTrack, ToneTrack
from snapconf.rtp.packet import build_rtp_packet


async def _pair(server) -> tuple[Client, Client]:
    a = Client(base_url(server), "robuste", "alice")
    b = Client(base_url(server), "robuste", "bob")
    for client, freq, rgb in ((a, 440, (200, 0, 0)), (b, 880, (0, 0, 200))):
        await client.join()
        await client.publish([(ToneTrack(freq), "microphone"), (ColorTrack(rgb), "camera")])
    for client in (a, b):
        for _ in range(200):
            tracks = client.received.values()
            if len(tracks) == 2 and all(t.frame_count > 5 for t in tracks):
                break
            await asyncio.sleep(0.05)
    return a, b


def _frames(client: Client) -> dict[str, int]:
    return {mid: t.frame_count for mid, t in client.received.items()}


async def _still_flowing(clients: list[Client], before: list[dict[str, int]]) -> None:
    await asyncio.sleep(1.0)
    for client, counts in zip(clients, before, strict=True):
        assert len(client.received) == 2
        for mid, track in client.received.items():
            assert track.frame_count > counts[mid] + 5, (client.display_name, track.kind)


def _stun_request(username: str, password: str) -> bytes:
    msg = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.REQUEST)
    msg.attributes["USERNAME"] = username
    msg.attributes["PRIORITY"] = 1
    msg.add_message_integrity(password.encode())
    return bytes(msg)


async def test_garbage_stun_and_forged_datagrams_are_counted_and_media_keeps_flowing(server):
    a, b = await _pair(server)
    try:
        before = [_frames(a), _frames(b)]
        media_addr = server.media.local_addresses[0]
        ufrag = next(iter(server.media.by_ufrag))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(2)
        for _ in range(50):
            udp.sendto(os.urandom(200), media_addr)  # random bytes
        udp.sendto(b"\xff\xfe garbage", media_addr)  # unknown first byte
        udp.sendto(b"\x00\x01\x00\x04\x21\x12\xa4\x42" + bytes(12), media_addr)  # bad STUN
        udp.sendto(_stun_request(f"nobody:{ufrag}", "x" * 24), media_addr)  # unknown ufrag
        udp.sendto(_stun_request(f"{ufrag}:cli", "wrong-password-wrong-pwd"), media_addr)
        reply = await asyncio.get_running_loop().run_in_executor(None, udp.recv, 1500)
        error = aiostun.parse_message(reply)  # a 401 answers the wrong password
        assert error.error_code == 401
        udp.sendto(b"\x80\x6f" + os.urandom(100), media_addr)  # SRTP from an unbound address
        udp.sendto(b"\x16\xfe\xfd" + os.urandom(60), media_addr)  # DTLS from an unbound address
        udp.close()
        # from alice's own, ICE-validated address: SRTP with a bad authentication tag, and
        # a correctly protected RTP packet of an SSRC nobody announced
        dtls = a.send_pc.getSenders()[0].transport
        forged = build_rtp_packet(
            payload_type=111, sequence_number=1, timestamp=1, ssrc=0xBAD, payload=b"x" * 40
        ) + bytes(10)
        await dtls.transport._connection.send(forged)
        unknown = build_rtp_packet(
            payload_type=111, sequence_number=1, timestamp=1, ssrc=0x5EC0, payload=b"\xfc\xff\xfe"
        )
        await dtls._send_rtp(unknown)
        await _still_flowing([a, b], before)
        drops = server.media.drops
        for reason in (
            "unknown_protocol",
            "stun_malformed",
            "stun_unknown_ufrag",
            "stun_integrity",
            "unknown_address",
            "srtp_auth",
            "unknown_ssrc",
        ):
            assert drops[reason] >= 1, (reason, dict(drops))
        async with aiohttp.ClientSession() as http, http.get(base_url(server) + "/metrics") as r:
            text = await r.text()
        assert 'snapconf_media_dropped_total{reason="srtp_auth"} 1' in text
        assert 'snapconf_media_dropped_total{reason="stun_integrity"} 1' in text
    finally:
        await a.close()
        await b.close()


async def test_bad_signaling_messages_get_clear_errors_and_media_keeps_flowing(make_server):
    server = await make_server(signaling={"max_message_bytes": 4096})
    a, b = await _pair(server)
    try:
        before = [_frames(a), _frames(b)]
        await a.send_raw("{not json")
        await a.send_raw("[1, 2]")
        await a.send_raw(json.dumps({"type": "dance", "id": 7}))
        await a.send_raw(json.dumps({"type": "mute", "id": 8, "trackId": 5, "muted": True}))
        await a.send_raw(json.dumps({"type": "mute", "id": 9, "trackId": "nope", "muted": True}))
        await a.send_raw(json.dumps({"type": "answer", "id": 10, "sdp": "v=0", "version": 999}))
        await a.send_raw(json.dumps({"type": "publish", "id": 11, "sdp": "v=0\r\nbroken"}))
        await a.wait_for(lambda c: len([e for e in c.events if e.get("type") == "error"]) >= 7)
        errors = [
            (e.get("id"), e["code"], e["message"]) for e in a.events if e.get("type") == "error"
        ]
        codes = [code for _, code, _ in errors]
        assert codes[:2] == ["bad_json", "bad_json"]
        assert (7, "unknown_type", "unknown message type 'dance'") in errors
        assert (8, "bad_message", "trackId is not a string") in errors
        assert (9, "unknown_track", "track nope is not yours") in errors
        assert (10, "stale_answer", "answer to offer 999 is not for the latest offer") in errors
        assert any(i == 11 and code == "bad_sdp" for i, code, _ in errors)
        await _still_flowing([a, b], before)
        # an over-long message is answered, then the sender is disconnected
        await b.send_raw(json.dumps({"type": "ping", "pad": "x" * 5000}))
        await b.wait_for(lambda c: any(e.get("code") == "message_too_large" for e in c.events))
        await b.wait_for(lambda c: any(e.get("type") == "socket-closed" for e in c.events))
        await a.wait_for(lambda c: any(e.get("type") == "participantLeft" for e in c.events))
        assert server.signaling_stats.errors["message_too_large"] == 1
        assert server.signaling_stats.errors["bad_json"] == 2
    finally:
        await a.close()
        await b.close()
