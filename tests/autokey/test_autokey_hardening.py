"""Bad input never raises a flag bit: forged signatures, wrong group keys, bad certificates, stale filestamps,
replays, spoofed crypto-NAKs, and the input classes behind ntpd's Autokey CVEs (one test each, named for it)."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest
from autokey_pair import VECTOR_NOW, load_creds, make_pair

from ntpd_py.autokey.errors import Xevnt
from ntpd_py.autokey.flags import CryptoFlag
from ntpd_py.autokey.session import mac, session_key
from ntpd_py.engine.authenticator import Verdict
from ntpd_py.wire.extension import ExtensionField, Opcode, decode_field
from ntpd_py.wire.packet import NtpPacket, decode, encode_header


def _reforge(rdata: bytes, change, src="10.99.0.1", dst="10.99.0.2") -> bytes:
    """What an on-path attacker can do: rewrite the extension field and recompute the cookie-0 MAC."""
    pkt = decode(rdata)
    header = rdata[:48]
    fields = [decode_field(raw)[0] for raw in pkt.extensions]
    region = b"".join(change(f).encode() if isinstance(change(f), ExtensionField) else change(f) for f in fields)
    key = session_key(src, dst, pkt.keyid, 0)
    return header + region + mac(key, pkt.keyid, header + region)


def _advance_to(pair, code):
    """Run the exchange until the next request the client would send is `code`."""
    for _ in range(10):
        nxt = pair.client.exchange.next_request(pair.client.state(pair.assoc), pair.now)
        if nxt is not None and nxt.code == code:
            return
        pair.step()
    raise AssertionError(f"never reached {code}")


def _expect_rejected(pair, tamper, code: Xevnt):
    before = pair.flags
    _, cv = pair.step(tamper)
    peer = pair.assoc.auth_state
    assert cv.verdict is Verdict.ERROR, cv
    assert pair.flags == before, (hex(before), hex(pair.flags))
    assert peer.last_event == code, hex(peer.last_event)
    assert peer.errors[code] >= 1
    assert any(f"{int(code):02x} " in line for line in pair.log)


def _flip_sig(f: ExtensionField) -> ExtensionField:
    sig = bytearray(f.signature)
    sig[5] ^= 0x40
    return replace(f, signature=bytes(sig))


@pytest.mark.parametrize("code", [Opcode.IFF, Opcode.COOK, Opcode.SIGN, Opcode.LEAP])
def test_forged_signature_raises_no_flag(vectors, code):
    pair = make_pair(vectors, "iff")
    _advance_to(pair, code)
    _expect_rejected(pair, lambda d: _reforge(d, _flip_sig), Xevnt.SIG)
    assert pair.run(8) == 0x87F23  # the genuine exchange still completes


def test_truncated_signature_is_bad_signature_length(vectors):
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.COOK)
    _expect_rejected(pair, lambda d: _reforge(d, lambda f: replace(f, signature=f.signature[:-4])), Xevnt.SGL)


def test_wrong_group_key_never_verifies(vectors):
    from ntpd_py.keys.identity.iff import IffParams

    creds = load_creds(vectors, "iff", "alice")
    good = creds.identity.iff
    creds = replace(creds, identity=replace(creds.identity, iff=IffParams(good.p, good.q, good.g, good.v, b=(good.b + 1) % good.q)))
    pair = make_pair(vectors, "iff", server_creds=creds)
    pair.run(8)
    peer = pair.assoc.auth_state
    assert not pair.flags & CryptoFlag.VRFY and not pair.flags & CryptoFlag.COOK
    assert peer.last_event == Xevnt.ID and peer.errors[Xevnt.ID] >= 5


def test_expired_certificate_is_refused(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()  # ASSOC
    pair.now = VECTOR_NOW + 2 * 365 * 86400  # both certificates expired by now
    pair.server.host.update(pair.now)
    _expect_rejected(pair, None, Xevnt.PER)
    assert not pair.flags & CryptoFlag.CERT


def test_not_yet_valid_certificate_is_refused(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()
    pair.now = VECTOR_NOW - 86400  # a day before the certificates were made
    _expect_rejected(pair, None, Xevnt.PER)


def test_stale_identity_filestamp_is_refused(vectors):
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.IFF)
    # the server answers from an older parameter generation
    creds = pair.server.host.creds
    pair.server.host.creds = replace(creds, identity=replace(creds.identity, iff_fstamp=creds.identity.iff_fstamp - 3600))
    _expect_rejected(pair, None, Xevnt.FSP)


def test_replayed_identity_response_is_refused(vectors):
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.IFF)
    captured = {}

    def keep(d):
        captured["r"] = d
        return d

    # first challenge answered, then a later challenge gets the old answer replayed
    pair.assoc.auth_state.crypto &= ~0  # no-op, for clarity
    pair.step(keep)
    assert pair.flags & CryptoFlag.VRFY
    peer = pair.assoc.auth_state
    peer.crypto &= ~CryptoFlag.VRFY  # force another identity round
    old = decode(captured["r"])

    def replay(d):
        new = decode(d)
        return _reforge(d, lambda f: decode_field(old.extensions[0])[0].with_()) if new.keyid else d

    _expect_rejected(pair, replay, Xevnt.ID)


def test_replayed_cookie_older_than_current_is_refused(vectors):
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.COOK)
    captured = {}
    pair.step(lambda d: captured.setdefault("c", d))
    assert pair.flags & CryptoFlag.COOK
    peer = pair.assoc.auth_state
    peer.crypto &= ~CryptoFlag.COOK
    pair.now += 10
    pair.server.host.update(pair.now)
    pair.step()  # a newer cookie response
    peer.crypto &= ~CryptoFlag.COOK
    old = decode_field(decode(captured["c"]).extensions[0])[0]
    _expect_rejected(pair, lambda d: _reforge(d, lambda f: old), Xevnt.TSP)


def test_status_word_cannot_grant_verification_bits(vectors):
    pair = make_pair(vectors, "iff")
    pair.step(lambda d: _reforge(d, lambda f: replace(f, fstamp=f.fstamp | 0x7F00)))
    assert pair.flags & 0x7F00 == CryptoFlag.AUTO  # only what ASSOC itself implies


def test_unsigned_response_from_unsynchronized_server_raises_nothing(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()
    pair.server.host.synchronized = False
    before = pair.flags
    pair.run(3)  # CERT answers are empty while the server is unsynchronized
    assert pair.flags == before


def _crypto_nak(rdata: bytes) -> bytes:
    pkt = decode(rdata)
    return rdata[:48] + struct.pack("!I", pkt.keyid)


def _spoofed_nak(_rdata: bytes) -> bytes:
    return _rdata[:48] + bytes(4)


def test_spoofed_crypto_nak_changes_nothing(vectors):
    pair = make_pair(vectors, "iff")
    pair.run(4)
    before, peer = pair.flags, pair.assoc.auth_state
    snapshot = (peer.crypto, peer.pcookie, peer.assoc, peer.subject)
    for tamper in (_crypto_nak, _spoofed_nak):
        _, cv = pair.step(tamper)
        assert cv.verdict is Verdict.CRYPTO_NAK
    assert pair.flags == before and (peer.crypto, peer.pcookie, peer.assoc, peer.subject) == snapshot
    assert pair.run(6) == 0x87F23


# --- CVE regression tests ----------------------------------------------------------------------------------


def _raw_response(rdata: bytes, region: bytes) -> bytes:
    pkt = decode(rdata)
    header = rdata[:48]
    key = session_key("10.99.0.1", "10.99.0.2", pkt.keyid, 0)
    return header + region + mac(key, pkt.keyid, header + region)


def test_cve_2014_9297_value_length_beyond_field(vectors):
    """vallen was not checked against the field: a value length past the end must be a length error."""
    pair = make_pair(vectors, "iff")
    pair.step()
    field = bytearray(ExtensionField(code=Opcode.CERT, associd=38363, response=True, tstamp=1, fstamp=0, value=b"x" * 8).encode())
    field[16:20] = struct.pack("!I", 0xFFFF)  # vallen far beyond the 36-byte field
    _expect_rejected(pair, lambda d: _raw_response(d, bytes(field)), Xevnt.LEN)


@pytest.mark.parametrize("siglen", [0xFFFFFFFF, 0x10000, 200])
def test_cve_2015_7691_signature_length_beyond_field(vectors, siglen):
    """Incomplete length checks: a signature length past the field end is refused before any use."""
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.COOK)
    f = bytearray(ExtensionField(code=Opcode.COOK, associd=38363, response=True, tstamp=5, fstamp=1, value=bytes(64), signature=bytes(64)).encode())
    f[20 + 64 : 24 + 64] = struct.pack("!I", siglen)
    _expect_rejected(pair, lambda d: _raw_response(d, bytes(f)), Xevnt.LEN)


def _signed_by_server(pair, value: bytes):
    """The server's own signature over a bad value: only the value's length can reject it."""
    return lambda d: _reforge(d, lambda f: pair.server.host.signed(value, f.tstamp, f.fstamp).field(f.code, f.associd))


def _expect_signed_value_rejected(pair, value: bytes, flag: CryptoFlag, code: Xevnt):
    """As _expect_rejected, except that PROV may rise: the signature is the server's own (ntpd's crypto_verify
    sets PROV before the value is looked at), but the step's own bit must not."""
    before = pair.flags
    _, cv = pair.step(_signed_by_server(pair, value))
    peer = pair.assoc.auth_state
    assert cv.verdict is Verdict.ERROR, cv
    assert pair.flags & ~CryptoFlag.PROV == before & ~CryptoFlag.PROV and not pair.flags & flag
    assert peer.last_event == code and peer.errors[code] >= 1


