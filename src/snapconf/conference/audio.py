"""A conference's audio bridge: its audio producers in, per-listener mixes out.

Made when a conference first needs a mix (a phone participant, or a browser that asked
for one track of mixed audio) and closed when no listener is left. Every audio
producer of the conference feeds one :class:`~snapconf.media.mixer.MixerInput` through a
producer tap, synchronously on the packet path; the mixer ticks on its own task.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from snapconf.clock import Clock
from snapconf.media.mixer import Mixer, MixerConfig, MixerInput
from snapconf.media.router import Producer
from snapconf.rtp.packet import RtpHeader

log = logging.getLogger(__name__)

Tap = Callable[[bytes, RtpHeader, bytes | None], None]


class ConferenceAudio:
    """The :class:`Mixer` of one conference and its wiring to producers."""

    def __init__(
        self,
        name: str,
        config: MixerConfig,
        clock: Clock,
        on_talkers: Callable[[list[str]], None],
    ) -> None:
        self.name = name
        self.mixer = Mixer(config, clock, on_talkers=on_talkers)
        self._taps: dict[str, tuple[Producer, Tap, MixerInput]] = {}
        self.closed = False

    def start(self) -> None:
        self.mixer.start()

    def add_producer(self, producer: Producer) -> None:
        """Make an audio producer an input of the mix (RFC 6464 level when it has one)."""
        if producer.kind != "audio" or producer.id in self._taps or self.closed:
            return
        try:
            mixer_input = self.mixer.add_input(
                producer.id, producer.codec.name, producer.codec.clock_rate, producer.payload_type
            )
        except ValueError as exc:  # a codec the mixer cannot decode
            log.warning("conference %s: %s not mixed: %s", self.name, producer.id, exc)
            return
        mixer_input.muted = producer.muted
        push = mixer_input.push

        def tap(data: bytes, header: RtpHeader, level: bytes | None) -> None:
            end = len(data) - header.padding_length
            push(
                header.sequence_number,
                header.timestamp,
                header.payload_type,
                data[header.payload_offset : end],
                None if not level else level[0] & 0x7F,
                header.marker,
            )

        producer.add_tap(tap)
        self._taps[producer.id] = (producer, tap, mixer_input)

    def remove_producer(self, producer: Producer) -> None:
        entry = self._taps.pop(producer.id, None)
        if entry is not None:
            producer.remove_tap(entry[1])
            self.mixer.remove_input(producer.id)

    def set_muted(self, producer: Producer, muted: bool) -> None:
        entry = self._taps.get(producer.id)
        if entry is not None:
            entry[2].muted = muted

    @property
    def listeners(self) -> int:
        return len(self.mixer.outputs)

    def close(self, totals: Counter[str] | None = None) -> None:
        """Detach from every producer and stop the mixer; idempotent.

        ``totals`` receives the mixer's counters, so that /metrics keeps counting after
        the bridge is gone.
        """
        if self.closed:
            return
        self.closed = True
        if totals is not None:
            totals.update(self.mixer.stats.as_dict())
        for producer, tap, _ in self._taps.values():
            producer.remove_tap(tap)
        self._taps.clear()
        self.mixer.close()
