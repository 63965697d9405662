"""Every room names its dominant speaker from the publishers' audio levels (RFC 6464),
without an audio bridge, and changes it with hysteresis when someone else takes the floor."""

from __future__ import annotations

from typing import Any

from tests.conftest import base_url

from snapconf.client import Client, ToneTrack


def _events(client: Client, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["type"] == kind]


def _dominant(client: Client) -> str | None:
    events = _events(client, "dominantSpeaker")
    return events[-1]["participantId"] if events else None


async def test_the_loud_publisher_is_dominant_and_the_floor_passes_only_once_the_other_speaks_on(
    server,
):
    url = base_url(server)
    loud_tone, quiet_tone = ToneTrack(440.0, amplitude=0.3), ToneTrack(1000.0, amplitude=0.0)
    loud = Client(url, "tribune", "loud", decode=False)
    quiet = Client(url, "tribune", "quiet", decode=False)
    watcher = Client(url, "tribune", "watcher", decode=False)
    clients = (loud, quiet, watcher)
    try:
        for client in clients:
            await client.join()
        await loud.publish([(loud_tone, "microphone")])
        await quiet.publish([(quiet_tone, "microphone")])
        await watcher.wait_for(lambda c: _dominant(c) == loud.participant_id, timeout=20)
        conference = server.conferences.get("tribune")
        assert conference is not None
        assert conference.audio is None  # no bridge: the levels alone decided
        assert conference.dominant_speaker == loud.participant_id
        assert conference.speaker_rank(loud.participant_id) == 0
        assert conference.speaker_rank(quiet.participant_id) > 1000  # never spoke
        assert _events(watcher, "dominantSpeaker") == [
            {"type": "dominantSpeaker", "participantId": loud.participant_id}
        ]
        assert _events(watcher, "activeSpeakers")[-1]["participantIds"] == [loud.participant_id]
        heard_before = len(watcher.events)

        # the loud one stops, the other speaks: the floor passes, but not at once
        loud_tone.amplitude, quiet_tone.amplitude = 0.0, 0.3
        await watcher.wait_for(lambda c: _dominant(c) == quiet.participant_id, timeout=20)
        after = watcher.events[heard_before:]
        kinds = [
            (e["type"], e.get("participantId"), tuple(e.get("participantIds", ())))
            for e in after
            if e["type"] in ("dominantSpeaker", "activeSpeakers")
        ]
        became_active = next(
            i
            for i, k in enumerate(kinds)
            if k[0] == "activeSpeakers" and quiet.participant_id in k[2]
        )
        took_floor = kinds.index(("dominantSpeaker", quiet.participant_id, ()))
        assert became_active < took_floor, kinds  # heard speaking before taking the floor
        assert conference.speaker_rank(quiet.participant_id) == 0
        assert conference.speaker_rank(loud.participant_id) == 1
        # everyone is told, the speakers too
        for client in (loud, quiet):
            await client.wait_for(lambda c: _dominant(c) == quiet.participant_id)
    finally:
        for client in clients:
            await client.close()