def test_cve_2015_7692_zero_and_short_values(vectors):
    """Zero value length, or a value too short for its type (cookie, leap, autokey), is an error."""
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.COOK)
    _expect_rejected(pair, lambda d: _reforge(d, lambda f: replace(f, value=b"")), Xevnt.LEN)
    assert pair.assoc.auth_state.errors[Xevnt.LEN] == 1
    _expect_signed_value_rejected(pair, bytes(8), CryptoFlag.COOK, Xevnt.CKY)  # 8 bytes for a 512-bit key
    assert pair.run(8) == 0x87F23  # the genuine cookie still arrives
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.LEAP)
    for short in (bytes(8), bytes(11)):
        _expect_signed_value_rejected(pair, short, CryptoFlag.LEAP, Xevnt.LEN)
    assert not pair.flags & CryptoFlag.LEAP
    assert pair.run(4) == 0x87F23


@pytest.mark.parametrize("size", [0, 4, 7, 9])
def test_cve_2015_7692_short_autokey_and_leap_values_parse_as_length_errors(size):
    from ntpd_py.autokey.errors import AutokeyError
    from ntpd_py.autokey.leapfile import parse_autokey_value as parse_leap
    from ntpd_py.autokey.session import parse_autokey_value

    for parse in (parse_autokey_value, parse_leap):
        with pytest.raises(AutokeyError) as exc:
            parse(bytes(size))
        assert exc.value.code == Xevnt.LEN
    assert parse_autokey_value(struct.pack("!II", 3, 0x12345678)) == (3, 0x12345678)
    assert parse_leap(struct.pack("!III", 37, 1, 2)) == (37, 1, 2)


