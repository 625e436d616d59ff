"""engine/: the sans-IO host driven through a simulated network (no sockets, simulated time)."""

from __future__ import annotations

import pytest
from core_sim import T0, SimNet, make_host

from ntpd_py.clock.select import SEL_SYSPEER
from ntpd_py.control.view import HostControlView
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.packet import decode, encode, NtpPacket

SERVER_CONF = "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\ntrustedkey 1 2\n"


def client_request(xmt: float = T0, version: int = 4, tail: bytes = b"") -> bytes:
    return encode(NtpPacket(version=version, mode=3, xmt=to_ntp64(xmt))) + tail


def sys_peer(host):
    return host.associations.get(host.sys.peer) if host.sys.peer else None


@pytest.mark.parametrize("keyid", [None, 1, 2], ids=["nokey", "md5", "sha1"])
def test_client_synchronises_to_server(keyid):
    net = SimNet()
    server = net.add("127.0.0.1", make_host(SERVER_CONF, "127.0.0.1"), offset=0.120)
    key = f" key {keyid}" if keyid else ""
    client = net.add("127.0.0.2", make_host(f"server 127.0.0.1 iburst{key}\ntrustedkey 1 2\n", "127.0.0.2"))
    net.run(T0, 30)
    peer = sys_peer(client)
    assert peer is not None and peer.srcadr == ("127.0.0.1", 123)
    assert peer.selection == SEL_SYSPEER and peer.authentic == (keyid is not None)
    assert abs(client.sys.offset - 0.120) < 0.002
    assert client.sys.stratum == 10 and server.sys.stratum == 9
    assert client.sys.refid == bytes([127, 0, 0, 1])
    assert peer.reach and peer.received >= 4 and client.counters["badauth"] == 0


def test_untrusted_key_gets_crypto_nak():
    net = SimNet()
    server = net.add("127.0.0.1", make_host(SERVER_CONF, "127.0.0.1"))
    client = net.add("127.0.0.2", make_host("server 127.0.0.1 iburst key 3\ntrustedkey 3\n", "127.0.0.2"))
    net.run(T0, 20)
    assert sys_peer(client) is None
    assert server.counters["badauth"] > 0 and client.counters["badauth"] > 0
    assoc = next(iter(client.associations.values()))
    assert assoc.reach == 0 and assoc.events.last == 12  # bad_auth


def test_symmetric_peers():
    net = SimNet()
    # as in ntpd, the local clock is a last resort unless `prefer`: a keeps it as its source with `prefer`
    a = net.add("127.0.0.1", make_host("server 127.127.1.0 prefer\nfudge 127.127.1.0 stratum 8\ntrustedkey 1\n"
                                       "peer 127.0.0.2 iburst key 1\n", "127.0.0.1"), offset=0.05)
    # b has its own (worse) local clock, so its packets are synchronised from the start and a can reach it
    b = net.add("127.0.0.2", make_host("server 127.127.1.0\nfudge 127.127.1.0 stratum 12\n"
                                       "peer 127.0.0.1 iburst key 1\ntrustedkey 1\n", "127.0.0.2"))
    net.run(T0, 40)
    peer = sys_peer(b)
    assert peer is not None and peer.hmode == 1 and peer.srcadr[0] == "127.0.0.1"
    assert abs(b.sys.offset - 0.05) < 0.002
    back = next(x for x in a.associations.values() if x.srcadr[0] == "127.0.0.2")
    assert back.reach and back.received > 0


def test_passive_association_mobilised_for_authenticated_active_peer():
    net = SimNet()
    a = net.add("127.0.0.1", make_host(SERVER_CONF, "127.0.0.1"))
    b = net.add("127.0.0.2", make_host("peer 127.0.0.1 iburst key 1\ntrustedkey 1\n", "127.0.0.2"))
    net.run(T0, 40)
    passive = [x for x in a.associations.values() if x.hmode == 2]
    assert len(passive) == 1 and not passive[0].configured
    assert sys_peer(b) is not None


def test_unauthenticated_active_peer_is_declined():
    a = make_host(SERVER_CONF, "127.0.0.1")
    pkt = encode(NtpPacket(mode=1, stratum=3, xmt=to_ntp64(T0)))
    assert a.receive_datagram(pkt, ("127.0.0.9", 123), "127.0.0.1", T0) == []
    assert all(x.hmode != 2 for x in a.associations.values()) and a.counters["declined"] == 1


def test_broadcast_server_and_client():
    net = SimNet()
    net.add("127.0.0.1", make_host(SERVER_CONF + "broadcast 127.0.0.2 key 1 minpoll 4\n", "127.0.0.1"), offset=0.03)
    client = net.add("127.0.0.2", make_host("broadcastclient\ntrustedkey 1\n", "127.0.0.2"))
    net.run(T0, 150, step=0.2)
    peer = sys_peer(client)
    assert peer is not None and peer.hmode == 6
    assert abs(client.sys.offset - 0.03) < 0.005


