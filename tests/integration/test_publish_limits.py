"""What one participant publishes cannot break the room for the others.

Every receiver maps each distinct codec of the room to a payload type of its own, from a
small pool per kind. Whatever anyone publishes, a newcomer still joins; a publish the room
cannot carry is refused whole with a clear code and changes nothing; a join that fails
leaves no participant behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import base_url

from snapconf.client import Client, SignalingError
from snapconf.conference.participant import Participant

CHROME = (Path(__file__).parents[1] / "data" / "chrome_publish_offer.sdp").read_text()
_SESSION, *_ = CHROME.split("m=audio")
_CREDENTIALS = [
    line
    for line in CHROME.splitlines()
    if line.startswith(("a=ice-ufrag", "a=ice-pwd", "a=fingerprint", "a=setup"))
][:4]


def offer(sections: list[tuple[str, str, str]]) -> str:
    """A browser-like publish offer: one sendonly m-section per (kind, rtpmap, fmtp)."""
    head = [
        line
        for line in _SESSION.strip().splitlines()
        if not line.startswith(("a=group:", "a=msid-semantic"))
    ]
    mids = [str(i) for i in range(len(sections))]
    lines = [*head, "a=group:BUNDLE " + " ".join(mids)]
    for mid, (kind, rtpmap, fmtp) in zip(mids, sections, strict=True):
        ssrc = 1000 + int(mid)
        lines += [
            f"m={kind} 9 UDP/TLS/RTP/SAVPF 100",
            "c=IN IP4 0.0.0.0",
            *_CREDENTIALS,
            f"a=mid:{mid}",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=sendonly",
            "a=rtcp-mux",
            f"a=rtpmap:100 {rtpmap}",
        ]
        if fmtp:
            lines.append(f"a=fmtp:100 {fmtp}")
        lines.append(f"a=ssrc:{ssrc} cname:x{mid}")
    return "\r\n".join(lines) + "\r\n"


def h264(profile: int) -> tuple[str, str, str]:
    return ("video", "H264/90000", f"packetization-mode=1;profile-level-id=42e0{profile:02x}")


OPUS_RATES = (8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000)


async def _publish(client: Client, sdp: str) -> dict[str, Any]:
    return await client.request({"type": "publish", "sdp": sdp})


async def test_after_publishers_offer_eight_opus_clock_rates_a_newcomer_still_joins(server):
    url = base_url(server)
    async with (
        Client(url, "variantes", "Alice", decode=False) as alice,
        Client(url, "variantes", "Carol", decode=False) as carol,
    ):
        for client, rates in ((alice, OPUS_RATES[:4]), (carol, OPUS_RATES[4:])):
            sections = [("audio", f"opus/{rate}/2", "minptime=10") for rate in rates]
            with pytest.raises(SignalingError) as info:
                await _publish(client, offer(sections))
            assert info.value.code == "unsupported_codec"
            assert "48000/2" in info.value.message
        with pytest.raises(SignalingError) as info:  # all eight at once: over the track cap
            await _publish(alice, offer([("audio", f"opus/{r}/2", "") for r in OPUS_RATES]))
        assert info.value.code == "too_many_tracks"
        async with Client(url, "variantes", "Bob", decode=False) as bob:
            assert bob.participant_id is not None
        conference = server.conferences.get("variantes")
        assert conference is not None
        assert sorted(p.display_name for p in conference.participants.values()) == [
            "Alice",
            "Carol",
        ]
        assert not any(p.tracks for p in conference.participants.values())


async def test_the_room_refuses_a_codec_beyond_what_receivers_can_map_and_keeps_the_rest(server):
    url = base_url(server)
    publishers = [Client(url, "profils", f"P{n}", decode=False) for n in range(3)]
    try:
        for client in publishers:
            await client.join()
        # fifteen distinct H.264 profiles in the room: every video payload type a receiver has
        for n, client in enumerate(publishers):
            answer = await _publish(client, offer([h264(5 * n + i) for i in range(5)]))
            assert len(answer["tracks"]) == 5
        conference = server.conferences.get("profils")
        assert conference is not None
        before = {p.id: sorted(p.tracks) for p in conference.participants.values()}
        # one more profile: refused whole, nothing of it applied
        extra = offer([h264(0), h264(1), h264(2), h264(3), h264(4), h264(99)])
        with pytest.raises(SignalingError) as info:
            await _publish(publishers[0], extra)
        assert info.value.code == "unsupported_codec"
        assert {p.id: sorted(p.tracks) for p in conference.participants.values()} == before
        # whatever was published, a newcomer joins and is offered every track
        async with Client(url, "profils", "Newcomer", decode=False) as newcomer:
            await newcomer.wait_for(lambda c: len(c.received) == 15)
            assert newcomer.participant_id in conference.participants
    finally:
        for client in publishers:
            await client.close()


async def test_a_publish_beyond_the_track_cap_is_refused_and_the_earlier_tracks_stay(server):
    url = base_url(server)
    async with Client(url, "pistes", "Alice", decode=False) as alice:
        first = await _publish(alice, offer([("audio", "opus/48000/2", ""), h264(1)]))
        assert len(first["tracks"]) == 2
        seven = offer([("audio", "opus/48000/2", ""), *(h264(1) for _ in range(6))])
        with pytest.raises(SignalingError) as info:
            await _publish(alice, seven)
        assert info.value.code == "too_many_tracks"
        conference = server.conferences.get("pistes")
        assert conference is not None
        tracks = conference.participants[alice.participant_id].tracks
        assert sorted(tracks) == sorted(first["tracks"].values())
        assert all(not t.producer.closed for t in tracks.values())


async def test_a_join_that_fails_half_way_leaves_no_participant_behind(server, monkeypatch):
    url = base_url(server)
    async with Client(url, "atomique", "Alice", decode=False) as alice:
        await _publish(alice, offer([("audio", "opus/48000/2", "")]))
        conference = server.conferences.get("atomique")
        assert conference is not None

        def broken(self: Participant, *args: object, **kwargs: object) -> None:
            raise RuntimeError("subscribe failed")

        monkeypatch.setattr(Participant, "subscribe", broken)
        for n in range(3):
            joiner = Client(url, "atomique", f"J{n}", decode=False)
            with pytest.raises(SignalingError) as info:
                await joiner.join()
            assert info.value.code == "internal"
            await joiner.close()
        monkeypatch.undo()
        await asyncio.sleep(0.1)
        assert list(conference.participants) == [alice.participant_id]
        assert not any(e["type"] == "participantJoined" for e in alice.events)
        # the room still takes newcomers
        async with Client(url, "atomique", "Bob", decode=False) as bob:
            assert bob.participant_id in conference.participants