def test_cve_2015_7702_field_length_shorter_than_header(vectors):
    """A length word below the value header (or not a multiple of 4) must not be parsed as a value."""
    from ntpd_py.wire.packet import PacketError

    pair = make_pair(vectors, "iff")
    pair.step()
    before = pair.flags
    assert before and not before & CryptoFlag.CERT
    bad = struct.pack("!II", 0x82020000 | 12, 38363) + bytes(4)  # a 12-byte CERT response: no value header
    # ntpd treats len < VALUE_LEN as an empty answer: nothing happens, no error, the request repeats
    _, cv = pair.step(lambda d: _raw_response(d, bad))
    peer = pair.assoc.auth_state
    assert cv.ok and pair.flags == before and not peer.errors and peer.xinfo is None
    assert pair.client.exchange.next_request(pair.client.state(pair.assoc), pair.now).code == Opcode.CERT
    for length in (14, 6, 2):  # not a multiple of 4, or shorter than the field header: the packet is dropped
        region = struct.pack("!II", 0x82020000 | length, 38363) + bytes(8)
        header = encode_header(NtpPacket(mode=4, stratum=5, poll=6))
        with pytest.raises(PacketError):
            decode(_raw_response(header + region + bytes(20), region))
    assert pair.run(8) == 0x87F23


