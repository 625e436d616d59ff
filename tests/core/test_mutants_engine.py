"""Tests written to kill surviving mutants of ntpd_py/engine/ (bench/mutation/run.py, issue 13).

Each asserts behaviour an operator or a peer can see (bytes out, counters, ntpq-visible variables) through NtpHost's
public methods, so that they survive refactors of the engine's internals.
"""

from __future__ import annotations

import random

import pytest
from core_sim import T0, SimNet, log_lines, make_host

from ntpd_py.clock.filter import PHI
from ntpd_py.control.view import HostControlView
from ntpd_py.engine.association import MODE_BCLIENT, MODE_PASSIVE, TEST_AUTOKEY
from ntpd_py.engine.authenticator import AuthResult, SymmetricKeyAuth, Verdict
from ntpd_py.engine.state import EPHEMERAL_MAX
from ntpd_py.engine.status import SST_LOCAL, SST_NTP
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.extension import ExtensionField, Opcode
from ntpd_py.wire.packet import NtpPacket, decode, encode, ntp_diff

SERVER_CONF = "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\ntrustedkey 1 2\n"


def _first_request(host, address: str = "127.0.0.1"):
    """The next packet `host` sends to `address` (its timers run until one leaves)."""
    now = T0
    while now < T0 + 600:
        now = max(now, host.next_timer())
        for out in host.handle_timers(now):
            if out.dst[0] == address:
                return decode(out.data), now
        now += 0.5
    raise AssertionError("no request sent")


# --- kiss codes (RFC 5905 section 7.4): a server's RATE/DENY/RSTR orders are obeyed ---------------------------------

def _kiss(code: bytes, poll: int = 7):
    client = make_host("server 127.0.0.1 minpoll 4 maxpoll 10\n", "127.0.0.2")
    request, now = _first_request(client)
    kod = encode(NtpPacket(leap=3, mode=4, stratum=0, poll=poll, refid=code, org=request.xmt, rec=request.xmt,
                           xmt=request.xmt))
    client.events()  # drop what came before
    assert client.receive_datagram(kod, ("127.0.0.1", 123), "127.0.0.2", now + 0.01) == []
    return client, next(iter(client.associations.values()), None), log_lines(client.events())


def test_rate_kiss_raises_the_poll_one_above_the_servers():
    client, assoc, log = _kiss(b"RATE", poll=7)
    assert assoc.hpoll == 8 and assoc.reach == 0  # max(kiss poll, minpoll) + 1, within maxpoll; no sample
    assert "127.0.0.1: kiss code RATE" in log and any(line.endswith(" 87 rate_exceeded") for line in log)


def test_rate_kiss_poll_is_capped_at_maxpoll():
    _, assoc, _ = _kiss(b"RATE", poll=14)
    assert assoc.hpoll == 10


@pytest.mark.parametrize("code", [b"DENY", b"RSTR"])
def test_deny_kiss_sends_a_configured_association_to_maxpoll(code):
    client, assoc, log = _kiss(code)
    assert assoc is not None and assoc.assid in client.associations  # configured: kept, as ntpd
    assert assoc.hpoll == 10 and f"127.0.0.1: kiss code {code.decode()}" in log
    assert any(line.endswith(" 88 access_denied") for line in log)


def test_unknown_kiss_code_is_no_order():
    client, assoc, log = _kiss(b"INIT")
    assert assoc.hpoll == 4 and not any("kiss code" in line for line in log)


# --- new symmetric peers (ntpd's AM_NEWPASS): restrict nopeer/noepeer/ippeerlimit, and the ephemeral cap -----------

def _active_packet() -> bytes:
    """A symmetric-active packet MAC'd with key 1, as a configured `peer ... key 1` sends it."""
    data = _first_request_bytes(make_host("peer 127.0.0.1 key 1\ntrustedkey 1\n", "127.0.0.9"))
    assert decode(data).mode == 1 and decode(data).keyid == 1
    return data


def _first_request_bytes(host) -> bytes:
    now = T0
    while True:
        now = max(now, host.next_timer())
        for out in host.handle_timers(now):
            return out.data
        now += 0.5


def _unauthenticated_active() -> bytes:
    return encode(NtpPacket(mode=1, stratum=3, poll=6, xmt=to_ntp64(T0)))


def _passives(host):
    return [a for a in host.associations.values() if a.hmode == MODE_PASSIVE]


