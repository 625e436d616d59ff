"""Autokey in broadcast mode, end to end in memory: a broadcaster and a `broadcastclient` NtpHost (sans-IO,
fake clock, real crypto).  The client runs a client/server volley (Autokey ASSOC..LEAP plus the broadcaster's
AUTO values, delay calibration), then listens; spoofed broadcasts never raise or lower a flag bit nor reset it."""

from __future__ import annotations

import secrets

import pytest
from autokey_broadcast import CLIENT, SERVER, BroadcastNet, broadcast_assoc, make_net
from autokey_pair import VECTOR_NOW, load_creds

from ntpd_py.autokey.flags import CryptoFlag
from ntpd_py.autokey.session import autokey_value, mac, session_key
from ntpd_py.autokey.signature import sign
from ntpd_py.engine.association import MODE_BCLIENT, MODE_BROADCAST
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.extension import ExtensionField, Opcode, decode_field
from ntpd_py.wire.packet import NtpPacket, decode, encode_header

IFF_FLAGS = 0x87F23  # as a unicast IFF client of a server with a leap table: CRYPTO_FLAG_ALL and the status word


def _listening(net: BroadcastNet):
    assoc = broadcast_assoc(net.client)
    return assoc is not None and assoc.hmode == MODE_BCLIENT and assoc.bcast_delay is not None


@pytest.fixture
def listening(vectors):
    net, stats = make_net(vectors)
    net.run(40, until=lambda: _listening(net))
    assert _listening(net), net.client.events()
    return net, stats


def _snapshot(net: BroadcastNet):
    assoc = broadcast_assoc(net.client)
    peer = assoc.auth_state
    return (assoc.assid, assoc.hmode, assoc.authentic, assoc.reach, assoc.offset, assoc.delay, assoc.updated,
            assoc.bcast_delay, assoc.rec, peer.crypto, peer.pkeyid, peer.recval, peer.assoc, net.client.sys.peer)


def _forge(net: BroadcastNet, *, keyid: int | None = None, fields: bytes | None = None, ahead: float = 1.0,
           tamper_mac: bool = False) -> bytes:
    """A broadcast 'from the server' as anyone can make it: cookie-0 session keys are public."""
    genuine = decode(net.to_client[-1])
    header = encode_header(NtpPacket(leap=0, mode=MODE_BROADCAST, stratum=genuine.stratum, poll=genuine.poll,
                                     precision=genuine.precision, refid=genuine.refid, reftime=genuine.reftime,
                                     xmt=to_ntp64(net.now + net.offset + ahead)))
    region = b"".join(genuine.extensions) if fields is None else fields
    keyid = keyid if keyid is not None else 0x10000 + secrets.randbelow(0xFFFF0000)
    trailer = mac(session_key(SERVER, CLIENT, keyid, 0), keyid, header + region)
    if tamper_mac:
        trailer = trailer[:-1] + bytes([trailer[-1] ^ 1])
    return header + region + trailer


def test_broadcast_client_runs_the_volley_then_listens_with_full_flags(vectors):
    net, stats = make_net(vectors)
    net.run(40, until=lambda: _listening(net))
    assoc = broadcast_assoc(net.client)
    peer = assoc.auth_state
    assert assoc.hmode == MODE_BCLIENT and not assoc.configured and assoc.autokey and assoc.ident == "alice"
    assert peer.crypto == IFF_FLAGS
    server_bcast = next(a for a in net.server.associations.values() if a.hmode == MODE_BROADCAST)
    assert peer.assoc == peer.bcast_assoc == server_bcast.assid  # AUTO values asked by the broadcaster's ID
    assert peer.recval is not None and peer.pkeyid is not None
    # the volley measured the delay: twice the one-way 0.5 ms, not the default broadcastdelay of 4 ms
    assert assoc.bcast_delay == pytest.approx(2 * net.delay, abs=2e-5)
    assert net.now - VECTOR_NOW < 20  # volley and first calibrated broadcast within a few broadcast polls
    client_lines = [line.split(" ", 2)[2] for line in stats if line.startswith(CLIENT)]
    steps = [line.split()[0] for line in client_lines if line.split()[0] in ("assoc", "cert", "iff", "cook", "auto",
                                                                             "sign", "leap")]
    assert steps == ["assoc", "cert", "iff", "cook", "auto", "sign", "leap"]
    # then it keeps listening through a new key list (100 keys of 8 s each, then a signed AUTO)
    received = assoc.received
    net.run(900, step=0.25)
    assert broadcast_assoc(net.client) is assoc and assoc.hmode == MODE_BCLIENT
    assert assoc.received - received >= 100 and peer.crypto == IFF_FLAGS
    assert net.client.counters["badauth"] == 0 and net.client.authenticator.counters["keylist"] == 0
    assert sum(1 for line in stats if line.startswith(CLIENT) and " auto seq " in line) == 2
    assert net.client.sys.peer == assoc.assid and abs(net.client.sys.offset - net.offset) < 0.002
    assert net.client.counters["sent"] == assoc.sent  # listening: nothing sent after the volley


