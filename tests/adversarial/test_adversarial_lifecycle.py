"""Association lifecycle as ntpd 4.2.8p15: ephemeral associations do not outlive their peers.

The real engine with Autokey, fed spoofed packets (bench/abuse/flood.py's bytes) at a simulated time.
Before the fix, ephemeral associations made by a flood were still there after 15 minutes, and a broadcast
client that never heard a good broadcast stayed forever.
"""

from __future__ import annotations

import random

import pytest
from adversary import autokey_engine, make_group
from test_adversarial_strangers import SERVER, T0, flood_module

from ntpd_py.engine.state import EPHEMERAL_MAX
from ntpd_py.wire.packet import NtpPacket, encode_header
from ntpd_py.ntptime import to_ntp64


@pytest.fixture(scope="module")
def keysdir(tmp_path_factory):
    return make_group(tmp_path_factory.mktemp("lifecycle"), clients=())["alice"]


def run_timers(host, until: float) -> None:
    now = T0 + 1
    while now < until:
        now = max(now, host.next_timer())
        host.handle_timers(now)
        now += 0.001


def ephemeral(host) -> list:
    return [a for a in host.associations.values() if not a.configured]


def test_flooded_ephemeral_associations_are_demobilized_even_when_the_spoofer_keeps_sending(keysdir):
    flood = flood_module()
    host = autokey_engine(keysdir, SERVER, T0)
    rng = random.Random(4)
    sources = [(f"10.80.{i // 200}.{i % 200 + 2}", 123) for i in range(200)]
    for i, src in enumerate(sources):
        host.receive_datagram(flood.packet("assoc", src[0], SERVER, rng, T0 + 1), src, SERVER, T0 + 1 + i / 1e4)
    assert len(ephemeral(host)) == EPHEMERAL_MAX  # the flood made what the cap allows
    kept_alive = sources[0]
    t = T0 + 2
    while t < T0 + 900:  # the spoofer keeps feeding one of them cookie-0 packets every 30 s
        run_timers(host, t)
        host.receive_datagram(flood.packet("assoc", kept_alive[0], SERVER, rng, t), kept_alive, SERVER, t)
        t += 30
    run_timers(host, T0 + 900)
    # the 63 others are gone; the spoofed one was demobilized too (its packets never prove anything, so they
    # do not keep it reachable) and what is left is a new one its latest packets made
    left = ephemeral(host)
    assert len(left) <= 1 and all(a.mobilized > T0 + 600 for a in left), [(a.srcadr, a.mobilized - T0) for a in left]
    assert host.counters["declined"] == 200 - EPHEMERAL_MAX
    assert host.counters["notproven"] >= 1  # its packets did arrive, valid, and were set aside


def test_broadcast_client_that_never_hears_a_good_broadcast_is_demobilized(keysdir):
    host = autokey_engine(keysdir, SERVER, T0, extra="broadcastclient\nbroadcastdelay 0.004\ndisable auth\n")
    stamp = to_ntp64(T0 + 1)
    broadcast = encode_header(NtpPacket(leap=0, version=4, mode=5, stratum=3, poll=6, precision=-20,
                                        refid=b"\x0a\x00\x00\x01", reftime=stamp, xmt=stamp))
    host.receive_datagram(broadcast, ("10.90.0.1", 123), SERVER, T0 + 1)
    assert len(ephemeral(host)) == 1
    run_timers(host, T0 + 64 * 12)
    assert ephemeral(host) == []