@pytest.mark.parametrize("flag", ["nopeer", "notrust"])
def test_nopeer_and_notrust_let_only_an_authenticated_peer_in(flag):
    host = make_host(SERVER_CONF + f"restrict default {flag}\n", "127.0.0.1")
    for source in ("127.0.0.7", "127.0.0.8"):
        assert host.receive_datagram(_unauthenticated_active(), (source, 123), "127.0.0.1", T0 + 1) == []
    assert host.counters["restricted"] == 2 and host.counters["declined"] == 0 and not _passives(host)
    host.receive_datagram(_active_packet(), ("127.0.0.9", 123), "127.0.0.1", T0 + 1)
    assert [a.srcadr for a in _passives(host)] == [("127.0.0.9", 123)] and host.counters["restricted"] == 2


def test_unauthenticated_peer_is_declined_while_auth_is_enabled():
    host = make_host(SERVER_CONF, "127.0.0.1")
    for source in ("127.0.0.7", "127.0.0.8"):
        host.receive_datagram(_unauthenticated_active(), (source, 123), "127.0.0.1", T0 + 1)
    assert host.counters["declined"] == 2 and not _passives(host)
    host = make_host(SERVER_CONF + "disable auth\n", "127.0.0.1")
    host.receive_datagram(_unauthenticated_active(), ("127.0.0.7", 123), "127.0.0.1", T0 + 1)
    assert len(_passives(host)) == 1 and host.counters["declined"] == 0


def test_peer_with_a_bad_mac_is_counted_and_not_mobilised():
    data = bytearray(_active_packet())
    data[-1] ^= 1
    host = make_host(SERVER_CONF, "127.0.0.1")
    for source in ("127.0.0.7", "127.0.0.8"):
        host.receive_datagram(bytes(data), (source, 123), "127.0.0.1", T0 + 1)
    assert host.counters["badauth"] == 2 and not _passives(host)


def test_limited_flood_of_new_peers_is_counted_per_source():
    host = make_host(SERVER_CONF + "restrict default limited\n", "127.0.0.1")
    data = _active_packet()
    for i in range(30):  # one source, 10 packets a second: the bucket refuses most before any MAC is computed
        host.receive_datagram(data, ("127.0.0.9", 123 + i), "127.0.0.1", T0 + 1 + i / 10)
    limited = host.counters["limited"]
    assert limited >= 20 and len(_passives(host)) + limited == 30
    host.receive_datagram(data, ("127.0.0.10", 123), "127.0.0.1", T0 + 4)  # another source has its own bucket
    assert host.counters["limited"] == limited


def test_symmetric_key_65535_is_not_an_autokey_session_key():
    keys = "65535 MD5 top-key\n"
    host = make_host(SERVER_CONF.replace("trustedkey 1 2", "trustedkey 65535"), "127.0.0.1", keys=keys)
    peer = make_host("peer 127.0.0.1 key 65535\ntrustedkey 65535\n", "127.0.0.9", keys=keys)
    host.receive_datagram(_first_request_bytes(peer), ("127.0.0.9", 123), "127.0.0.1", T0 + 1)
    (assoc,) = _passives(host)
    assert assoc.keyid == 65535 and not assoc.autokey


def test_noepeer_refuses_symmetric_active_even_authenticated():
    host = make_host(SERVER_CONF + "restrict default noepeer\n", "127.0.0.1")
    for source in ("127.0.0.7", "127.0.0.8"):
        host.receive_datagram(_active_packet(), (source, 123), "127.0.0.1", T0 + 1)
    assert not _passives(host) and host.counters["declined"] == 2 and host.counters["restricted"] == 0


def test_ippeerlimit_bounds_associations_per_address():
    host = make_host(SERVER_CONF + "restrict default ippeerlimit 2\n", "127.0.0.1")
    data = _active_packet()
    for port in (123, 124, 125, 126):
        host.receive_datagram(data, ("127.0.0.9", port), "127.0.0.1", T0 + 1)
    host.receive_datagram(data, ("127.0.0.10", 123), "127.0.0.1", T0 + 1)  # another address: its own count
    assert sorted(a.srcadr for a in _passives(host)) == [("127.0.0.10", 123), ("127.0.0.9", 123), ("127.0.0.9", 124)]
    assert host.counters["declined"] == 2


def test_ephemeral_associations_are_capped():
    host = make_host(SERVER_CONF, "127.0.0.1")
    data = _active_packet()
    for i in range(EPHEMERAL_MAX + 6):
        host.receive_datagram(data, (f"127.0.1.{i + 1}", 123), "127.0.0.1", T0 + 1)
    assert len(_passives(host)) == EPHEMERAL_MAX and host.counters["declined"] == 6


# --- the RATE kiss a limited client gets (ntpd's fast_xmit for a KoD) ----------------------------------------------

