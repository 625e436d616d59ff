"""Two symmetric peers in one GQ group with cross-copied parameters (the ntp mailing-list recipe), in memory."""

from __future__ import annotations

import pytest
from autokey_pair import VECTOR_NOW, FakeAssoc
from cryptography.hazmat.primitives.asymmetric import rsa

from ntpd_py.autokey.authenticator import AutokeyAuth
from ntpd_py.autokey.flags import CryptoFlag
from ntpd_py.autokey.local_host import AutokeyHost, HostCredentials, IdentityKeys
from ntpd_py.engine.authenticator import Verdict
from ntpd_py.keys.cert import build_certificate, ntp_extensions
from ntpd_py.keys.identity import gq
from ntpd_py.ntptime import NTP_UNIX_OFFSET
from ntpd_py.wire.packet import NtpPacket, decode, encode_header

FSTAMP = int(VECTOR_NOW) - 3600 + NTP_UNIX_OFFSET


@pytest.fixture(scope="module")
def group():
    return gq.generate(512)


def _peer_host(name: str, group: gq.GqParams, log: list[str]) -> AutokeyHost:
    key = rsa.generate_private_key(65537, 1024)
    mine = group.with_new_key()
    cert = build_certificate(subject=name, public_key=key.public_key(), issuer=name, signing_key=key, digest="md5",
                             serial=FSTAMP, not_before=int(VECTOR_NOW) - 3600, not_after=int(VECTOR_NOW) + 365 * 86400,
                             extensions=ntp_extensions("trust", gq_public=mine.v))
    # cross-copied: each peer holds its own GQ key and the group's client parameters
    ident = IdentityKeys(gq=mine, gq_fstamp=FSTAMP, clients={("gq", "grp"): (group.client(), FSTAMP)})
    creds = HostCredentials(host_key=key, host_fstamp=FSTAMP, certificate=cert, cert_fstamp=FSTAMP, identity=ident)
    return AutokeyHost(creds, stats=lambda src, line: log.append(f"{name} {src} {line}"))


def _send(frm: AutokeyAuth, frm_assoc, to: AutokeyAuth, to_assoc, now):
    header = encode_header(NtpPacket(mode=frm_assoc.hmode, stratum=3, poll=6))
    data = header + frm.request_tail(frm_assoc, header, now)
    pkt = decode(data)
    return to.check(pkt, data, frm_assoc.srcadr[:0] + (frm_assoc.dstadr, 123), to_assoc.dstadr, to_assoc, now)


def test_symmetric_gq_peers_reach_full_flags(group):
    log: list[str] = []
    a, b = AutokeyAuth(_peer_host("ahost", group, log)), AutokeyAuth(_peer_host("bhost", group, log))
    now = VECTOR_NOW
    a.set_synchronized(True, now)
    b.set_synchronized(True, now)
    pa = FakeAssoc(1001, ("127.0.0.2", 123), "127.0.0.1", 1, ident="grp")  # a's association with b (active)
    pb = FakeAssoc(2002, ("127.0.0.1", 123), "127.0.0.2", 2, ident="grp")  # b's association with a (passive)
    for _ in range(20):
        _send(a, pa, b, pb, now)
        _send(b, pb, a, pa, now)
        now += 1
    want = CryptoFlag.CERT | CryptoFlag.VRFY | CryptoFlag.PROV | CryptoFlag.COOK | CryptoFlag.AUTO | CryptoFlag.SIGN | CryptoFlag.LEAP
    assert pa.auth_state.crypto & 0xFFFF == 0x7F41, (hex(pa.auth_state.crypto), log[-5:])
    assert pb.auth_state.crypto & 0xFFFF == 0x7F41, hex(pb.auth_state.crypto)
    assert pa.auth_state.crypto & want == want
    assert pa.auth_state.crypto >> 16 == 8  # md5WithRSAEncryption
    # both sides hold the same XOR cookie, and plain packets now authenticate along the key lists
    assert pa.auth_state.pcookie == pb.auth_state.pcookie != 0
    assert pa.auth_state.pcookie == pa.auth_state.hcookie ^ pb.auth_state.hcookie
    for _ in range(5):
        assert _send(a, pa, b, pb, now).verdict is Verdict.OK
        assert _send(b, pb, a, pa, now).verdict is Verdict.OK
        now += 1
    assert any(" gq ahost" in line for line in log) and any(" gq bhost" in line for line in log)


