"""Fuzz: >= 100,000 random and mutated packets at the sans-IO core. Nothing may raise; every drop is counted.

NTPD_PY_FUZZ=N multiplies the count for long runs (bench use).
"""

from __future__ import annotations

import os
import random
import struct

from core_sim import T0, SimNet, make_host
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpd_py.control.view import HostControlView
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.packet import NtpPacket, encode

COUNT = 100_000 * int(os.environ.get("NTPD_PY_FUZZ", "1"))
SERVER = "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\ntrustedkey 1 2\npeer 127.0.0.3 key 1\n" \
         "server 127.0.0.4 iburst key 2\nbroadcastclient\nrestrict 127.0.0.66 limited kod\n"


def seeds(rng: random.Random) -> list[bytes]:
    now = to_ntp64(T0)
    base = [
        encode(NtpPacket(mode=3, xmt=now)),
        encode(NtpPacket(mode=3, xmt=now, keyid=1, mac=b"\x11" * 16)),
        encode(NtpPacket(mode=3, xmt=now, keyid=2, mac=b"\x22" * 20)),
        encode(NtpPacket(mode=3, xmt=now, keyid=0)),
        encode(NtpPacket(mode=4, stratum=2, org=now, rec=now, xmt=now + 5)),
        encode(NtpPacket(mode=1, stratum=3, org=now, rec=now, xmt=now + 9, keyid=1, mac=b"\x33" * 16)),
        encode(NtpPacket(mode=5, stratum=2, xmt=now)),
        encode(NtpPacket(mode=3, xmt=now, extensions=[struct.pack("!II", 0x02010000 | 32, 0) + b"\0" * 24],
                         keyid=1, mac=b"\0" * 16)),
        bytes([0x16, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),  # mode 6 READVAR
        bytes([0x17, 0x80, 0, 0]) + b"\0" * 44,  # mode 7
    ]
    return base


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and b:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif choice == 1:
        b = b[: rng.randrange(len(b) + 1)]
    elif choice == 2:
        b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
    elif choice == 3 and len(b) >= 4:
        i = rng.randrange(0, len(b) - 3)
        b[i:i + 4] = struct.pack("!I", rng.choice([0, 4, 8, 0xFFFF, 0x0201FFFC, rng.getrandbits(32)]))
    elif choice == 4:
        b = bytearray(rng.randbytes(rng.randrange(0, 120)))
    else:
        b[0:1] = bytes([rng.randrange(256)])
    return bytes(b)


def test_hundred_thousand_mutated_packets():
    rng = random.Random(20261122)
    net = SimNet()
    host = net.add("127.0.0.1", make_host(SERVER, "127.0.0.1",
                                          control_handler=lambda data, src, now: [b"ok"] if len(data) > 3 else []))
    host.handle_timers(T0 + 1)
    corpus = seeds(rng)
    sources = [("127.0.0.3", 123), ("127.0.0.4", 123), ("127.0.0.9", 40000), ("127.0.0.66", 5), ("10.1.2.3", 123)]
    replies = 0
    for i in range(COUNT):
        data = mutate(rng, rng.choice(corpus)) if i % 10 else rng.randbytes(rng.randrange(0, 100))
        now = T0 + 1 + i * 0.0005
        replies += len(host.receive_datagram(data, rng.choice(sources), "127.0.0.1", now))
        if i % 5000 == 0:
            host.handle_timers(now)
    counters = host.counters
    assert counters["received"] == COUNT
    assert sum(host.malformed.values()) > COUNT // 10
    assert replies > 0
    view = HostControlView(host)
    assert view.system_variables() and view.named_system_variables()
    for assid, _ in view.associations():
        assert view.peer_variables(assid)


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=160), st.sampled_from([("127.0.0.3", 123), ("127.0.0.9", 9)]))
def test_any_datagram_is_handled(data, src):
    host = _SHARED_HOST
    before = host.counters["received"]
    for out in host.receive_datagram(data, src, "127.0.0.1", T0 + 5):
        assert isinstance(out.data, bytes)
    assert host.counters["received"] == before + 1


_SHARED_HOST = make_host(SERVER, "127.0.0.1")