@pytest.mark.parametrize("version, poll, kod_poll, tail", [
    (4, 10, 10, b""), (3, 2, 3, b""),
    (4, -6, 3, b""),  # chrony's sub-second polling: a signed poll
    (4, 6, 6, (1).to_bytes(4, "big") + bytes(16)),  # a MAC'd request: the KoD is still a bare 48-byte header
], ids=["v4", "v3", "negative-poll", "maced"])
def test_rate_kiss_answers_in_the_clients_version_and_poll(version, poll, kod_poll, tail):
    host = make_host(SERVER_CONF + "restrict default limited kod\n", "127.0.0.1")
    host.handle_timers(T0 + 2)
    src = ("127.0.0.9", 40000)
    kods = []
    for i in range(60):  # one a second: the bucket fills in about 13 s, then a KoD every few seconds
        now = T0 + 3 + i
        data = encode(NtpPacket(version=version, mode=3, poll=poll, precision=-20, xmt=to_ntp64(now))) + tail
        for out in host.receive_datagram(data, src, "127.0.0.1", now):
            reply = decode(out.data)
            if reply.refid == b"RATE":
                assert out.dst == src and out.src == "127.0.0.1" and len(out.data) == 48
                kods.append((reply, to_ntp64(now)))
    assert kods and host.counters["kodsent"] == len(kods) >= 2
    for kod, xmt in kods:
        assert (kod.version, kod.mode, kod.leap, kod.stratum) == (version, 4, 3, 0)
        assert kod.poll == kod_poll  # the client's poll, or `discard average` (3) when that is higher
        assert kod.org == kod.rec == kod.xmt == xmt  # every timestamp is the request's transmit time


# --- a client's sample (RFC 5905 section 8): the on-wire arithmetic, as ntpq's filtoffset/filtdelay/filtdisp --------

def test_client_sample_is_the_on_wire_arithmetic():
    client = make_host("server 127.0.0.1 minpoll 4\n", "127.0.0.2")
    for n in (1, 2):
        request, now = _first_request(client)
        t1 = request.xmt
        t4_time = now + 0.004  # 4 ms round trip; the server is 20 ms ahead and takes 1 ms
        reply = NtpPacket(leap=0, mode=4, stratum=2, poll=4, precision=-10, refid=b"\x7f\0\0\x01",
                          reftime=to_ntp64(now - 30), org=t1, rec=to_ntp64(now + 0.022), xmt=to_ntp64(now + 0.023))
        client.receive_datagram(encode(reply), ("127.0.0.1", 123), "127.0.0.2", t4_time)
        t4 = to_ntp64(t4_time)
        assert client.counters["processed"] == n
    assoc = next(iter(client.associations.values()))
    offset = (ntp_diff(reply.rec, t1) + ntp_diff(reply.xmt, t4)) / 2
    delay = ntp_diff(t4, t1) - ntp_diff(reply.xmt, reply.rec)
    disp = 2.0**-10 + 2.0**client.sys.precision + PHI * ntp_diff(t4, t1)
    newest = assoc.filter.stages()[0]  # (delay, offset, dispersion), most recent first
    assert newest[0] == pytest.approx(delay, abs=1e-9) and newest[1] == pytest.approx(offset, abs=1e-9)
    assert newest[2] == pytest.approx(disp, abs=1e-10)
    assert offset == pytest.approx(0.0205, abs=1e-6) and assoc.reach


def test_iburst_volley_starts_at_the_first_good_reply():
    # the volley is six packets (NTP_IBURST) 2 s apart, counted from the first good reply; then the 64-s poll.
    # Without iburst: one packet per poll. (Seeded: when the first reply comes before the server is synchronised,
    # the volley starts one packet later.)
    for option, sent in (("iburst", 6), ("", 1)):
        net = SimNet()
        net.add("127.0.0.1", make_host(SERVER_CONF, "127.0.0.1", rng=random.Random(1)))
        client = net.add("127.0.0.2", make_host(f"server 127.0.0.1 {option} minpoll 6\n", "127.0.0.2",
                                                rng=random.Random(2)))
        net.run(T0, 30)
        assoc = next(iter(client.associations.values()))
        assert (assoc.sent, assoc.received) == (sent, sent), option
        assert assoc.reach and client.next_timer() >= T0 + 60


# --- `restrict notrust` on a server: only authenticated client requests are answered ------------------------------

def _request(tail: bytes = b"") -> bytes:
    return encode(NtpPacket(mode=3, poll=6, xmt=to_ntp64(T0))) + tail