def _snapshot(peer) -> dict:
    import copy
    from dataclasses import fields

    return {f.name: copy.deepcopy(getattr(peer, f.name)) for f in fields(peer) if f.name not in ("pkey", "ident_params")}


def test_cve_2015_7701_repeated_assoc_does_not_grow_state(vectors):
    """CRYPTO_ASSOC leaked memory per message: a repeated ASSOC response changes nothing in the association,
    and ASSOC requests from ever new associations leave nothing behind on the stateless server."""
    import gc
    import tracemalloc

    pair = make_pair(vectors, "iff")
    pair.step()
    peer = pair.assoc.auth_state
    before = _snapshot(peer)
    for _ in range(200):
        pair.client.exchange.receive(peer, ExtensionField(code=Opcode.ASSOC, associd=peer.assoc, response=True, tstamp=0, fstamp=0x80021, value=b"alice"), pair.now, 4)
    assert _snapshot(peer) == before

    from autokey_pair import FakeAssoc

    def assoc_requests(n: int, first: int) -> list[bytes]:
        out = []
        for i in range(first, first + n):
            assoc = FakeAssoc(1000 + i, ("10.99.0.1", 123), "10.99.0.2", 3, ident="alice")
            header = encode_header(NtpPacket(mode=3, stratum=10, poll=6))
            out.append(header + pair.client.request_tail(assoc, header, pair.now))
        return out

    def serve(requests: list[bytes]) -> None:
        for data in requests:
            pkt = decode(data)
            verdict = pair.server.check(pkt, data, ("10.99.0.2", 123), "10.99.0.1", None, pair.now)
            pair.server.reply_tail(pkt, verdict, ("10.99.0.2", 123), "10.99.0.1", data[:48], pair.now)

    serve(assoc_requests(50, 0))  # warm caches
    few, many = assoc_requests(10, 100), assoc_requests(400, 200)
    server_state = dict(vars(pair.server.host))
    gc.collect()
    tracemalloc.start()
    try:
        serve(few)
        gc.collect()
        small, _ = tracemalloc.get_traced_memory()
        serve(many)
        gc.collect()
        large, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert dict(vars(pair.server.host)).keys() == server_state.keys()
    assert large - small < 2000, (small, large)  # 390 more requests: not 8 bytes (one pointer) each


def test_cve_2015_7871_crypto_nak_never_authenticates(vectors):
    """NAK to the Future: a crypto-NAK must never be taken as an authenticated packet (symmetric passive)."""
    pair = make_pair(vectors, "iff")
    pair.run(7)
    for tamper in (_crypto_nak, _spoofed_nak):
        _, cv = pair.step(tamper)
        assert cv.verdict is Verdict.CRYPTO_NAK and not cv.ok
    # and on the server side, a request that is a bare crypto-NAK gets no answer that authenticates
    from ntpd_py.wire.packet import NtpPacket, encode_header

    for keyid in (0, 0x12345678):
        data = encode_header(NtpPacket(mode=1)) + struct.pack("!I", keyid)
        verdict = pair.server.check(decode(data), data, ("10.99.0.2", 123), "10.99.0.1", None, pair.now)
        assert verdict.verdict is Verdict.CRYPTO_NAK
    verdict = pair.server.check(decode(data), data, ("10.99.0.2", 123), "10.99.0.1", None, pair.now)
    assert verdict.verdict is Verdict.CRYPTO_NAK


