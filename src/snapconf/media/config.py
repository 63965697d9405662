"""Settings of the media port: listening, ICE-lite, consent, RTCP, STUN limits."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class MediaConfig:
    """Media transport settings (section ``[media]`` of the config file)."""

    #: local addresses to listen on; each gets one UDP socket on ``port``
    listen: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    #: the UDP port for all media
    port: int = 10000
    #: addresses written in ICE candidates (public IP behind NAT); default: ``listen``
    announced: list[str] = field(default_factory=list)
    #: seconds without any datagram before a transport is closed (RFC 7675 consent)
    consent_timeout: float = 30.0
    #: minimum seconds between keyframe requests sent to one publisher
    keyframe_interval: float = 0.5
    #: bitrate (bit/s) announced to publishers with REMB; 0 disables REMB
    max_incoming_bitrate: int = 2_000_000
    #: seconds between receiver reports sent to publishers
    rtcp_interval: float = 1.0
    #: seconds between transport-cc feedback packets sent to publishers, and between
    #: bandwidth allocation checks for receivers
    feedback_interval: float = 0.05
    #: what the send-side estimate towards each browser starts at before its first
    #: transport-cc feedback, and its bounds (bit/s)
    send_start_bitrate: int = 1_000_000
    send_min_bitrate: int = 100_000
    send_max_bitrate: int = 10_000_000
    #: what is sent to a transport-cc receiver leaves at this multiple of its estimate
    #: (see snapconf.media.pacer); 0 sends every packet as soon as it is forwarded
    pacing_factor: float = 1.2
    #: seconds a packet may wait in the pacer before its queue is drained faster
    pacing_max_queue_time: float = 0.25
    #: seconds between log lines summarising dropped datagrams
    drop_log_interval: float = 10.0
    #: socket buffer sizes (bytes)
    socket_buffer: int = 4 * 1024 * 1024
    #: failed STUN requests (wrong password, unknown ufrag, malformed, replayed) allowed
    #: per second from one source (IPv4 address, IPv6 /64); beyond, its STUN is dropped
    #: before it is parsed and no error reply is sent. 0 disables the limit
    stun_failures_per_second: float = 5.0
    #: failed STUN requests one source may send at once before the rate applies
    stun_failure_burst: int = 20
    #: sources whose failures are remembered (the least recently failing is forgotten)
    stun_failure_sources: int = 4096
    #: Binding transaction ids remembered per transport: a remembered id arriving from
    #: another address is a replay and is ignored
    stun_transaction_memory: int = 64
    #: seconds the selected remote address must have been silent before a nomination from
    #: another address moves the media at once; until then the move waits for
    #: authenticated SRTP/SRTCP from the new address (RFC 7675 consent freshness)
    address_switch_quiet: float = 10.0