def test_notrust_server_answers_only_authenticated_requests():
    server = make_host(SERVER_CONF + "restrict default notrust\n", "127.0.0.1")
    client = make_host("server 127.0.0.1 key 1\ntrustedkey 1\n", "127.0.0.2")
    for source in ("127.0.0.7", "127.0.0.8"):  # plain 48-byte requests (the quick path) and a 52-byte one
        assert server.receive_datagram(_request(), (source, 123), "127.0.0.1", T0 + 1) == []
    for source in ("127.0.0.5", "127.0.0.6"):
        assert server.receive_datagram(_request(bytes(4)), (source, 123), "127.0.0.1", T0 + 1) == []
    assert server.counters["restricted"] == 2 and server.counters["badauth"] == 2  # (a crypto-NAK is no request)
    # longer requests without a MAC (an extension field; the full path) are refused and counted the same way
    unsigned = _request(ExtensionField(code=Opcode.ASSOC, value=b"client", tstamp=1).encode())
    for source in ("127.0.0.4", "127.0.0.5"):
        assert server.receive_datagram(unsigned, (source, 123), "127.0.0.1", T0 + 1) == []
    assert server.counters["restricted"] == 4
    maced = _first_request_bytes(client)
    (out,) = server.receive_datagram(maced, ("127.0.0.2", 123), "127.0.0.1", T0 + 1)
    reply = decode(out.data)
    assert out.dst == ("127.0.0.2", 123) and out.src == "127.0.0.1" and reply.keyid == 1 and reply.mode == 4
    assert server.counters["restricted"] == 4


def test_untrusted_key_is_answered_with_a_crypto_nak_and_counted():
    server = make_host(SERVER_CONF, "127.0.0.1")
    client = make_host("server 127.0.0.1 key 3\ntrustedkey 3\n", "127.0.0.2")  # key 3: not trusted by the server
    maced = _first_request_bytes(client)
    for source in ("127.0.0.7", "127.0.0.8"):
        (out,) = server.receive_datagram(maced, (source, 123), "127.0.0.1", T0 + 1)
        assert len(out.data) == 52 and out.data[48:] == bytes(4) and out.src == "127.0.0.1"
    assert server.counters["badauth"] == 2


def test_plain_request_reply_leaves_from_the_address_it_came_to():
    server = make_host(SERVER_CONF, "127.0.0.1")
    (out,) = server.receive_datagram(_request(), ("127.0.0.7", 123), "127.0.0.1", T0 + 1)
    assert out.dst == ("127.0.0.7", 123) and out.src == "127.0.0.1"


def test_without_limited_a_fast_client_is_always_answered():
    # the rate limiter applies only to sources restrict marks `limited`
    server = make_host(SERVER_CONF, "127.0.0.1")
    maced = _first_request_bytes(make_host("server 127.0.0.1 key 1\ntrustedkey 1\n", "127.0.0.2"))
    for i in range(50):
        for data in (_request(), maced):
            assert len(server.receive_datagram(data, ("127.0.0.7", 123), "127.0.0.1", T0 + 1 + i / 10)) == 1
    assert server.counters["limited"] == 0 and server.counters["kodsent"] == 0


# --- a symmetric-key broadcast client: volley, then listen (ntpd's AM_NEWBCL without broadcastdelay) --------------

def test_broadcast_client_volley_then_listening():
    net = SimNet(delay=0.002)
    net.add("127.0.0.1", make_host(SERVER_CONF.replace("trustedkey 1 2", "trustedkey 1")
                                   + "broadcast 127.0.0.2 key 1 minpoll 3\n", "127.0.0.1", rng=random.Random(1)))
    client = net.add("127.0.0.2", make_host("broadcastclient\ntrustedkey 1\n", "127.0.0.2", rng=random.Random(2)))
    log: list[str] = []
    for second in range(40):
        net.run(T0 + second, 1)
        log += log_lines(client.events())
        assoc = next(iter(client.associations.values()), None)
        if assoc is not None and assoc.hmode == MODE_BCLIENT and not assoc.bcast_volley:
            break
    assert assoc.hmode == MODE_BCLIENT and not assoc.configured and assoc.dstadr == "127.0.0.2"
    assert (assoc.minpoll, assoc.maxpoll, assoc.keyid) == (3, 3, 1)
    assert not assoc.iburst and assoc.burst_left == 0 and assoc.sent == 1  # the first sample ends the volley
    assert assoc.bcast_delay == pytest.approx(2 * net.delay, abs=2e-5)
    assert "127.0.0.1: broadcast client volley done, listening" in log
    assert any(line.startswith("127.0.0.1: broadcast delay calibrated: 0.0040") for line in log)
    sent, now = assoc.sent, T0 + second + 1
    net.run(now, 30)
    assert assoc.sent == sent and client.sys.peer == assoc.assid  # listening only