def test_orphan_root_is_synchronised_at_once():
    host = make_host("tos orphan 5\ntos orphanwait 0\n", "127.0.0.1")
    host.handle_timers(T0 + 0.1)
    assert (host.sys.leap, host.sys.stratum, host.sys.refid) == (0, 5, bytes([127, 0, 0, 1]))
    reply = decode(host.receive_datagram(client_request(), ("127.0.0.9", 40000), "127.0.0.1", T0 + 1)[0].data)
    assert reply.stratum == 5 and reply.leap == 0 and reply.mode == 4


def test_server_reply_fields():
    host = make_host(SERVER_CONF, "127.0.0.1")
    host.handle_timers(T0 + 2)
    req = client_request(T0 + 2.5, version=3)
    out = host.receive_datagram(req, ("127.0.0.9", 40000), "127.0.0.1", T0 + 3)
    reply = decode(out[0].data)
    assert out[0].dst == ("127.0.0.9", 40000)
    assert (reply.version, reply.mode, reply.stratum, reply.leap) == (3, 4, 9, 0)
    assert reply.org == to_ntp64(T0 + 2.5)
    assert abs(reply.rec - to_ntp64(T0 + 3)) < 1000
    assert reply.refid == bytes([127, 127, 1, 0])


@pytest.mark.parametrize("conf, expect_reply", [
    ("restrict default ignore\n", False),
    ("restrict default noserve\n", False),
    ("restrict default ignore\nrestrict 127.0.0.0 mask 255.0.0.0\n", True),
    ("restrict default\nrestrict 127.0.0.9 ignore\n", False),
    ("restrict default noquery\n", True),
])
def test_restrict_on_requests(conf, expect_reply):
    host = make_host(SERVER_CONF + conf, "127.0.0.1")
    out = host.receive_datagram(client_request(), ("127.0.0.9", 40000), "127.0.0.1", T0)
    assert bool(out) == expect_reply


def test_restrict_version():
    host = make_host(SERVER_CONF + "restrict default version\n", "127.0.0.1")
    assert host.receive_datagram(client_request(version=3), ("127.0.0.9", 1), "127.0.0.1", T0) == []
    assert host.receive_datagram(client_request(version=4), ("127.0.0.9", 1), "127.0.0.1", T0)


def test_restrict_noquery_keeps_control_away():
    calls = []
    host = make_host(SERVER_CONF + "restrict default noquery\n", "127.0.0.1",
                     control_handler=lambda data, src, now: calls.append(data) or [b"r"])
    mode6 = bytes([0x16, 1]) + b"\0" * 10
    assert host.receive_datagram(mode6, ("127.0.0.9", 1), "127.0.0.1", T0) == []
    open_host = make_host(SERVER_CONF, "127.0.0.1", control_handler=lambda data, src, now: [b"r"])
    assert open_host.receive_datagram(mode6, ("127.0.0.9", 1), "127.0.0.1", T0)[0].data == b"r"
    assert calls == []


def test_limited_kod_rate():
    host = make_host(SERVER_CONF + "restrict default limited kod\ndiscard average 3 minimum 2\n", "127.0.0.1")
    src = ("127.0.0.9", 40000)
    host.handle_timers(T0 + 2)
    first = host.receive_datagram(client_request(T0), src, "127.0.0.1", T0)
    assert decode(first[0].data).stratum == 9
    second = host.receive_datagram(client_request(T0 + 0.1), src, "127.0.0.1", T0 + 0.1)
    kod = decode(second[0].data)
    assert (kod.stratum, kod.leap, kod.refid) == (0, 3, b"RATE")
    assert host.counters["limited"] == 1 and host.counters["kodsent"] == 1


def test_limited_without_kod_is_silent():
    host = make_host(SERVER_CONF + "restrict default limited\n", "127.0.0.1")
    src = ("127.0.0.9", 40000)
    host.receive_datagram(client_request(T0), src, "127.0.0.1", T0)
    assert host.receive_datagram(client_request(T0), src, "127.0.0.1", T0 + 0.1) == []


def test_client_backs_off_on_rate_kod():
    host = make_host("server 127.0.0.1 iburst\n", "127.0.0.2")
    assoc = next(iter(host.associations.values()))
    out = host.handle_timers(assoc.next_poll)
    req = decode(out[0].data)
    kod = NtpPacket(leap=3, mode=4, stratum=0, poll=8, refid=b"RATE", org=req.xmt, rec=req.xmt, xmt=req.xmt)
    host.receive_datagram(encode(kod), ("127.0.0.1", 123), "127.0.0.2", assoc.next_poll + 0.01)
    assert assoc.hpoll >= 7


