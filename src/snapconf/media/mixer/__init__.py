"""The audio bridge: a mixer of the K loudest inputs, encoded once per format.

It depends on nothing of the SFU or the SIP gateway: the conference feeds
:meth:`MixerInput.push` from its producers (or :meth:`MixerInput.push_rtp` with whole RTP
packets, parsed by :mod:`snapconf.rtp.packet`), and gives each listener a ``send(rtp_packet)``
callable, or a :class:`PayloadSink` that stamps the payloads into a stream of its own (a
phone's plain RTP transport).

>>> mixer = Mixer(MixerConfig(), clock)                        # doctest: +SKIP
>>> phone = mixer.add_input("alice", "PCMA", 8000, 8)          # doctest: +SKIP
>>> mixer.add_output("alice", "PCMA", 8, ssrc, send, own_input_id="alice")  # doctest: +SKIP
>>> mixer.start()                                              # doctest: +SKIP

See :mod:`snapconf.media.mixer.engine` for the tick, talker selection and encoding rules, and
:mod:`snapconf.media.mixer.input` for the jitter buffer and what is decoded when.
"""

from snapconf.media.mixer.config import FRAME, MIX_RATE, TICK_MS, MixerConfig
from snapconf.media.mixer.engine import Mixer, MixerOutput, PayloadSink
from snapconf.media.mixer.input import MixerInput
from snapconf.media.mixer.levels import SILENCE_DB
from snapconf.media.mixer.stats import MixerStats

__all__ = [
    "FRAME",
    "MIX_RATE",
    "SILENCE_DB",
    "TICK_MS",
    "Mixer",
    "MixerConfig",
    "MixerInput",
    "MixerOutput",
    "MixerStats",
    "PayloadSink",
]
