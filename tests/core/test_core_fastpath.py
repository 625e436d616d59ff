"""The symmetric-key fast path (engine/fastpath.py) answers exactly as the full path, or leaves the packet to it.

For every request shape (good and bad MACs, untrusted and unknown keys, MD5 and SHA1, other versions and modes,
restricted and rate-limited sources), two hosts in the same state see the same datagram at the same time, one
through the fast path first (as the daemon's shell calls it) and one through the full path only: the replies
are byte for byte equal, and so are the counters and the MRU list.
"""

from __future__ import annotations

import hashlib
import random
import struct

import pytest
from core_sim import T0, make_host

from ntpd_py.engine.fastpath import quick_mac_reply
from ntpd_py.wire.packet import NtpPacket, encode_header

CONF = ("server 127.127.1.0\nfudge 127.127.1.0 stratum 8\ntrustedkey 1 2\n"
        "restrict default kod limited nomodify notrap nopeer noquery\n"
        "restrict 127.0.0.0 mask 255.0.0.0 kod nomodify notrap nopeer noquery\n"
        "restrict 127.0.0.66 notrust\n")
SECRETS = {1: (hashlib.md5, b"secret-md5"), 2: (hashlib.sha1, bytes.fromhex("5a" * 20)), 3: (hashlib.md5, b"other-key")}


def request(keyid: int | None, *, version: int = 4, mode: int = 3, bad: bool = False, digest=None) -> bytes:
    head = encode_header(NtpPacket(mode=mode, version=version, poll=6, xmt=0xE1234567_89ABCDEF))
    if keyid is None:
        return head
    ctor, secret = digest or SECRETS.get(keyid, (hashlib.md5, b"unknown"))
    mac = bytearray(ctor(secret + head).digest())
    if bad:
        mac[3] ^= 1
    return head + struct.pack("!I", keyid) + bytes(mac)


def hosts():
    a, b = (make_host(CONF, "127.0.0.1", rng=random.Random(5)) for _ in range(2))  # same random choices
    for t in range(1, 30):
        a.handle_timers(T0 + t)
        b.handle_timers(T0 + t)
    return a, b


CASES = {
    "md5": (request(1), "127.0.0.2", True),
    "sha1": (request(2), "127.0.0.2", True),
    "bad mac": (request(1, bad=True), "127.0.0.2", False),
    "untrusted key": (request(3), "127.0.0.2", False),
    "unknown key": (request(9), "127.0.0.2", False),
    "sha1 digest for an md5 key": (request(1, digest=(hashlib.sha1, b"secret-md5")), "127.0.0.2", False),
    "autokey key id": (request(70000), "127.0.0.2", False),
    "version 3": (request(1, version=3), "127.0.0.2", False),
    "symmetric active": (request(1, mode=1), "127.0.0.2", False),
    "limited source": (request(1), "192.0.2.7", False),
    "notrust source": (request(1), "127.0.0.66", False),
    "crypto-NAK": (request(None) + bytes(4), "127.0.0.2", False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_equals_full_path(name):
    data, source, fast = CASES[name]
    quick_host, full_host = hosts()
    now = T0 + 100.0
    for i in range(3):  # repeated, so rate limiting and MRU counts take part
        src = (source, 40000 + i % 2)
        reply = quick_mac_reply(quick_host, data, src, now + i)
        assert (reply is not None) is fast, name
        quick_out = [reply] if reply is not None else [o.data for o in
                                                       quick_host.receive_datagram(data, src, "127.0.0.1", now + i)]
        full_out = [o.data for o in full_host.receive_datagram(data, src, "127.0.0.1", now + i)]
        assert quick_out == full_out, name
    assert quick_host.counters == full_host.counters
    assert quick_host.mru.entries() == full_host.mru.entries()


def test_fast_reply_is_macd_with_the_requests_key():
    quick_host, _ = hosts()
    data = request(2)
    reply = quick_mac_reply(quick_host, data, ("127.0.0.2", 123), T0 + 100.0)
    assert len(reply) == 72 and reply[0] & 7 == 4 and reply[24:32] == data[40:48]
    assert reply[48:52] == struct.pack("!I", 2)
    assert reply[52:] == hashlib.sha1(SECRETS[2][1] + reply[:48]).digest()


@pytest.mark.parametrize("restricted", [True, False])
def test_plain_quick_path_equals_full_path(restricted):
    """Mutation survivors (issue 13): quick_reply's counters and MRU restrict bits were never compared with the
    full path's; for plain requests they must move exactly as receive_datagram moves them."""
    conf = CONF if restricted else "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\n"
    quick_host, full_host = (make_host(conf, "127.0.0.1", rng=random.Random(5)) for _ in range(2))
    for t in range(1, 30):
        quick_host.handle_timers(T0 + t)
        full_host.handle_timers(T0 + t)
    data = request(None)
    for i in range(3):
        src = ("127.0.0.2", 40000 + i % 2)
        reply = quick_host.quick_reply(data, src, T0 + 100 + i)
        assert reply is not None
        (full,) = full_host.receive_datagram(data, src, "127.0.0.1", T0 + 100 + i)
        assert reply == full.data
    assert quick_host.counters == full_host.counters and quick_host.counters["received"] == 3
    assert quick_host.mru.entries() == full_host.mru.entries()
    assert all(rflags != 0 for *_, rflags in quick_host.mru.entries()) is restricted


def test_malformed_packets_count_as_badformat_once_each():
    host, _ = hosts()
    before = host.counters["badformat"]
    for data in (b"\x23" * 47, bytes([0x23]) + bytes(48), bytes([0x3B]) + bytes(47)):
        assert host.receive_datagram(data, ("127.0.0.2", 5), "127.0.0.1", T0 + 100) == []
    assert host.counters["badformat"] == before + 3 and sum(host.malformed.values()) == 3