def test_bogus_and_duplicate_replies_dropped():
    host = make_host("server 127.0.0.1 iburst\n", "127.0.0.2")
    assoc = next(iter(host.associations.values()))
    now = assoc.next_poll
    req = decode(host.handle_timers(now)[0].data)
    reply = NtpPacket(mode=4, stratum=2, refid=b"\x0a\0\0\1", org=req.xmt + 1, rec=req.xmt, xmt=req.xmt + 5)
    host.receive_datagram(encode(reply), ("127.0.0.1", 123), "127.0.0.2", now + 0.01)
    assert host.counters["bogus"] == 1 and assoc.reach == 0
    reply.org = req.xmt
    host.receive_datagram(encode(reply), ("127.0.0.1", 123), "127.0.0.2", now + 0.01)
    assert assoc.reach == 1
    host.receive_datagram(encode(reply), ("127.0.0.1", 123), "127.0.0.2", now + 0.02)
    assert host.counters["duplicate"] == 1


def test_control_view_names_and_formats():
    net = SimNet()
    net.add("127.0.0.1", make_host(SERVER_CONF, "127.0.0.1"))
    client = net.add("127.0.0.2", make_host("server 127.0.0.1 iburst key 1\ntrustedkey 1\n", "127.0.0.2"))
    net.run(T0, 20)
    view = HostControlView(client)
    status = view.system_status()
    assert status >> 14 == 0 and (status >> 8) & 0x3F == 6  # leap_none, sync_ntp
    names = [n for n, _ in view.system_variables()]
    assert names[:12] == ["version", "processor", "system", "leap", "stratum", "precision", "rootdelay",
                          "rootdisp", "refid", "reftime", "clock", "peer"]
    sysvars = dict(view.system_variables())
    assert sysvars["refid"] == "127.0.0.1" and sysvars["stratum"] == "10"
    assert sysvars["reftime"].startswith("0x") and "." in sysvars["reftime"]
    (assid, pstatus), = view.associations()
    assert pstatus >> 8 == 0xF6  # conf, authenb, auth, reach, sys.peer
    pvars = dict(view.peer_variables(assid))
    assert pvars["srcadr"] == "127.0.0.1" and pvars["hmode"] == "3" and pvars["keyid"] == "1"
    assert pvars["reach"].startswith("0x") and len(pvars["filtdelay"].split()) == 8
    unknown = assid + 1
    assert view.peer_variables(unknown) is None and view.peer_status(unknown) is None
    assert view.peer_variables(assid) is not None
    named = dict(view.named_system_variables())
    assert int(named["ss_received"]) >= 4


def test_malformed_packets_counted():
    host = make_host(SERVER_CONF, "127.0.0.1")
    src = ("127.0.0.9", 5)
    bad = [b"", b"\x23", bytes([0x3B]) + b"\0" * 47, client_request() + b"\0\0", client_request() + b"\0" * 30,
           bytes([0x27]) + b"\0" * 47]
    for data in bad:
        assert host.receive_datagram(data, src, "127.0.0.1", T0) == []
    assert sum(host.malformed.values()) == 5
    named = dict(HostControlView(host).named_system_variables())
    assert named["ss_malformed"] == "5"


def test_iburst_then_unreachable_backoff():
    host = make_host("server 127.0.0.9 iburst minpoll 4 maxpoll 6\n", "127.0.0.2")
    assoc = next(iter(host.associations.values()))
    sent_times = []
    t = T0
    while t < T0 + 2000:
        t = max(t, host.next_timer())
        sent_times += [t for _ in host.handle_timers(t)]
        t += 0.01
    first_burst = [x - sent_times[0] for x in sent_times[:6]]
    assert first_burst == pytest.approx([0, 2, 4, 6, 8, 10], abs=0.05)  # iburst: 6 packets 2 s apart
    assert sent_times[6] - sent_times[5] >= 15  # then the poll interval
    assert assoc.reach == 0 and assoc.hpoll == 6  # backed off to maxpoll
    assert len(sent_times) < 60


def test_poll_interval_grows_when_stable():
    net = SimNet()
    net.add("127.0.0.1", make_host(SERVER_CONF, "127.0.0.1"))
    client = net.add("127.0.0.2", make_host("server 127.0.0.1 iburst minpoll 4 maxpoll 8\n", "127.0.0.2"))
    net.run(T0, 3000, step=0.5)
    assoc = next(iter(client.associations.values()))
    assert client.sys.peer == assoc.assid
    assert assoc.hpoll > 4 and client.sys.poll > 4
    assert assoc.reach == 0xFF