# --- ntpd's TEST8: an association whose authenticator has not proven the server's identity gets no sample ----------

class _ProofPending(SymmetricKeyAuth):
    """An authenticator whose MACs verify but whose identity proof never completes (an Autokey exchange stuck
    before PROV): the engine's side of the seam, without Autokey's crypto."""

    def check(self, packet, data, src, dst, assoc, now):
        return AuthResult(Verdict.OK, packet.keyid)

    def proven(self, assoc) -> bool:
        return not assoc.autokey


def test_unproven_association_gets_no_sample_but_stays_configured():
    client = make_host("server 127.0.0.1 autokey minpoll 4 maxpoll 10\n", "127.0.0.2")
    client.authenticator = _ProofPending()
    assoc = next(iter(client.associations.values()))
    for n in (1, 2):
        request, now = _first_request(client)
        reply = NtpPacket(leap=0, mode=4, stratum=2, poll=4, precision=-10, org=request.xmt,
                          rec=to_ntp64(now + 0.01), xmt=to_ntp64(now + 0.011))
        assoc.unreach = 3
        client.receive_datagram(encode(reply), ("127.0.0.1", 123), "127.0.0.2", now + 0.004)
        assert (assoc.received, assoc.unproven, client.counters["notproven"]) == (n, n, n)
        assert assoc.flash == TEST_AUTOKEY and assoc.reach == 0 and assoc.unreach == 0  # configured: kept alive
    assert client.counters["processed"] == 0 and client.sys.peer is None
    # a RATE kiss is obeyed before the proof (ntpd: before TEST8), so the exchange itself is paced
    request, now = _first_request(client)
    kod = NtpPacket(leap=3, mode=4, stratum=0, poll=7, refid=b"RATE", org=request.xmt, rec=request.xmt,
                    xmt=request.xmt)
    client.receive_datagram(encode(kod), ("127.0.0.1", 123), "127.0.0.2", now + 0.004)
    assert assoc.hpoll == 8 and assoc.unproven == 3


def test_served_requests_are_counted_and_never_leave_before_they_came():
    # the transmit stamp is read from send_clock; a send clock behind the receive time (stepped back) must not
    # give a reply that leaves before it arrived
    server = make_host(SERVER_CONF, "127.0.0.1", send_clock=lambda: T0 - 5)
    server.receive_datagram(_request(), ("127.0.0.7", 123), "127.0.0.1", T0 + 1)
    (out,) = server.receive_datagram(_request(), ("127.0.0.7", 123), "127.0.0.1", T0 + 1)
    reply = decode(out.data)
    assert reply.xmt == reply.rec == to_ntp64(T0 + 1) and reply.org == to_ntp64(T0)
    assert server.counters["processed"] == 2


# --- `tos orphan`: with no source after orphanwait, serve as stratum N (ntpd's orphan mode) -------------------------

class _Recording(SymmetricKeyAuth):
    def __init__(self) -> None:
        super().__init__()
        self.synchronized_calls: list[bool] = []

    def synchronized(self, synchronized: bool, now: float) -> None:
        self.synchronized_calls.append(synchronized)


def _orphan_host(extra: str = ""):
    host = make_host("server 127.0.0.99 minpoll 4\ntos orphan 10 orphanwait 5\n" + extra, "127.0.0.1")
    host.authenticator = _Recording()
    return host


def test_orphan_mode_after_orphanwait_without_a_source():
    host = _orphan_host()
    host.handle_timers(T0 + 4.9)
    assert host.sys.stratum != 10 and not host.authenticator.synchronized_calls
    now = T0 + 4.9
    while host.sys.stratum != 10 and now < T0 + 30:
        now = max(now + 0.1, host.next_timer())
        host.handle_timers(now)
    assert host.sys.stratum == 10 and now >= T0 + 5 and host.sys.leap == 0
    assert host.sys.offset == 0.0 and host.sys.jitter == 0.0  # ntpq's offset and sys_jitter
    assert host.authenticator.synchronized_calls[-1:] == [True]  # Autokey may sign now
    assert "orphan mode: stratum 10" in log_lines(host.events())
    (out,) = host.receive_datagram(_request(), ("127.0.0.7", 123), "127.0.0.1", now + 1)
    reply = decode(out.data)
    assert (reply.stratum, reply.leap, reply.refid) == (10, 0, b"\x7f\0\0\x01")
    assert reply.root_delay == reply.root_dispersion == 0


