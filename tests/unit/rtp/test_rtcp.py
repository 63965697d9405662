import pytest

from snapconf.rtp.rtcp import (
    ReportBlock,
    RtcpBye,
    RtcpFir,
    RtcpNack,
    RtcpPli,
    RtcpReceiverReport,
    RtcpRemb,
    RtcpSdes,
    RtcpSenderReport,
    RtcpUnknown,
    parse_rtcp,
    serialize_rtcp,
)

# A compound packet shaped as Chrome sends it: SR with one report block, then SDES CNAME.
CHROME_SR_SDES = bytes.fromhex(
    "81c8000c"  # SR, 1 block, length 12
    "5d931534"  # ssrc
    "e6b0f3a2"
    "4bc6a7ef"  # ntp
    "0004b2c0"  # rtp ts
    "00000095"
    "00005a3c"  # packets, octets
    "1a2b3c4d"
    "05000003"
    "00012345"
    "00000010"
    "f3a24bc6"
    "00002000"  # report block
    "81ca0006"  # SDES, 1 chunk, length 6
    "5d931534"
    "0110"
    "4b3174484b6a5173577a4d4c4a4b3070"
    "0000"
)


def test_a_chrome_sender_report_with_sdes_parses():
    sr, sdes = parse_rtcp(CHROME_SR_SDES)
    assert isinstance(sr, RtcpSenderReport) and isinstance(sdes, RtcpSdes)
    assert sr.ssrc == 0x5D931534 and sr.rtp_timestamp == 0x4B2C0
    assert sr.ntp_timestamp == 0xE6B0F3A24BC6A7EF
    assert (sr.packet_count, sr.octet_count) == (0x95, 0x5A3C)
    (block,) = sr.reports
    assert block.ssrc == 0x1A2B3C4D and block.fraction_lost == 5 and block.packets_lost == 3
    assert sdes.cnames == {0x5D931534: "K1tHKjQsWzMLJK0p"}


def test_every_supported_packet_round_trips_in_one_compound():
    packets = [
        RtcpSenderReport(1, 0x0102030405060708, 3, 4, 5, [ReportBlock(9, 1, -2, 3, 4, 5, 6)]),
        RtcpReceiverReport(2, [ReportBlock(7, 0, 100, 65536 + 5, 1, 2, 3)]),
        RtcpSdes({1: "abc", 2: "defgh"}),
        RtcpBye([1, 2]),
        RtcpNack(1, 2, [100, 101, 116, 200]),
        RtcpPli(3, 4),
        RtcpFir(5, [(6, 7), (8, 9)]),
        RtcpRemb(10, 1_500_000, [11, 12]),
        RtcpUnknown(204, 1, b"APP!data"),
    ]
    assert parse_rtcp(serialize_rtcp(packets)) == packets


def test_remb_mantissa_and_exponent_keep_large_bitrates():
    (remb,) = parse_rtcp(bytes(RtcpRemb(1, 123_456_789, [5])))
    assert isinstance(remb, RtcpRemb)
    assert abs(remb.bitrate - 123_456_789) / 123_456_789 < 1e-5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\xc8", "RTCP packet length is less than 4 bytes"),
        (b"\x40\xc8\x00\x00", "RTCP packet has invalid version"),
        (b"\x80\xc8\x00\x06" + bytes(8), "RTCP packet length exceeds the data"),
        (b"\x80\xc8\x00\x01" + bytes(4), "RTCP sender report length is less than 28 bytes"),
        (b"\x81\xc9\x00\x01" + bytes(4), "RTCP receiver report report blocks are truncated"),
        (b"\x81\xca\x00\x01" + bytes(4), "RTCP SDES item is truncated"),
        (b"\x81\xcd\x00\x01" + bytes(4), "RTCP feedback length is less than 12 bytes"),
        (b"\x81\xcd\x00\x03" + bytes(8) + b"\x00\x01", "RTCP packet length exceeds the data"),
        (b"\x84\xce\x00\x03" + bytes(8) + b"\x00\x00\x00\x01", "RTCP FIR feedback is truncated"),
        (b"\x80\xc9\x00\x01" + bytes(4) + b"\x80", "RTCP packet header is truncated"),
        (b"\xa0\xc9\x00\x01" + bytes(3) + b"\x09", "RTCP packet padding length is invalid"),
    ],
)
def test_truncated_rtcp_raises_exact_errors(data, message):
    with pytest.raises(ValueError) as info:
        parse_rtcp(data)
    assert str(info.value) == message
