"""engine/restrict.py: ntpd 4.2.8's limiter (ntp_monitor.c), `discard` parameters, and KoDs spaced by it.

The expected sequences are worked out by hand from ntp_monitor.c's arithmetic (head = 2^average, limit =
8 heads, interval = seconds rounded to the nearest, 2-s grace per headway), not by re-running our code.
"""

from __future__ import annotations

import random

from core_sim import T0, make_host

from ntpd_py.engine.restrict import Limit, RestrictTable
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.packet import NtpPacket, decode, encode

SERVER_CONF = "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\n"
SRC = ("127.0.0.9", 40000)


def request(xmt: float) -> bytes:
    return encode(NtpPacket(version=4, mode=3, xmt=to_ntp64(xmt)))


def verdicts(table: RestrictTable, times: list[float], address: str = "127.0.0.9") -> list[Limit]:
    return [table.monitor(address, t) for t in times]


def test_two_second_client_gets_fifteen_packets_then_one_kod():
    # leak after packet k (k >= 2) is 4k - 2; packet k+1 passes while 4k + 4 < 64, i.e. up to packet 15
    table = RestrictTable()
    out = verdicts(table, [T0 + 2 * i for i in range(18)])
    assert out[:15] == [Limit.OK] * 15
    assert out[15] == Limit.KOD  # the bucket jumps to limit + head = 72
    assert out[16:] == [Limit.LIMITED, Limit.LIMITED]  # 70, 68: still >= 64, so no second kiss
    assert table.leak("127.0.0.9") == 68


def test_minimum_counts_whole_seconds():
    # ntpd rounds the interval: 0.5 s is one second (passes minimum 2 with its 1-s grace), 0.49 s is zero
    assert verdicts(RestrictTable(), [T0, T0 + 0.5, T0 + 1.0]) == [Limit.OK, Limit.OK, Limit.OK]
    assert verdicts(RestrictTable(), [T0, T0 + 0.49]) == [Limit.OK, Limit.KOD]
    assert verdicts(RestrictTable(minimum=3), [T0, T0 + 1.0]) == [Limit.OK, Limit.KOD]


def test_average_parameter_scales_the_bucket():
    # average 4: head 16, limit 128; packets 16 s apart add 16 - 16 - 2 < 0 each: never limited
    table = RestrictTable(average=4)
    assert set(verdicts(table, [T0 + 16 * i for i in range(200)])) == {Limit.OK}
    # 8 s apart add 6 each: leak 6k + 2 after packet k (k >= 2); k + 1 passes while 6k + 10 < 128: 20 pass
    out = verdicts(RestrictTable(average=4), [T0 + 8 * i for i in range(24)])
    assert out[:20] == [Limit.OK] * 20 and out[20] == Limit.KOD
    # the default (average 3) at 4 s spacing adds 2 a packet: about 30 packets, then limited
    out = verdicts(RestrictTable(), [T0 + 4 * i for i in range(40)])
    assert out[:28] == [Limit.OK] * 28 and Limit.KOD in out


def test_kods_are_spaced_by_the_average_headway():
    # one packet a second for 100 s: after the burst every packet is limited, but a KoD goes out only when
    # the bucket has drained below the limit again: 9 s after the previous one (72 -> 63), as ntpd does
    out = verdicts(RestrictTable(), [T0 + i for i in range(100)])
    kod_at = [i for i, v in enumerate(out) if v is Limit.KOD]
    assert len(kod_at) >= 8 and all(b - a == 9 for a, b in zip(kod_at, kod_at[1:]))
    assert out.count(Limit.LIMITED) > 70
    # a fast flood (100/s) rounds every interval to 0 s: the bucket never drains, one KoD in all
    out = verdicts(RestrictTable(), [T0 + i / 100 for i in range(3000)])
    assert out.count(Limit.KOD) == 1 and out.count(Limit.LIMITED) > 2900


def test_monitor_age_decides_who_leaves_a_full_table():
    table = RestrictTable(capacity=2, monitor_age=100, rng=random.Random(1))
    table.monitor("10.0.0.1", T0)
    table.monitor("10.0.0.2", T0)
    # the oldest is 1 s old and the table full: a newcomer is mostly not tracked (never limited meanwhile)
    untracked = sum(table.monitor(f"10.1.0.{i}", T0 + 1) is Limit.OK and table.leak(f"10.1.0.{i}") is None
                    for i in range(50))
    assert untracked >= 40
    # older than `discard monitor`: the oldest entry gives way
    table.monitor("10.0.0.9", T0 + 500)
    assert table.leak("10.0.0.9") == 0


def test_engine_sends_few_kods_to_a_flood():
    host = make_host(SERVER_CONF + "restrict default limited kod\n", "127.0.0.1")
    host.handle_timers(T0 + 2)
    sent = []
    for i in range(2000):
        now = T0 + 3 + i / 100
        sent += host.receive_datagram(request(now), SRC, "127.0.0.1", now)
    kods = [decode(o.data) for o in sent if decode(o.data).refid == b"RATE"]
    assert host.counters["limited"] > 1900
    assert 1 <= host.counters["kodsent"] == len(kods) <= 4
    assert all(k.stratum == 0 and k.leap == 3 and k.poll >= 3 for k in kods)