def test_quick_reply_matches_full_path_and_respects_restrict():
    host = make_host(SERVER_CONF + "restrict default kod nomodify notrap nopeer noquery\n"
                     "restrict 127.0.0.66 noserve\n", "127.0.0.1")
    host.handle_timers(T0 + 2)
    req = client_request(T0 + 2.5)
    quick = host.quick_reply(req, ("127.0.0.9", 5), T0 + 3)
    full = host.receive_datagram(req, ("127.0.0.9", 5), "127.0.0.1", T0 + 3)[0].data
    assert quick == full
    assert host.quick_reply(req, ("127.0.0.66", 5), T0 + 3) is None
    assert host.receive_datagram(req, ("127.0.0.66", 5), "127.0.0.1", T0 + 3) == []
    assert host.quick_reply(client_request(version=3), ("127.0.0.9", 5), T0 + 3) is None


def test_ipv6_client_server():
    net = SimNet()
    net.add("fd00::1", make_host(SERVER_CONF + "restrict -6 default noquery\n", "fd00::1"), offset=-0.2)
    client = net.add("fd00::2", make_host("server fd00::1 iburst key 2\ntrustedkey 2\n", "fd00::2"))
    net.run(T0, 20)
    peer = sys_peer(client)
    assert peer is not None and peer.srcadr[0] == "fd00::1"
    assert abs(client.sys.offset + 0.2) < 0.002
    assert len(client.sys.refid) == 4  # IPv6 refid: first 4 bytes of the MD5 of the address, as ntpd
    dict(HostControlView(client).peer_variables(peer.assid))


def test_orphan_peers_elect_one_parent():
    net = SimNet()
    conf = "tos orphan 5\ntos orphanwait 0\npeer {} iburst key 1\ntrustedkey 1\n"
    low = net.add("127.0.0.1", make_host(conf.format("127.0.0.2"), "127.0.0.1"))
    high = net.add("127.0.0.2", make_host(conf.format("127.0.0.1"), "127.0.0.2"), offset=0.03)
    net.run(T0, 40)
    assert low.sys.peer is None and low.sys.stratum == 5 and low.sys.orphan  # lowest address: the parent
    peer = sys_peer(high)
    assert peer is not None and peer.srcadr[0] == "127.0.0.1" and high.sys.stratum == 6
    assert abs(high.sys.offset + 0.03) < 0.002


def test_reload_replaces_keys_and_restrictions():
    from core_sim import config
    from ntpd_py.symkeys.keyfile import parse_keys
    from ntpd_py.wire.packet import encode_unsigned
    from ntpd_py.symkeys.mac import compute_mac

    host = make_host(SERVER_CONF + "restrict 127.0.0.9 ignore\n", "127.0.0.1")
    host.handle_timers(T0 + 2)
    assert host.receive_datagram(client_request(), ("127.0.0.9", 1), "127.0.0.1", T0 + 3) == []
    pkt = NtpPacket(mode=3, xmt=to_ntp64(T0 + 3), keyid=7)
    pkt.mac = compute_mac("MD5", b"seven", encode_unsigned(pkt))
    reply = decode(host.receive_datagram(encode(pkt), ("127.0.0.8", 1), "127.0.0.1", T0 + 3)[0].data)
    assert reply.is_crypto_nak  # key 7 unknown yet
    host.reload(config(SERVER_CONF.replace("trustedkey 1 2", "trustedkey 7")), parse_keys("7 MD5 seven\n"), T0 + 4)
    assert host.receive_datagram(client_request(), ("127.0.0.9", 1), "127.0.0.1", T0 + 5)
    reply = decode(host.receive_datagram(encode(pkt), ("127.0.0.8", 1), "127.0.0.1", T0 + 5)[0].data)
    assert reply.keyid == 7 and reply.mac == compute_mac("MD5", b"seven", encode_unsigned(reply))


def test_host_that_loses_its_server_becomes_an_orphan():
    """`tos orphan`: a host that was synchronised and lost its only server falls back to the orphan stratum (as
    it would have at start), instead of advertising the stratum of a source it no longer has."""
    net = SimNet()
    server = net.add("127.0.0.1", make_host("server 127.127.1.0\n", "127.0.0.1"))
    client = net.add("127.0.0.2", make_host("tos orphan 10\ntos orphanwait 0\nserver 127.0.0.1 iburst minpoll 4 "
                                            "maxpoll 4\n", "127.0.0.2"))
    net.run(T0, 30)
    assert client.sys.peer is not None and client.sys.stratum == server.sys.stratum + 1 and not client.sys.orphan
    del net.hosts["127.0.0.1"]  # the server is gone
    net.run(T0 + 30, 400)
    assert client.sys.peer is None and client.sys.orphan and client.sys.stratum == 10
