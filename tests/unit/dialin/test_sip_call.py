"""A call runs on a narrow host: its dialog, media leg and IVR need no gateway."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from tests.support.clock import FakeClock

from snapconf.dialin.call import Call, CallHost, CallState
from snapconf.dialin.config import SipConfig
from snapconf.dialin.ivr import IvrServices
from snapconf.dialin.message import SipRequest, SipResponse, parse_message
from snapconf.dialin.prompts import PromptLibrary
from snapconf.dialin.sdp import negotiate, parse_sdp
from snapconf.dialin.transport import Source
from snapconf.media.plain_transport import PortAllocator

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=ptime:40\r\n"
)


def request(method: str, cseq: int, body: str = "", ctype: str = "") -> SipRequest:
    head = (
        f"{method} sip:conf@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{cseq}\r\n"
        "From: \"Appelant\" <sip:+33612345612@127.0.0.1>;tag=abc\r\nTo: <sip:conf@127.0.0.1>\r\n"
        f"Call-ID: call-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:phone@127.0.0.1:5070>\r\n"
    )
    if body:
        head += f"Content-Type: {ctype}\r\n"
    m = parse_message((head + f"Content-Length: {len(body)}\r\n\r\n" + body).encode())
    assert isinstance(m, SipRequest)
    return m


class Host:
    """A CallHost that records what the call asks of it."""

    def __init__(self) -> None:
        self.config = SipConfig(codecs=("PCMA",), ptime=20)
        self.clock = FakeClock()
        self.stats: Counter[str] = Counter()
        self.rtp_host = "127.0.0.1"
        self.ports = PortAllocator(41000, 41100)
        self.prompts = PromptLibrary()
        self.responses: list[tuple[Any, int]] = []
        self.forgotten: list[Call] = []
        self.byes: list[Call] = []

    def port_for(self, transport: str) -> int:
        return 5060

    def respond(self, tx: Any, response: SipResponse) -> None:
        self.responses.append((tx, response.status))

    def send_to(self, source: Source, dest: tuple[str, int], data: bytes) -> None:
        pass

    async def send_request(
        self, call: Call, request: SipRequest, dest: tuple[str, int], branch: str
    ) -> int:
        return 200

    def send_bye(self, call: Call) -> None:
        self.byes.append(call)

    def forget_call(self, call: Call) -> None:
        self.forgotten.append(call)


async def test_a_call_answers_in_dialog_requests_through_its_host_and_ends_once() -> None:
    host = Host()
    _: CallHost = host  # the protocol is all a call needs
    invite = request("INVITE", 1, SDP, "application/sdp")
    offer = parse_sdp(invite.body)
    call = Call(
        host, cast(IvrServices, None), invite, Source("UDP", "127.0.0.1", 5070),
        ("127.0.0.1", 5070), offer, negotiate(offer, ("PCMA",)), None,
    )
    # the dialog, the media leg and the IVR each hold their part of the call
    assert (call.call_id, call.remote_tag) == ("call-1", "abc")
    assert call.ptime == 40  # the caller's a=ptime, which the mixer can make for PCMA
    assert call.ivr.caller_number == "+33612345612" and call.ivr.dialed == "conf"
    call.state = CallState.CONFIRMED
    call.on_request(request("OPTIONS", 2), "tx-options")
    call.on_request(request("INFO", 3, "Signal=5\r\nDuration=160\r\n", "application/dtmf-relay"),
                    "tx-info")
    assert call.media.digits.get_nowait() == "5"
    call.on_request(request("BYE", 4), "tx-bye")
    assert host.responses == [("tx-options", 200), ("tx-info", 200), ("tx-bye", 200)]
    assert call.ended and call.end_reason == "remote BYE"
    call.end("again")
    call.hangup("and again")
    assert host.forgotten == [call] and host.byes == []
    assert (host.stats["dtmf_digits"], host.stats["bye_received"]) == (1, 1)
