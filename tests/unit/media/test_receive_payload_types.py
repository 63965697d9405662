"""A receive session maps each distinct codec to its own payload type, and frees the ones
no bundled m-section uses, so that a room's codec churn never exhausts a receiver."""

from __future__ import annotations

import pytest

from snapconf.media.dtls import Fingerprint
from snapconf.media.router import Codec
from snapconf.media.sdp import PAYLOAD_TYPE_CAPACITY, LocalEndpoint, ReceiveSession, SdpError

LOCAL = LocalEndpoint(
    "srvufrag", "srvpassword0123456789abc", Fingerprint("sha-256", "AA:BB"), [("127.0.0.1", 9)]
)


def _h264(n: int) -> Codec:
    profile = (("packetization-mode", "1"), ("profile-level-id", f"42e0{n:02x}"))
    return Codec("H264", 90000, 1, profile)


def _add(session: ReceiveSession, key: str, codec: Codec) -> int:
    slot = session.add(
        consumer_key=key,
        kind="video",
        codec=codec,
        ssrc=1,
        cname="c",
        stream_id="s",
        track_id=key,
    )
    return slot.payload_type


def test_payload_types_of_closed_m_sections_are_reused_for_new_codecs() -> None:
    session = ReceiveSession()
    capacity = PAYLOAD_TYPE_CAPACITY["video"]
    first = [_add(session, f"a{n}", _h264(n)) for n in range(capacity)]
    assert len(set(first)) == capacity
    with pytest.raises(SdpError):  # every payload type is in use by an open m-section
        session.payload_type_for(_h264(99))
    session.offer(LOCAL)  # the browser has seen them all
    for n in range(1, capacity):  # everything but the BUNDLE tag goes
        session.remove(f"a{n}")
    session.offer(LOCAL)  # closed: port 0, outside the BUNDLE group
    second = [_add(session, f"b{n}", _h264(50 + n)) for n in range(capacity - 1)]
    open_pts = [s.payload_type for s in session.slots if s.consumer_key is not None]
    assert len(set(open_pts)) == len(open_pts) == capacity
    assert first[0] not in second  # still the first m-section's, which stays bundled
    offer = session.offer(LOCAL)
    assert offer.count("a=sendonly") == capacity