def test_symmetric_peer_without_group_key_is_refused(group):
    log: list[str] = []
    other = gq.generate(512)
    a, b = AutokeyAuth(_peer_host("ahost", group, log)), AutokeyAuth(_peer_host("bhost", other, log))
    now = VECTOR_NOW
    a.set_synchronized(True, now)
    b.set_synchronized(True, now)
    pa = FakeAssoc(1001, ("127.0.0.2", 123), "127.0.0.1", 1, ident="grp")
    pb = FakeAssoc(2002, ("127.0.0.1", 123), "127.0.0.2", 2, ident="grp")
    for _ in range(10):
        _send(a, pa, b, pb, now)
        _send(b, pb, a, pa, now)
        now += 1
    assert not pa.auth_state.crypto & CryptoFlag.VRFY and not pb.auth_state.crypto & CryptoFlag.VRFY
    # the first bad field ends the scan (as crypto_recv), so at least one side logs the group-key error
    assert 0x10E in (pa.auth_state.last_event, pb.auth_state.last_event)


def test_broadcast_server_pushes_signed_autokey_values_then_assoc(group):
    """Broadcast packets: cookie-0 session keys along the key list; the new list's autokey values first."""
    from ntpd_py.autokey.session import next_keyid, session_key
    from ntpd_py.wire.extension import Opcode, decode_field

    log: list[str] = []
    server = AutokeyAuth(_peer_host("bcast", group, log))
    server.set_synchronized(True, VECTOR_NOW)
    assoc = FakeAssoc(7, ("127.255.255.255", 123), "127.0.0.1", 5)
    codes, keyids = [], []
    for i in range(3):
        header = encode_header(NtpPacket(mode=5, stratum=3, poll=6))
        data = header + server.request_tail(assoc, header, VECTOR_NOW + i)
        pkt = decode(data)
        ext = decode_field(pkt.extensions[0])[0]
        codes.append((ext.code, ext.response))
        keyids.append(pkt.keyid)
        key = session_key("127.0.0.1", "127.255.255.255", pkt.keyid, 0)
        from ntpd_py.autokey.session import mac

        assert mac(key, pkt.keyid, data[: pkt.mac_covered])[4:] == pkt.mac
        if ext.code == Opcode.AUTO:
            from ntpd_py.autokey.session import parse_autokey_value

            seq, final = parse_autokey_value(ext.value)
            assert next_keyid("127.0.0.1", "127.255.255.255", pkt.keyid, 0) == final
    assert codes == [(Opcode.AUTO, True), (Opcode.ASSOC, True), (Opcode.ASSOC, True)]
    assert next_keyid("127.0.0.1", "127.255.255.255", keyids[1], 0) == keyids[0]


def test_broadcast_client_without_autokey_values_refuses_broadcasts(group):
    """A broadcast client accepts broadcasts only along the broadcaster's signed key list (the full exchange,
    volley first, is in test_autokey_broadcast.py); a cookie-0 MAC alone proves nothing."""
    from ntpd_py.autokey.session import mac, session_key

    log: list[str] = []
    client = AutokeyAuth(_peer_host("bclient", group, log))
    assoc = FakeAssoc(8, ("127.0.0.1", 123), "127.0.0.9", 6)
    client.state(assoc).bcast_assoc = 4321
    header = encode_header(NtpPacket(mode=5, stratum=3, poll=6))
    data = header + mac(session_key("127.0.0.1", "127.0.0.9", 70000, 0), 70000, header)
    verdict = client.check(decode(data), data, ("127.0.0.1", 123), "127.0.0.9", assoc, VECTOR_NOW)
    assert verdict.verdict is Verdict.ERROR and "autokey values" in verdict.reason
    assert assoc.auth_state.crypto == 0
