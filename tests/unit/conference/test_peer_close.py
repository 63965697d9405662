"""A browser that closes its peer connection (DTLS close_notify) leaves normally."""

from typing import Any

from tests.unit.media.test_dtls_close import _close_notify, _finish
from tests.unit.media.test_dtls_handshake import BROWSER, _client, _handshake
from tests.unit.media.test_ice_lite import FakeEndpoint, _binding

from snapconf.conference.conference import Conference, SfuConfig
from snapconf.conference.participant import Participant
from snapconf.media.config import MediaConfig
from snapconf.media.server import MediaServer


class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed_reasons: list[str] = []

    def event(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    def renegotiate(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        self.closed_reasons.append(reason)


def test_a_close_notify_makes_the_participant_leave_as_left_without_a_drop():
    server = MediaServer(MediaConfig(), clock=lambda: 5.0)
    endpoint = FakeEndpoint()
    server.endpoints.append(endpoint)  # type: ignore[arg-type]
    conference = Conference("salle", media=server, config=SfuConfig(), clock=lambda: 5.0)
    alice_listener, bob_listener = Listener(), Listener()
    alice = Participant(display_name="Alice", listener=alice_listener, clock=lambda: 5.0)
    bob = Participant(display_name="Bob", listener=bob_listener, clock=lambda: 5.0)
    conference.join(alice)
    conference.join(bob)
    transport = alice.send_transport
    assert transport is not None
    server.datagram_received(endpoint, _binding(transport, use_candidate=True), BROWSER)
    client, fingerprint = _client()
    _handshake(server, endpoint, transport, client, fingerprint, answer_late=False)
    _finish(endpoint, client)

    for datagram in _close_notify(client):  # Firefox closing its page
        server.datagram_received(endpoint, datagram, BROWSER)

    left = [e for e in bob_listener.events if e["type"] == "participantLeft"]
    assert left == [{"type": "participantLeft", "participantId": alice.id, "reason": "left"}]
    assert alice_listener.closed_reasons == ["left"]
    assert alice.id not in conference.participants
    assert sum(server.drops.values()) == 0, server.drops
