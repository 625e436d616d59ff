"""Every Autokey parser is fuzzed: it may refuse input only with its own error type, never crash."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntpd_py.autokey import leapfile, schemes
from ntpd_py.autokey.errors import AutokeyError
from ntpd_py.autokey.session import parse_autokey_value
from ntpd_py.keys.identity.gq import GqParams
from ntpd_py.keys.identity.iff import IffParams
from ntpd_py.keys.identity.mv import MvClientKey
from ntpd_py.wire.extension import ExtensionError, ExtensionField, decode_field, decode_fields

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def field_bytes(draw):
    """Fields with plausible headers and hostile lengths: the interesting part of the input space."""
    code = draw(st.integers(0, 15))
    flags = draw(st.sampled_from([0, 0x80000000, 0x40000000, 0xC0000000]))
    version = draw(st.sampled_from([2, 2, 2, 1, 3, 63]))
    body = draw(st.binary(max_size=300))
    length = draw(st.one_of(st.just(8 + len(body)), st.integers(0, 0xFFFF)))
    vallen = draw(st.one_of(st.integers(0, 64), st.integers(0, 0xFFFFFFFF)))
    head = struct.pack("!II", flags | version << 24 | code << 16 | length, draw(st.integers(0, 0xFFFFFFFF)))
    if len(body) >= 12 and draw(st.booleans()):
        body = body[:8] + struct.pack("!I", vallen) + body[12:]
    return head + body


@FAST
@given(field_bytes())
def test_decode_field_only_raises_extension_error(blob):
    try:
        ext, end = decode_field(blob)
    except ExtensionError:
        return
    assert 8 <= end <= len(blob)
    if not ext.short:
        assert len(ext.value) <= end - 24 and len(ext.signature) <= end - 24
        assert ext.encode() == blob[:end]


@FAST
@given(st.binary(max_size=600))
def test_decode_fields_random_bytes(blob):
    try:
        decode_fields(blob)
    except ExtensionError:
        pass


@FAST
@given(st.integers(0, 9), st.booleans(), st.integers(0, 2**32 - 1), st.binary(max_size=200), st.binary(max_size=200))
def test_round_trip(code, resp, associd, value, sig):
    ext = ExtensionField(code=code, associd=associd, response=resp, tstamp=1, fstamp=2, value=value, signature=sig)
    assert decode_fields(ext.encode()) == [ext]


IFF = IffParams(23, 11, 4, pow(4, 11 - 3, 23), b=3)
GQ = GqParams(3233, 17, u=5, v=pow(pow(5, -1, 3233), 17, 3233))
MV = MvClientKey(23, 3, 5)


@FAST
@given(st.binary(max_size=200), st.integers(0, 2**64))
def test_identity_verifiers_refuse_garbage_cleanly(blob, r):
    for check in (lambda: schemes.iff_verify(IFF, r, blob), lambda: schemes.gq_verify(GQ, r, blob),
                  lambda: schemes.mv_verify(MV, r, blob)):
        try:
            check()
        except AutokeyError:
            pass


@st.composite
def truncated_der(draw):
    ints = draw(st.lists(st.integers(-(2**70), 2**600), min_size=1, max_size=4))
    from asn1crypto import core

    der = core.Sequence.load(b"\x30\x00")  # placeholder for type
    body = b"".join(core.Integer(i).dump() for i in ints)
    full = b"\x30" + (bytes([len(body)]) if len(body) < 128 else b"\x82" + len(body).to_bytes(2, "big")) + body
    del der
    cut = draw(st.integers(0, len(full)))
    return full[:cut]


@FAST
@given(truncated_der(), st.integers(1, 2**64))
def test_identity_verifiers_truncated_der(blob, r):
    for check in (lambda: schemes.iff_verify(IFF, r, blob), lambda: schemes.mv_verify(MV, r, blob)):
        try:
            check()
        except AutokeyError:
            pass


@FAST
@given(st.binary(max_size=40))
def test_small_value_parsers(blob):
    for parse in (parse_autokey_value, leapfile.parse_autokey_value):
        try:
            parse(blob)
        except AutokeyError:
            pass


@FAST
@given(st.text(max_size=400))
def test_leapfile_parser_random_text(text):
    try:
        leapfile.parse(text, "fuzz")
    except leapfile.LeapFileError as exc:
        assert "fuzz" in str(exc)


@pytest.fixture(scope="module")
def pair_factory(vectors):
    from autokey_pair import make_pair

    return lambda: make_pair(vectors, "iff")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(field_bytes(), min_size=1, max_size=3), st.integers(0, 6))
def test_client_survives_any_response_fields(pair_factory, blobs, steps):
    """Hostile responses with valid cookie-0 MACs (anyone can compute those): never an exception, never a flag."""
    from ntpd_py.autokey.session import mac, session_key
    from ntpd_py.engine.authenticator import Verdict
    from ntpd_py.wire.packet import PacketError, decode

    pair = pair_factory()
    for _ in range(steps):
        pair.step()
    before = pair.flags
    region = b"".join(blobs)

    def hostile(d):
        pkt = decode(d)
        header = d[:48]
        key = session_key("10.99.0.1", "10.99.0.2", pkt.keyid, 0)
        return header + region + mac(key, pkt.keyid, header + region)

    try:
        _, cv = pair.step(hostile)
    except PacketError:
        return  # the packet layer refused the shape before Autokey saw it
    if cv.verdict is not Verdict.OK:
        assert pair.flags == before