def test_a_host_with_no_source_wakes_for_orphanwait_and_then_sleeps():
    host = make_host("tos orphan 10 orphanwait 5\n", "127.0.0.1")
    assert host.next_timer() == pytest.approx(T0 + 5)  # nothing else to do: the timer is the orphan wake-up
    host.handle_timers(host.next_timer())
    assert host.sys.stratum == 10
    assert host.next_timer() >= T0 + 60  # orphan now: no more wake-ups for it


# --- restrict lines as parsed and looked up: per-family defaults, masks, lines not enforced, the own address -------

def _served(host, source: str, local: str = "127.0.0.1") -> bool:
    """Does `host` answer a plain client request from `source` (the full path)?"""
    return bool(host.receive_datagram(_request(bytes(0)), (source, 123), local, T0 + 1))


def _quick_served(host, source: str) -> bool:
    return host.quick_reply(_request(), (source, 123), T0 + 1) is not None


def test_restrict_per_family_defaults_apply_to_their_family_only():
    host = make_host(SERVER_CONF + "restrict -6 default ignore\n", "127.0.0.1")
    assert not _served(host, "::2", "::1") and not _quick_served(host, "::2")
    assert _served(host, "127.0.0.7") and _quick_served(host, "127.0.0.7")
    host = make_host(SERVER_CONF + "restrict -4 default ignore\n", "127.0.0.1")
    assert not _served(host, "127.0.0.7") and not _quick_served(host, "127.0.0.7")
    assert _served(host, "::2", "::1") and _quick_served(host, "::2")
    host = make_host(SERVER_CONF + "restrict default ignore\n", "127.0.0.1")  # both families
    assert not _served(host, "127.0.0.7") and not _served(host, "::2", "::1")
    host = make_host(SERVER_CONF + "restrict default ignore\nrestrict -6 default\n", "127.0.0.1")
    assert not _served(host, "127.0.0.7") and _served(host, "::2", "::1")


def test_restrict_mask_covers_the_whole_network_from_any_address_in_it():
    host = make_host(SERVER_CONF + "restrict 127.0.5.9 mask 255.255.255.0 ignore\n", "127.0.0.1")
    assert not _served(host, "127.0.5.1") and not _served(host, "127.0.5.200") and _served(host, "127.0.6.1")
    assert not _quick_served(host, "127.0.5.1") and _quick_served(host, "127.0.6.1")


def test_restrict_more_specific_entry_wins():
    host = make_host(SERVER_CONF + "restrict 127.0.0.0 mask 255.0.0.0 ignore\nrestrict 127.0.0.7\n", "127.0.0.1")
    assert _served(host, "127.0.0.7") and not _served(host, "127.0.0.8")


def test_restrict_lines_not_enforced_are_logged_and_the_rest_still_apply():
    text = SERVER_CONF + "restrict source noquery\nrestrict ntp.example.org ignore\nrestrict 127.0.0.8 ignore\n"
    host = make_host(text, "127.0.0.1", resolve=lambda name: None)
    log = log_lines(host.events())
    assert any("restrict source: only addresses and default are enforced, ignored" in line for line in log)
    assert any("restrict ntp.example.org: only addresses and default are enforced" in line for line in log)
    assert _served(host, "127.0.0.7") and not _served(host, "127.0.0.8")  # `source` is not a default


def test_ippeerlimit_zero_admits_no_peer_from_the_address():
    host = make_host(SERVER_CONF + "restrict default ippeerlimit 0\n", "127.0.0.1")
    host.receive_datagram(_active_packet(), ("127.0.0.9", 123), "127.0.0.1", T0 + 1)
    assert not _passives(host) and host.counters["declined"] == 1


def test_own_interface_address_is_never_restricted_unless_named_exactly():
    host = make_host(SERVER_CONF + "restrict default ignore\nrestrict 127.0.0.9 noquery\n", "127.0.0.1")
    assert _served(host, "127.0.0.1") and not _served(host, "127.0.0.7")
    host = make_host(SERVER_CONF + "restrict default ignore\nrestrict 127.0.0.1 noserve\n", "127.0.0.1")
    assert not _served(host, "127.0.0.1") and host.counters["restricted"] >= 1


# --- receive_datagram's dispatch: what each kind of datagram is counted as (ntpq's ss_* drop counters) -------------

def _drops(host) -> dict[str, int]:
    return {name: int(value) for name, value in HostControlView(host).drop_counters()}


