"""Extension-field codec: every field of every reference capture decodes to what the decodings say."""

from __future__ import annotations

import pytest
from autokey_vectors import SCHEMES, captured_packets, decoded_json

from ntpd_py.wire.extension import ExtensionError, Opcode, decode_field, decode_fields, request


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_capture_field_matches_decoding(vectors, scheme):
    packets = captured_packets(vectors, scheme)
    expected = decoded_json(vectors, scheme)
    assert len(packets) == len(expected)
    for pkt, exp in zip(packets, expected):
        assert len(pkt.raw) == exp["len"]
        assert f"{pkt.src}:123" == exp["src"] and f"{pkt.dst}:123" == exp["dst"]
        assert pkt.keyid == int(exp["keyid"], 16)
        assert pkt.mac.hex() == exp["mac"]
        assert len(pkt.fields) == len(exp["exts"])
        offset = 48
        for ext, e in zip(pkt.fields, exp["exts"]):
            assert e["offset"] == offset
            assert ext.opcode | ext.length == int(e["word0"], 16)
            assert ext.length == e["length"]
            assert (ext.response, ext.error, ext.version, ext.code) == (e["resp"], e["error"], e["version"], e["code"])
            assert ext.name == e["name"]
            assert ext.associd == e["associd"]
            if "tstamp" in e and e["length"] >= 24:
                assert ext.tstamp == e["tstamp"] and ext.fstamp == e["fstamp"]
                assert len(ext.value) == e["vallen"] and ext.value.hex() == e["value"]
                assert len(ext.signature) == e["siglen"] and ext.signature.hex() == e["sig"]
            else:
                assert ext.short
            # re-encoding gives back the exact bytes on the wire
            assert ext.encode() == pkt.raw[offset : offset + ext.length]
            offset += ext.length


def test_short_leap_request_is_eight_bytes():
    ext = request(Opcode.LEAP, 38363)
    assert ext.encode().hex() == "02050008000095db"
    assert decode_fields(ext.encode()) == [ext]


def test_assoc_request_layout():
    ext = request(Opcode.ASSOC, 38363, tstamp=0, fstamp=0x80001, value=b"bob")
    assert ext.encode().hex() == "0201001c000095db0000000000080001000000036" + "26f6200" + "00000000"


@pytest.mark.parametrize(
    "blob, needle",
    [
        (b"\x02\x01\x00", "need at least 8"),
        (b"\x02\x01\x00\x06" + bytes(4), "bad length 6"),
        (b"\x02\x01\x00\x20" + bytes(4), "exceeds"),
        (b"\x02\x01\x00\x18" + bytes(12) + b"\x00\x00\x00\x05" + bytes(4), "value length 5"),
        (b"\x02\x01\x00\x18" + bytes(16) + b"\x00\x00\x00\x04", "signature length 4"),
        (b"\x02\x01\x00\x18" + bytes(12) + b"\xff\xff\xff\xff" + bytes(4), "value length"),
    ],
)
def test_malformed_fields_raise_clear_errors(blob, needle):
    with pytest.raises(ExtensionError, match=needle):
        decode_field(blob)


def test_error_bit_and_fields_after_the_first():
    """The E bit decodes (a crypto error response); a truncated field after a good one is an error naming
    its offset, never read past the region."""
    import struct

    from ntpd_py.wire.extension import ExtensionError, ExtensionField, Opcode, decode_field, decode_fields

    error = struct.pack("!II", 0xC0000000 | 0x02000000 | Opcode.CERT << 16 | 8, 7)  # R and E bits, 8 bytes
    field, end = decode_field(error)
    assert field.error and field.response and field.code == Opcode.CERT and end == 8
    good = ExtensionField(code=Opcode.ASSOC, associd=5, tstamp=1, fstamp=2, value=b"alice").encode()
    assert not decode_field(good)[0].error
    with pytest.raises(ExtensionError, match=f"offset {len(good)}"):
        decode_fields(good + error[:6])
    fields = decode_fields(good + error)
    assert [f.code for f in fields] == [Opcode.ASSOC, Opcode.CERT] and fields[1].error


def test_field_lengths_signatures_and_large_ids_decode_exactly():
    """Mutation survivors (issue 13): decode_field alone refuses lengths that are not a multiple of 4 or below
    the header, keeps a signature that is not a multiple of 4 exactly, and reads association IDs unsigned."""
    import struct

    from ntpd_py.wire.extension import ExtensionError, ExtensionField, Opcode, decode_field

    for length in (4, 6, 10, 14):
        with pytest.raises(ExtensionError, match="bad length"):
            decode_field(struct.pack("!II", 0x02000000 | Opcode.CERT << 16 | length, 1) + bytes(16))
    field = ExtensionField(code=Opcode.COOK, associd=0x80000001, response=True, tstamp=5, fstamp=6,
                           value=b"abc", signature=b"12345")
    back, end = decode_field(field.encode())
    assert back.associd == 0x80000001 and back.value == b"abc" and back.signature == b"12345"
    assert end == len(field.encode())