def test_spoofed_key_id_off_the_chain_is_dropped_without_reset(listening):
    net, _ = listening
    before = _snapshot(net)
    for _ in range(5):
        assert net.deliver(_forge(net)) == []
    assert _snapshot(net) == before
    assert net.client.authenticator.counters["keylist"] == 5 and net.client.counters["badauth"] == 5
    received = broadcast_assoc(net.client).received
    net.run(20, step=0.25)  # the real broadcasts still verify: the spoofs did not advance the chain
    assert broadcast_assoc(net.client).received > received
    assert net.client.authenticator.counters["keylist"] == 5


def test_bad_mac_broadcast_is_dropped(listening):
    net, _ = listening
    before = _snapshot(net)
    genuine = net.to_client[-1]
    tampered = genuine[:-1] + bytes([genuine[-1] ^ 1])
    assert net.deliver(tampered, at=net.now + 1) == []
    assert net.deliver(_forge(net, tamper_mac=True)) == []
    assert _snapshot(net) == before and net.client.counters["badauth"] == 2


def test_replayed_broadcasts_are_dropped(listening):
    net, _ = listening
    net.run(40, step=0.25)
    before = _snapshot(net)
    for old in net.to_client[-4:]:
        if decode(old).mode == MODE_BROADCAST:
            assert net.deliver(old) == []
    assert _snapshot(net) == before


def test_forged_autokey_values_do_not_replace_the_key_list(listening, vectors):
    """An AUTO field signed with some other key (here: the client's own) fails the signature check."""
    net, _ = listening
    peer = broadcast_assoc(net.client).auth_state
    before = _snapshot(net)
    wrong_key = load_creds(vectors, "iff", "bob").host_key
    keyid = 0x12345678
    value = autokey_value(50, keyid)
    tstamp = peer.recval[0] + 100
    signed = tstamp.to_bytes(4, "big") + peer.recval[1].to_bytes(4, "big") + len(value).to_bytes(4, "big") + value
    forged = ExtensionField(code=Opcode.AUTO, associd=peer.bcast_assoc, response=True, tstamp=tstamp,
                            fstamp=peer.recval[1], value=value, signature=sign(wrong_key, signed))
    assert net.deliver(_forge(net, keyid=keyid, fields=forged.encode())) == []
    assert _snapshot(net) == before and peer.last_event  # recorded (cryptostats, crypto_event), nothing changed


def test_cve_2016_4955_spoofed_broadcasts_do_not_reset_the_association(listening):
    """CVE-2016-4955 class: spoofed packets (crypto-NAK, bad MAC, off-chain key ID, a 'restarted' broadcaster's
    ASSOC with another association ID, no MAC) must not clear the broadcast association or its flags."""
    net, _ = listening
    assoc = broadcast_assoc(net.client)
    before = _snapshot(net)
    genuine = net.to_client[-1]
    restarted = ExtensionField(code=Opcode.ASSOC, associd=999, response=True, tstamp=0, fstamp=0x80021, value=b"alice")
    spoofs = [
        _forge(net, fields=b"")[:48] + bytes(4),  # crypto-NAK
        genuine[:-1] + bytes([genuine[-1] ^ 0x80]),  # bad MAC
        _forge(net),  # key ID off the chain
        _forge(net, fields=restarted.encode()),  # a "restarted" broadcaster
        _forge(net, fields=b"")[:48],  # no MAC at all
    ]
    for data in spoofs:
        assert net.deliver(data) == []
    assert _snapshot(net) == before and broadcast_assoc(net.client) is assoc
    received = assoc.received
    net.run(20, step=0.25)
    assert assoc.received > received and assoc.auth_state.crypto == IFF_FLAGS