def _shape(version: int, mode: int, length: int = 48) -> bytes:
    return bytes([(version << 3) | mode]) + bytes(length - 1)


def test_malformed_datagrams_are_counted_by_their_reason():
    host = make_host(SERVER_CONF, "127.0.0.1")
    for data in (b"", b"", _shape(0, 3), _shape(5, 3), _shape(2, 0), _shape(3, 0)):
        assert host.receive_datagram(data, ("127.0.0.7", 123), "127.0.0.1", T0 + 1) == []
    drops = _drops(host)
    assert drops["ss_malformed_short"] == 2 and drops["ss_malformed_version"] == 2 and drops["ss_malformed_mode"] == 2
    assert drops["ss_badversion"] == 2 and drops["ss_badformat"] == 6 and host.counters["received"] == 6
    assert host.counters["oldver"] == 2 and host.counters["thisver"] == 0


def test_versions_one_to_three_are_old_and_served_version_one_mode_zero_as_a_client():
    host = make_host(SERVER_CONF, "127.0.0.1")
    for version in (1, 3):
        (out,) = host.receive_datagram(_shape(version, 3), ("127.0.0.7", 123), "127.0.0.1", T0 + 1)
        assert decode(out.data).version == version and decode(out.data).mode == 4
    (out,) = host.receive_datagram(_shape(1, 0), ("127.0.0.7", 123), "127.0.0.1", T0 + 1)  # full path
    assert decode(out.data).mode == 4 and decode(out.data).version == 1
    assert host.counters["oldver"] == 3 and host.counters["thisver"] == 0 and host.counters["badversion"] == 0
    assert host.receive_datagram(_shape(4, 3), ("127.0.0.7", 123), "127.0.0.1", T0 + 1)
    assert host.counters["thisver"] == 1 and host.counters["oldver"] == 3


def test_restrict_version_refuses_old_versions_and_counts_them():
    host = make_host(SERVER_CONF + "restrict default version\n", "127.0.0.1")
    for _ in range(2):
        assert host.receive_datagram(_shape(3, 3), ("127.0.0.7", 123), "127.0.0.1", T0 + 1) == []
    assert host.counters["restricted"] == 2 and host.counters["oldver"] == 2
    assert host.receive_datagram(_shape(4, 3), ("127.0.0.8", 123), "127.0.0.1", T0 + 1)


def test_ignore_and_noserve_are_counted_restricted_and_ignore_is_not_monitored():
    host = make_host(SERVER_CONF + "restrict 127.0.0.7 ignore\nrestrict 127.0.0.8 noserve\n", "127.0.0.1")
    for source in ("127.0.0.7", "127.0.0.7", "127.0.0.8"):
        assert host.receive_datagram(_shape(4, 3), (source, 123), "127.0.0.1", T0 + 1) == []
    assert host.counters["restricted"] == 3
    assert [entry[0] for entry in host.mru.entries()] == ["127.0.0.8:123"]  # ntpq mrulist: no ignored source


def test_mode7_is_counted_and_never_answered():
    host = make_host(SERVER_CONF, "127.0.0.1")
    for _ in range(2):
        assert host.receive_datagram(_shape(2, 7), ("127.0.0.7", 123), "127.0.0.1", T0 + 1) == []
    assert host.counters["mode7"] == 2 and host.counters["badformat"] == 0


def _control_host(extra: str = "", handler=None):
    calls = []

    def echo(data, src, now):
        calls.append((data, src, now))
        return [b"reply:" + data]

    host = make_host(SERVER_CONF + extra, "127.0.0.1", control_handler=handler or echo)
    return host, calls


def test_mode6_goes_to_the_control_handler_and_its_replies_back_to_the_source():
    host, calls = _control_host()
    request = _shape(2, 6, 12)
    (out,) = host.receive_datagram(request, ("127.0.0.7", 4000), "127.0.0.1", T0 + 1)
    assert out.data == b"reply:" + request and out.dst == ("127.0.0.7", 4000) and out.src == "127.0.0.1"
    assert calls == [(request, ("127.0.0.7", 4000), T0 + 1)]
    host.receive_datagram(request, ("127.0.0.7", 4000), "127.0.0.1", T0 + 2)
    assert host.counters["control"] == 2 and host.counters["restricted"] == 0


@pytest.mark.parametrize("flag", ["ignore", "noquery"])
def test_mode6_refused_by_ignore_or_noquery_is_counted(flag):
    host, calls = _control_host(f"restrict default {flag}\n")
    for _ in range(2):
        assert host.receive_datagram(_shape(2, 6, 12), ("127.0.0.7", 4000), "127.0.0.1", T0 + 1) == []
    assert not calls and host.counters["control"] == 2 and host.counters["restricted"] == 2


