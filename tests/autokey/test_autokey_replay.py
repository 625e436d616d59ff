"""Interop by replay: the reference server's captured answers drive our client state machine to the reference's
final flags, and our server answers the reference client's captured requests acceptably."""

from __future__ import annotations

import pytest
from autokey_pair import load_creds
from autokey_vectors import captured_packets

from ntpd_py.autokey import schemes
from ntpd_py.autokey.authenticator import AutokeyAuth
from ntpd_py.autokey.exchange import Exchange, PeerAutokey
from ntpd_py.autokey.local_host import AutokeyHost
from ntpd_py.engine.authenticator import Verdict
from ntpd_py.ntptime import NTP_UNIX_OFFSET
from ntpd_py.wire.extension import Opcode
from ntpd_py.wire.packet import decode

FINAL = {"iff": 0x87F23, "gq": 0x87F43, "mv": 0x87F83, "iff-noident": 0x87F23}


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv", "iff-noident"])
def test_reference_server_answers_drive_our_client_to_reference_flags(vectors, scheme):
    packets = captured_packets(vectors, scheme)
    host = AutokeyHost(load_creds(vectors, scheme, "bob"))
    host.synchronized = True
    exchange = Exchange(host)
    first = packets[0].fields[0]
    ident = None if scheme == "iff-noident" else "alice"
    peer = PeerAutokey(first.associd, 3, ident=ident)
    seen_flags = []
    for pkt in packets:
        if not pkt.fields:
            continue
        ext = pkt.fields[0]
        stamp = ext.tstamp or packets[1].fields[0].tstamp
        now = float(stamp - NTP_UNIX_OFFSET)
        if not ext.response:
            if ext.code in (Opcode.IFF, Opcode.GQ, Opcode.MV):
                exchange._challenge(peer, 0)  # load the parameters as our client would
                peer.iffval = schemes.parse_challenge(ext.value)  # the reference client's challenge
            continue
        exchange.receive(peer, ext, now, 4)
        seen_flags.append(peer.crypto)
    assert peer.crypto == FINAL[scheme], [hex(f) for f in seen_flags]
    # the same sequence of flag values bob logged (poll.log), minus those it never saw between polls
    poll_log = (vectors / scheme / "poll.log").read_text()
    for flags in seen_flags:
        assert f"0x{flags:x}" in poll_log or str(flags) in poll_log


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_our_server_accepts_reference_client_requests_and_answers_verify(vectors, scheme):
    packets = captured_packets(vectors, scheme)
    alice = AutokeyHost(load_creds(vectors, scheme, "alice"))
    server = AutokeyAuth(alice)
    client_host = AutokeyHost(load_creds(vectors, scheme, "bob"))
    client = Exchange(client_host)
    peer = PeerAutokey(packets[0].fields[0].associd, 3, ident="alice")
    answered = 0
    for pkt in packets:
        if pkt.src != "10.99.0.2" or not pkt.fields:
            continue
        ext = pkt.fields[0]
        now = float((ext.tstamp or packets[1].fields[0].tstamp) - NTP_UNIX_OFFSET)
        server.set_synchronized(True, now)
        request = decode(pkt.raw)
        verdict = server.check(request, pkt.raw, (pkt.src, 123), pkt.dst, None, now)
        assert verdict.verdict is Verdict.OK  # the reference client's MAC verifies with our session keys
        tail = server.reply_tail(request, verdict, (pkt.src, 123), pkt.dst, pkt.raw[:48], now)
        reply = decode(pkt.raw[:48] + tail)
        from ntpd_py.wire.extension import decode_field

        answer = decode_field(reply.extensions[0])[0]
        assert answer.response and not answer.error and answer.code == ext.code
        if ext.code in (Opcode.IFF, Opcode.GQ, Opcode.MV):
            client._challenge(peer, 0)
            peer.iffval = schemes.parse_challenge(ext.value)
        client.receive(peer, answer, now, 4)
        answered += 1
    assert answered == 6
    assert peer.crypto == FINAL[scheme]


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_our_client_requests_carry_the_reference_values(vectors, scheme):
    """ASSOC, CERT, COOK and SIGN requests: same value bytes and (for ASSOC) the same status word as bob's."""
    packets = captured_packets(vectors, scheme)
    requests = {p.fields[0].code: p.fields[0] for p in packets if p.fields and not p.fields[0].response}
    host = AutokeyHost(load_creds(vectors, scheme, "bob"))
    exchange = Exchange(host)
    peer = PeerAutokey(requests[Opcode.ASSOC].associd, 3, ident="alice")
    assoc = exchange.next_request(peer, 0.0)
    assert assoc.encode() == requests[Opcode.ASSOC].encode()  # unsynchronized: tstamp 0, byte-identical
    now = float(requests[Opcode.COOK].tstamp - NTP_UNIX_OFFSET)
    host.set_synchronized(True, now)
    peer.crypto, peer.issuer = 0x81021, "alice"
    cert = exchange.next_request(peer, now)
    assert cert.code == Opcode.CERT and cert.value == requests[Opcode.CERT].value and cert.length == requests[Opcode.CERT].length
    peer.crypto = 0x81321
    cook = exchange.next_request(peer, now)
    assert cook.value == requests[Opcode.COOK].value and len(cook.signature) == len(requests[Opcode.COOK].signature)
    peer.crypto = 0x81F21
    sign = exchange.next_request(peer, now)
    assert sign.code == Opcode.SIGN and sign.value == requests[Opcode.SIGN].value and sign.fstamp == requests[Opcode.SIGN].fstamp
    peer.crypto = 0x83F21
    assert exchange.next_request(peer, now).encode() == requests[Opcode.LEAP].encode()
