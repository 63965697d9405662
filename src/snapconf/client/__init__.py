"""snapconf.client: a real WebRTC participant (aiortc) for tests and benchmarks."""

from snapconf.client.client import Client, ReceivedTrack, SignalingError
from snapconf.client.tracks import (
    ColorTrack,
    PacketLoopTrack,
    ToneTrack,
    preencoded_audio,
    preencoded_video,
)

__all__ = [
    "Client",
    "ColorTrack",
    "PacketLoopTrack",
    "ReceivedTrack",
    "SignalingError",
    "ToneTrack",
    "preencoded_audio",
    "preencoded_video",
]