def test_spoofed_nak_during_the_volley_changes_nothing(vectors):
    net, _ = make_net(vectors)
    net.run(40, until=lambda: (a := broadcast_assoc(net.client)) is not None and a.auth_state is not None
            and a.auth_state.crypto & CryptoFlag.CERT)
    assoc = broadcast_assoc(net.client)
    flags = assoc.auth_state.crypto
    nak = encode_header(NtpPacket(mode=4, stratum=5, poll=3, org=assoc.aorg, xmt=to_ntp64(net.now))) + bytes(4)
    assert net.deliver(nak) == []
    assert broadcast_assoc(net.client) is assoc and assoc.auth_state.crypto == flags
    net.run(40, until=lambda: _listening(net))
    assert _listening(net) and assoc.auth_state.crypto == IFF_FLAGS


def test_autokey_broadcast_without_an_association_message_does_not_mobilise(vectors):
    net, _ = make_net(vectors)
    net.run(5)
    data = encode_header(NtpPacket(leap=0, mode=MODE_BROADCAST, stratum=6, poll=3, xmt=to_ntp64(net.now)))
    keyid = 0x55555555
    data += mac(session_key(SERVER, CLIENT, keyid, 0), keyid, data)
    assert net.deliver(data, src="10.99.0.77") == []
    assert all(a.srcadr[0] != "10.99.0.77" for a in net.client.associations.values())


def test_broadcast_server_answers_auto_requests_with_its_broadcast_values(listening):
    net, _ = listening
    bcast = next(a for a in net.server.associations.values() if a.hmode == MODE_BROADCAST)
    peer = broadcast_assoc(net.client).auth_state
    seq, key = peer.recval[2], peer.recval[3]
    sent = decode_field(bcast.auth_state.sndval.field(Opcode.AUTO, bcast.assid).encode())[0]
    assert sent.value == autokey_value(seq, key)


def _symmetric_pair(server_conf: str, client_conf: str) -> BroadcastNet:
    from ntpd_py.symkeys.keyfile import parse_keys
    from ntpd_py.config.parser import parse_text
    from ntpd_py.engine.host import NtpHost

    keys = parse_keys("1 MD5 secret-md5\n")
    hosts = [NtpHost(parse_text(conf, "t.conf").config, VECTOR_NOW, keys=keys, local_addresses=[addr])
             for conf, addr in ((server_conf, SERVER), (client_conf, CLIENT))]
    return BroadcastNet(*hosts)


@pytest.mark.parametrize("answered", [True, False], ids=["volley", "volley-unanswered"])
def test_symmetric_key_broadcast_client_measures_or_falls_back(answered):
    """Without Autokey too: the volley measures the delay; when the server never answers, the client listens
    anyway with `broadcastdelay`."""
    net = _symmetric_pair(f"server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ntrustedkey 1\nbroadcast {CLIENT} key 1 "
                          "minpoll 3\n" + ("" if answered else f"restrict {CLIENT} noserve\n"),
                          "broadcastclient\ntrustedkey 1\n")
    net.run(80, step=0.1, until=lambda: (a := broadcast_assoc(net.client)) is not None and a.hmode == MODE_BCLIENT
            and not a.bcast_volley)
    assoc = broadcast_assoc(net.client)
    assert assoc is not None and assoc.hmode == MODE_BCLIENT
    if answered:
        assert assoc.bcast_delay == pytest.approx(2 * net.delay, abs=2e-5)
    else:
        assert assoc.bcast_delay is None and assoc.sent >= 6
    net.run(40, step=0.1)
    assert net.client.sys.peer == assoc.assid and abs(net.client.sys.offset - net.offset) < 0.003


def test_configured_broadcastdelay_skips_the_volley_without_autokey():
    net = _symmetric_pair(f"server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ntrustedkey 1\nbroadcast {CLIENT} key 1 "
                          "minpoll 3\n", "broadcastclient\nbroadcastdelay 0.001\ntrustedkey 1\n")
    net.run(30, step=0.1)
    assoc = broadcast_assoc(net.client)
    assert assoc.hmode == MODE_BCLIENT and assoc.sent == 0 and assoc.bcast_delay is None


def test_autokey_peer_variables_show_the_received_autokey_values(vectors):
    """Mutation survivor (issue 13): initsequence, initkey and timestamp are the received autokey values'
    sequence, last key ID and timestamp (ntpd's CP_INITSEQ, CP_INITKEY, CP_INITTSP), not the filestamp."""
    net, _ = make_net(vectors)
    net.run(40, until=lambda: _listening(net))
    assoc = broadcast_assoc(net.client)
    tstamp, fstamp, seq, key = assoc.auth_state.recval
    assert tstamp != fstamp
    variables = dict(net.client.authenticator.peer_variables(assoc))
    assert variables["initsequence"] == str(seq) and variables["initkey"] == f"0x{key:x}"
    assert variables["timestamp"] == str(tstamp)