def test_discard_line_sets_the_limiter():
    host = make_host(SERVER_CONF + "restrict default limited kod\ndiscard average 5 minimum 4 monitor 600\n",
                     "127.0.0.1")
    assert (host.restrict.average, host.restrict.minimum, host.restrict.monitor_age) == (5, 4, 600)
    host.handle_timers(T0 + 2)
    assert host.receive_datagram(request(T0 + 3), SRC, "127.0.0.1", T0 + 3)
    # 2 s later: below `minimum 4` (with its 1-s grace): a RATE kiss whose poll asks for 2^5 s
    kod = decode(host.receive_datagram(request(T0 + 5), SRC, "127.0.0.1", T0 + 5)[0].data)
    assert kod.refid == b"RATE" and kod.poll == 5


def test_reload_keeps_the_buckets():
    conf = SERVER_CONF + "restrict default limited kod\n"
    host = make_host(conf, "127.0.0.1")
    host.handle_timers(T0 + 2)
    for i in range(20):
        host.receive_datagram(request(T0 + 3 + i * 0.6), SRC, "127.0.0.1", T0 + 3 + i * 0.6)
    before = host.restrict.leak(SRC[0])
    assert before and before >= 64
    host.reload(host.config, {}, T0 + 20)
    assert host.restrict.leak(SRC[0]) == before


def test_limited_sources_cost_no_authentication():
    """The limiter runs before the authenticator, as in ntpd: a flood of MAC'd requests is not verified."""
    host = make_host(SERVER_CONF + "restrict default limited\n", "127.0.0.1")
    calls = []
    original = host.authenticator.check

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    host.authenticator.check = counting  # type: ignore[method-assign]
    tail = (1).to_bytes(4, "big") + bytes(16)
    for i in range(100):
        host.receive_datagram(request(T0 + i / 100) + tail, SRC, "127.0.0.1", T0 + i / 100)
    assert host.counters["limited"] >= 90
    assert len(calls) <= 10


def test_mode6_from_limited_sources_cannot_amplify():
    """A 12-byte `rv 0` from a source without `noquery` draws a long answer; from a `limited` source the
    limiter bounds the answers a spoofed victim receives (ntpd 4.2.8 would answer all; ntpsec limits too)."""
    answer = b"x" * 1340
    host = make_host(SERVER_CONF + "restrict default limited kod\nrestrict 127.0.0.1\n", "127.0.0.1",
                     control_handler=lambda data, src, now: [answer])
    rv0 = bytes([0x16, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    victim = ("192.0.2.99", 123)
    sent = 0
    for i in range(1000):  # 100 spoofed requests a second for 10 s
        out = host.receive_datagram(rv0, victim, "127.0.0.1", T0 + i / 100)
        assert all(o.data == answer for o in out)  # never a KoD for mode 6
        sent += sum(len(o.data) for o in out)
    # the bucket takes about ten back to back (head - 2 = 6 s each, limit 64), then one per drained headway
    assert sent <= 1340 * 12
    assert host.counters["limited"] >= 985
    # ntpq's burst from a limited source (READSTAT, then a READVAR per association) is answered in full
    ntpq = ("198.51.100.7", 40123)
    assert all(host.receive_datagram(rv0, ntpq, "127.0.0.1", T0 + 100 + i / 1000) for i in range(8))
    # an exempt monitoring host (no `limited`) is answered every time, as before
    local = sum(bool(host.receive_datagram(rv0, ("127.0.0.1", 4000 + i), "127.0.0.1", T0 + i / 100))
                for i in range(50))
    assert local == 50


def test_live_daemon_kisses_a_flood_once(tmp_path):
    """A real daemon with `restrict default limited kod`: 600 requests from one source in a few seconds are
    nearly all refused, and the kisses stay few (issue 10: ss_kodsent used to equal ss_limited)."""
    import socket

    from core_daemons import NtpdPy, wait_until

    from conftest import free_loopback
    from ntpd_py.control.client import ControlClient

    address, flooder = free_loopback(), free_loopback(0)
    daemon = NtpdPy(tmp_path, "server", address, SERVER_CONF + "restrict default limited kod\n"
                    "restrict 127.0.0.1\n").start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((flooder, 0))
            sock.settimeout(0.01)
            kisses = 0
            for i in range(600):
                sock.sendto(request(T0 + i), (address, 123))
                try:
                    kisses += decode(sock.recv(512)).refid == b"RATE"
                except (TimeoutError, OSError):
                    pass
        def counters():
            with ControlClient(address, timeout=1.0, retries=2) as client:
                values = client.read_system(["ss_limited", "ss_kodsent"])
            return values if int(values["ss_limited"]) >= 580 else None

        values = wait_until(counters, 5)
        assert values, "the daemon did not count the flood as limited"
        assert 1 <= int(values["ss_kodsent"]) <= 3 and kisses <= int(values["ss_kodsent"])
    finally:
        daemon.stop()