def test_mode6_flood_from_a_limited_source_is_dropped_per_address():
    host, calls = _control_host("restrict default limited\n")
    answered = sum(bool(host.receive_datagram(_shape(2, 6, 12), ("127.0.0.7", 4000 + i), "127.0.0.1", T0 + i * 0.01))
                   for i in range(40))
    limited = host.counters["limited"]
    assert 0 < answered < 40 and limited == 40 - answered  # every port of one address shares a bucket
    assert host.receive_datagram(_shape(2, 6, 12), ("127.0.0.8", 4000), "127.0.0.1", T0 + 0.5)


def test_a_failing_control_handler_is_counted_and_logged_once_per_interval():
    def broken(data, src, now):
        raise RuntimeError("responder bug")

    host, _ = _control_host(handler=broken)
    host.events()
    for i in range(2):
        assert host.receive_datagram(_shape(2, 6, 12), ("127.0.0.7", 4000), "127.0.0.1", T0 + 1 + i) == []
    assert _drops(host)["ss_control_errors"] == 2
    log = [line for line in log_lines(host.events()) if "control request" in line]
    assert log and log[0].startswith("control request from 127.0.0.7 failed: RuntimeError")


def test_new_symmetric_peer_polls_between_6_and_10_from_the_address_it_reached():
    host = make_host(SERVER_CONF, "127.0.0.1")
    host.receive_datagram(_active_packet(), ("127.0.0.9", 123), "127.0.0.1", T0 + 1)
    (assoc,) = _passives(host)
    assert (assoc.minpoll, assoc.maxpoll, assoc.keyid, assoc.configured) == (6, 10, 1, False)
    variables = dict(HostControlView(host).peer_variables(assoc.assid))
    assert variables["dstadr"] == "127.0.0.1" and variables["keyid"] == "1" and variables["hmode"] == "2"
    for _ in range(2):  # refusals are counted one each
        host.receive_datagram(_unauthenticated_active(), ("127.0.0.7", 123), "127.0.0.1", T0 + 2)
    assert host.counters["declined"] == 2


# --- a client's system variables after it synchronised (ntpd's clock_update) ---------------------------------------

def test_clients_system_variables_follow_its_server():
    net = SimNet(delay=0.004)
    net.add("127.0.0.1", make_host("server 127.127.1.0\nfudge 127.127.1.0 stratum 0\n", "127.0.0.1",
                                   rng=random.Random(1)))
    client = net.add("127.0.0.2", make_host("server 127.0.0.1 iburst minpoll 4\n", "127.0.0.2",
                                            rng=random.Random(2)), offset=0.05)
    net.run(T0, 120)
    s, peer = client.sys, next(iter(client.associations.values()))
    assert client.sys.peer is not None and s.stratum == 2 and s.source != 0
    assert s.refid == bytes([127, 0, 0, 1])  # not a primary server: the refid is its server's address
    assert s.root_delay == pytest.approx(peer.root_delay + 0.008, abs=1e-3) and s.root_delay > 0.007
    assert abs(s.offset) == pytest.approx(0.05, abs=1e-3)
    assert s.root_dispersion >= peer.root_dispersion + abs(s.offset) + s.jitter


@pytest.mark.parametrize("stratum", [1, 8])
def test_server_on_its_local_clock_names_it_by_address_and_as_a_local_source(stratum):
    net = SimNet()
    conf = f"server 127.127.1.0\nfudge 127.127.1.0 stratum {stratum}\n"
    server = net.add("127.0.0.1", make_host(conf, "127.0.0.1", rng=random.Random(1)))
    net.run(T0, 120)
    s = server.sys
    assert s.peer is not None and s.stratum == stratum + 1 and s.source == SST_LOCAL != SST_NTP
    assert s.refid == bytes([127, 127, 1, 0])  # ntpd's addr2refid: only a stratum-1 server shows the clock's refid


def test_new_symmetric_peer_keeps_the_peers_version():
    data = _first_request_bytes(make_host("peer 127.0.0.1 key 1 version 3\ntrustedkey 1\n", "127.0.0.9"))
    assert decode(data).version == 3
    host = make_host(SERVER_CONF, "127.0.0.1")
    out = host.receive_datagram(data, ("127.0.0.9", 123), "127.0.0.1", T0 + 1)
    (assoc,) = _passives(host)
    assert assoc.version == 3 and all(decode(o.data).version == 3 for o in out)
