"""wire/packet.py: header codec, extension-field/MAC split as ntpd's receive(), malformed input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpd_py.wire.packet import HEADER_LEN, NtpPacket, PacketError, decode, encode, ntp_diff


def header(**kw) -> NtpPacket:
    base = dict(leap=0, version=4, mode=3, stratum=2, poll=6, precision=-20, root_delay=0x10, root_dispersion=0x20,
                refid=b"\x7f\0\0\1", reftime=1 << 40, org=2 << 40, rec=3 << 40, xmt=4 << 40)
    base.update(kw)
    return NtpPacket(**base)


def ext(code: int, body: bytes) -> bytes:
    length = 8 + len(body)
    return struct.pack("!II", 0x02000000 | code << 16 | length, 0) + body


def test_plain_round_trip():
    pkt = header()
    data = encode(pkt)
    assert len(data) == HEADER_LEN
    back = decode(data)
    assert back == pkt
    assert back.keyid is None and back.mac_covered == 48


@pytest.mark.parametrize("digest_len", [16, 20])
def test_mac_trailer(digest_len):
    pkt = header(keyid=7, mac=bytes(range(digest_len)))
    data = encode(pkt)
    back = decode(data)
    assert back.keyid == 7 and back.mac == bytes(range(digest_len)) and back.mac_covered == 48
    assert encode(back) == data


def test_crypto_nak():
    back = decode(encode(header()) + b"\0\0\0\0")
    assert back.is_crypto_nak and back.keyid == 0 and back.mac == b""


def test_extension_fields_then_mac():
    fields = [ext(2, b"x" * 24), ext(3, b"y" * 40)]
    pkt = header(extensions=fields, keyid=0x12345678, mac=b"m" * 16)
    data = encode(pkt)
    back = decode(data)
    assert back.extensions == fields
    assert back.mac_covered == 48 + sum(map(len, fields))
    assert encode(back) == data


def test_extension_without_mac():
    fields = [ext(1, b"z" * 20)]  # 28 bytes > MAX_MAC_LEN: parsed as a field
    back = decode(encode(header(extensions=fields)))
    assert back.extensions == fields and back.keyid is None


@pytest.mark.parametrize("data, reason", [
    (b"", "short"),
    (b"\x23" + b"\0" * 46, "short"),
    (bytes([0x3B]) + b"\0" * 47, "version"),  # version 7
    (bytes([0x03]) + b"\0" * 47, "version"),  # version 0
    (bytes([0x23]) + b"\0" * 49, "length"),  # 2 bytes after header
    (bytes([0x23]) + b"\0" * 48, "length"),  # 1 byte after header
    (bytes([0x23]) + b"\0" * 47 + b"\0" * 28 + b"\0", "length"),  # a MAC and a stray byte
    (bytes([0x23]) + b"\0" * 47 + struct.pack("!I", 0x02010000 | 6) + b"\0" * 24, "extension"),
    (bytes([0x23]) + b"\0" * 47 + struct.pack("!I", 0x02010000 | 2) + b"\0" * 24, "extension"),
    (bytes([0x23]) + b"\0" * 47 + struct.pack("!I", 0x02010000 | 400) + b"\0" * 24, "extension"),
], ids=["empty", "47-bytes", "version-7", "version-0", "2-byte-tail", "1-byte-tail", "mac-plus-one", "field-len-6", "field-len-2", "field-past-end"])
def test_malformed(data, reason):
    with pytest.raises(PacketError) as info:
        decode(data)
    assert info.value.reason == reason


def test_ntp_diff_wraps():
    assert ntp_diff(5 << 32, 3 << 32) == 2.0
    assert ntp_diff(1 << 32, (1 << 64) - (1 << 32)) == 2.0


def test_ntp_diff_is_signed_and_splits_the_era_in_half():
    assert ntp_diff(3 << 32, 5 << 32) == -2.0
    assert ntp_diff((1 << 64) - (1 << 32), 1 << 32) == -2.0  # across the era, backwards
    assert ntp_diff(1 << 31, 0) == 0.5 and ntp_diff(0, 1 << 31) == -0.5
    assert ntp_diff(1 << 63, 0) == -(2.0 ** 31)  # exactly half an era: the negative side, as two's complement
    assert ntp_diff((1 << 63) - 1, 0) == pytest.approx(2.0 ** 31)


def test_refid_of_a_peer_address():
    """ntpd's addr2refid: IPv4 is the address itself; IPv6 the first 4 octets of MD5 of the 16 address octets."""
    import hashlib
    import socket

    from ntpd_py.wire.packet import refid_from_ipv4, refid_from_text

    assert refid_from_ipv4("192.0.2.7") == bytes([192, 0, 2, 7])
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    assert refid_from_ipv4("2001:db8::1") == hashlib.md5(v6).digest()[:4]
    assert refid_from_ipv4("fe80::1%eth0") == hashlib.md5(socket.inet_pton(socket.AF_INET6, "fe80::1")).digest()[:4]
    assert refid_from_ipv4("not an address") == hashlib.md5(b"not an address").digest()[:4]
    assert refid_from_text("RATE") == b"RATE" and refid_from_text("GPS") == b"GPS\0"
    assert refid_from_text("LONGER") == b"LONG"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_never_raises_anything_else(data):
    try:
        pkt = decode(data)
    except PacketError:
        return
    assert encode(pkt) == data


u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)


@st.composite
def packets(draw) -> NtpPacket:
    fields = []
    for _ in range(draw(st.integers(0, 3))):
        body = draw(st.binary(min_size=0, max_size=40))
        body += b"\0" * (-len(body) % 4)
        length = 8 + len(body) + (20 if len(body) < 20 else 0)  # > MAX_MAC_LEN, so it parses as a field
        fields.append(struct.pack("!II", 0x02000000 | draw(st.integers(0, 255)) << 16 | length, draw(u32))
                      + body.ljust(length - 8, b"\0"))
    mac_kind = draw(st.sampled_from([None, 0, 16, 20]))
    return NtpPacket(leap=draw(st.integers(0, 3)), version=draw(st.integers(1, 4)), mode=draw(st.integers(0, 7)),
                     stratum=draw(st.integers(0, 255)), poll=draw(st.integers(-128, 127)),
                     precision=draw(st.integers(-128, 127)), root_delay=draw(u32), root_dispersion=draw(u32),
                     refid=draw(st.binary(min_size=4, max_size=4)), reftime=draw(u64), org=draw(u64), rec=draw(u64),
                     xmt=draw(u64), extensions=fields, keyid=None if mac_kind is None else draw(u32),
                     mac=b"" if not mac_kind else draw(st.binary(min_size=mac_kind, max_size=mac_kind)),
                     mac_covered=48 + sum(map(len, fields)))


@settings(max_examples=300, deadline=None)
@given(packets())
def test_encode_decode_round_trip(pkt):
    assert decode(encode(pkt)) == pkt


def test_short_refid_is_padded_with_zeros_on_the_right():
    from ntpd_py.wire.packet import encode_header

    assert encode_header(header(refid=b"GPS"))[12:16] == b"GPS\0"
    assert encode_header(header(refid=b"LONGER"))[12:16] == b"LONG"
