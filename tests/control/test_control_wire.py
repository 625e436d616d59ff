"""Mode-6 frame codec: round trips, ntpq's byte layout, padding, MAC trailers, fragmentation, fuzz."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpd_py.wire import control as wire
from ntpd_py.wire.control import ControlFormatError, ControlFrame


def test_request_layout_matches_ntpq() -> None:
    # ntpq's "rv 0 flags": version 2, mode 6, opcode 2, data padded to 4 octets, count unpadded
    datagram = wire.request(wire.OP_READVAR, sequence=7, assid=0, data=b"flags")
    assert datagram == struct.pack("!BBHHHHH", 0x16, 0x02, 7, 0, 0, 0, 5) + b"flags\0\0\0"
    frame = wire.decode(datagram)
    assert (frame.opcode, frame.sequence, frame.data, frame.version, frame.response) == (2, 7, b"flags", 2, False)


@given(
    opcode=st.integers(0, 31), sequence=st.integers(0, 0xFFFF), status=st.integers(0, 0xFFFF),
    assid=st.integers(0, 0xFFFF), offset=st.integers(0, 0xFFFF), data=st.binary(max_size=wire.CTL_MAX_DATA_LEN),
    response=st.booleans(), error=st.booleans(), more=st.booleans(), version=st.integers(1, 4),
    leap=st.integers(0, 3), mac=st.sampled_from([b"", b"\x00\x00\x00\x05" + b"m" * 16, b"\x00\x00\x00\x06" + b"s" * 20]),
)
@settings(max_examples=300, deadline=None)
def test_round_trip(opcode, sequence, status, assid, offset, data, response, error, more, version, leap, mac) -> None:
    frame = ControlFrame(opcode=opcode, sequence=sequence, status=status, assid=assid, offset=offset, data=data,
                         response=response, error=error, more=more, version=version, leap=leap, mac=mac)
    datagram = wire.encode(frame)
    assert len(datagram) % 4 == 0
    decoded = wire.decode(datagram)
    assert decoded == ControlFrame(**{**frame.__dict__, "count": len(data)})
    assert decoded.keyid == (int.from_bytes(mac[:4], "big") if mac else None)


def test_mac_starts_on_a_64_bit_boundary() -> None:
    frame = ControlFrame(opcode=2, data=b"abcd", mac=b"\0\0\0\1" + b"x" * 16)
    datagram = wire.encode(frame)
    assert datagram[:16] == wire.encode(ControlFrame(opcode=2, data=b"abcd"))
    assert len(datagram) == 16 + 20 and datagram[16:20] == b"\0\0\0\1"
    assert wire.signed_part(frame) == datagram[:16]


@pytest.mark.parametrize(("datagram", "reason"), [
    (b"", "short"),
    (b"\x16\x02" + b"\0" * 9, "short"),
    (struct.pack("!BBHHHHH", 0x13, 2, 1, 0, 0, 0, 0), "mode 3"),
    (struct.pack("!BBHHHHH", 0x2E, 2, 1, 0, 0, 0, 0), "version 5"),
    (struct.pack("!BBHHHHH", 0x06, 2, 1, 0, 0, 0, 0), "version 0"),
    (struct.pack("!BBHHHHH", 0x16, 2, 1, 0, 0, 0, 9) + b"abcd", "count 9 exceeds"),
])
def test_decode_rejects(datagram: bytes, reason: str) -> None:
    with pytest.raises(ControlFormatError, match=reason.split()[0]):
        wire.decode(datagram)


def test_error_response() -> None:
    req = wire.decode(wire.request(wire.OP_READVAR, 9, assid=77))
    err = wire.decode(wire.encode(wire.error_response(req, wire.CERR_BADASSOC, leap=3)))
    assert (err.response, err.error, err.more, err.error_code, err.assid, err.sequence, err.leap) == (
        True, True, False, wire.CERR_BADASSOC, 77, 9, 3)


@pytest.mark.parametrize("size", [0, 1, 467, 468, 469, 936, 1000, 5000])
def test_fragment_sizes_offsets_and_more_bits(size: int) -> None:
    req = wire.decode(wire.request(wire.OP_READVAR, 1))
    payload = bytes(i % 251 for i in range(size))
    frames = wire.fragment(req, 0x0616, payload)
    assert all(len(f.data) <= wire.CTL_MAX_DATA_LEN for f in frames)
    assert [f.more for f in frames] == [True] * (len(frames) - 1) + [False]
    assert b"".join(f.data for f in frames) == payload
    position = 0
    for f in frames:
        assert f.offset == position and f.status == 0x0616 and f.response
        position += len(f.data)


@given(st.binary(max_size=600))
@settings(max_examples=3000, deadline=None)
def test_decode_never_crashes(datagram: bytes) -> None:
    try:
        frame = wire.decode(datagram)
    except ControlFormatError:
        return
    assert len(frame.data) == frame.count


def test_fragments_echo_the_request_and_carry_the_leap():
    """Mutation survivors (issue 13): every fragment answers the request's opcode, sequence, association and
    version, with the leap bits given; the error response too; decode reads the E and M bits and the leap."""
    req = wire.decode(wire.request(wire.OP_READVAR, 4242, assid=38363, version=3))
    frames = wire.fragment(req, 0x1234, bytes(1000), leap=3)
    assert len(frames) == 3 and [f.more for f in frames] == [True, True, False]
    for f in frames:
        assert (f.opcode, f.sequence, f.assid, f.version, f.leap, f.status) == (wire.OP_READVAR, 4242, 38363, 3, 3, 0x1234)
        back = wire.decode(wire.encode(f))
        assert (back.response, back.error, back.more, back.leap, back.version) == (True, False, f.more, 3, 3)
    err = wire.error_response(req, wire.CERR_BADASSOC, leap=1)
    back = wire.decode(wire.encode(err))
    assert back.error and back.response and not back.more and back.leap == 1 and back.status >> 8 == wire.CERR_BADASSOC
    assert (back.opcode, back.sequence, back.assid, back.version) == (wire.OP_READVAR, 4242, 38363, 3)
