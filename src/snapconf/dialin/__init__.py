"""snapconf.dialin: the SIP dial-in gateway.

An asyncio SIP user agent server of our own (RFC 3261 over UDP, TCP and optionally TLS), a
French IVR asking for the conference PIN (RFC 4733 or SIP INFO digits) and the call's plain
RTP transport, which joins the conference's audio. ``snapconf serve`` wires it::

    gateway = SipGateway(SipConfig(...), directory, bridge, clock)
    await gateway.start()
    ...
    await gateway.close()

``directory`` is a :class:`ConferenceDirectory` (PIN -> conference: the bookings' directory,
and :class:`StaticConferenceDirectory` for the config's static list) and ``bridge`` a
:class:`ConferenceBridge` (joins a call's :class:`PhoneMedia` to the conference, returning a
:class:`ConferenceLeg`).
"""

from snapconf.dialin.bridge import (
    ConferenceBridge,
    ConferenceFull,
    ConferenceLeg,
    PhoneMedia,
    mask_number,
)
from snapconf.dialin.config import SipConfig, SipTimers
from snapconf.dialin.directory import (
    ConferenceDirectory,
    ConferenceEntry,
    ConferenceState,
    StaticConferenceDirectory,
)
from snapconf.dialin.gateway import SipGateway
from snapconf.dialin.message import Limits, SipParseError

__all__ = [
    "ConferenceBridge",
    "ConferenceDirectory",
    "ConferenceEntry",
    "ConferenceFull",
    "ConferenceLeg",
    "ConferenceState",
    "Limits",
    "PhoneMedia",
    "SipConfig",
    "SipGateway",
    "SipParseError",
    "SipTimers",
    "StaticConferenceDirectory",
    "mask_number",
]