def test_cve_2016_1547_spoofed_crypto_nak_does_not_reset(vectors):
    """A spoofed crypto-NAK could demobilize or reset an association: state must stay as it is."""
    pair = make_pair(vectors, "iff")
    assert pair.run(7) == 0x87F23
    peer = pair.assoc.auth_state
    cookie = peer.pcookie
    for _ in range(5):
        pair.step(_spoofed_nak)
    assert pair.flags == 0x87F23 and peer.pcookie == cookie


def test_cve_2016_4955_spoofed_packets_do_not_reset_autokey(vectors):
    """Spoofed server packets (bad MAC, or a new ASSOC from a 'restarted' server) must not reset the association."""
    pair = make_pair(vectors, "iff")
    assert pair.run(7) == 0x87F23

    def bad_mac(d):
        return d[:-1] + bytes([d[-1] ^ 1])

    _, cv = pair.step(bad_mac)
    assert cv.verdict is Verdict.ERROR and pair.flags == 0x87F23
    restarted = ExtensionField(code=Opcode.ASSOC, associd=999, response=True, tstamp=0, fstamp=0x80021, value=b"alice")
    _, cv = pair.step(lambda d: _reforge(d, lambda f: restarted) if decode(d).extensions else _raw_response(d, restarted.encode()))
    assert pair.flags == 0x87F23


def test_endless_certificate_trail_is_cut(vectors):
    """Each certificate signed by the next, never reaching a root: the trail stops at MAX_TRAIL."""
    from cryptography.hazmat.primitives.asymmetric import rsa as _rsa

    from ntpd_py.autokey.exchange import MAX_TRAIL
    from ntpd_py.keys.cert import build_certificate
    from ntpd_py.ntptime import NTP_UNIX_OFFSET

    pair = make_pair(vectors, "iff")
    pair.step()  # ASSOC: the client now asks for "alice"
    keys = [_rsa.generate_private_key(65537, 1024) for _ in range(MAX_TRAIL + 2)]
    chain = []
    for i in range(MAX_TRAIL + 1):
        subject = "alice" if i == 0 else f"ca{i}"
        chain.append(build_certificate(subject=subject, public_key=keys[i].public_key(), issuer=f"ca{i + 1}",
                                       signing_key=keys[i + 1], digest="md5", serial=i, not_before=int(VECTOR_NOW) - 600,
                                       not_after=int(VECTOR_NOW) + 86400))
    fstamp = int(VECTOR_NOW) - 3600 + NTP_UNIX_OFFSET
    for i, cert in enumerate(chain):
        resp = ExtensionField(code=Opcode.CERT, associd=38363, response=True, tstamp=fstamp + 10, fstamp=fstamp, value=cert.der)
        _, cv = pair.step(lambda d, r=resp: _reforge(d, lambda f: r))
        if i < MAX_TRAIL:
            assert cv.verdict is Verdict.OK, (i, pair.log[-2:])
    assert cv.verdict is Verdict.ERROR and pair.assoc.auth_state.last_event == Xevnt.CRT
    assert not pair.flags & CryptoFlag.CERT


@pytest.mark.parametrize("cut", [1, 10, 100, 300, -1])
def test_truncated_certificate_der_is_refused(vectors, cut):
    from autokey_vectors import host_cert
    from cryptography.hazmat.primitives import serialization

    pair = make_pair(vectors, "iff")
    pair.step()
    der = host_cert(vectors, "iff", "alice").public_bytes(serialization.Encoding.DER)
    truncated = der[:cut]
    _expect_rejected(pair, lambda d: _reforge(d, lambda f: replace(f, value=truncated) if f.code == Opcode.CERT else f), Xevnt.CRT)


def test_huge_value_is_refused_without_harm(vectors):
    pair = make_pair(vectors, "iff")
    _advance_to(pair, Opcode.IFF)
    _expect_rejected(pair, lambda d: _reforge(d, lambda f: replace(f, value=bytes(60000))), Xevnt.SIG)
