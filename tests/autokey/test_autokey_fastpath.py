"""The Autokey session-key fast path (engine/fastpath.py + AutokeyAuth.quick_session_keys) answers exactly as
the full path, or leaves the packet to it.

Two servers in the same state (same credentials, same private value) see the same datagram at the same time:
one through the fast path first, as the daemon's shell calls it, one through the full path only. Replies,
counters and MRU lists must be equal byte for byte; a request the fast path must not take (bad MAC, a cookie of
another server, extension fields, no local address, a restricted source) is left to the full path.
"""

from __future__ import annotations

import hashlib
import random
import struct

import pytest
from autokey_broadcast import autokey_host
from autokey_pair import VECTOR_NOW, load_creds

from ntpd_py.autokey.session import mac, server_cookie, session_key
from ntpd_py.engine.fastpath import quick_mac_reply
from ntpd_py.wire.packet import NtpPacket, encode_header

SERVER, CLIENT, RESTRICTED = "10.98.0.1", "10.98.0.2", "10.98.0.66"
CONF = ("server 127.127.1.0\nfudge 127.127.1.0 stratum 8\n"
        "restrict default kod limited nomodify notrap nopeer noquery\n"
        "restrict 10.98.0.0 mask 255.255.0.0 kod nomodify notrap nopeer noquery\n"
        f"restrict {RESTRICTED} notrust\n")
KEYID = 0x5A5A1234


def servers(vectors):
    """Two Autokey servers in the same state, synchronised to their local clock."""
    stats: list[str] = []
    pair = [autokey_host(CONF, SERVER, load_creds(vectors, "iff", "alice"), stats) for _ in range(2)]
    for host in pair:
        host.rng = random.Random(5)
        for t in range(1, 30):
            host.handle_timers(VECTOR_NOW + t)
    pair[1].authenticator.host.private.value = pair[0].authenticator.host.private.current(VECTOR_NOW + 30)
    pair[1].authenticator.host.private.renewed_at = pair[0].authenticator.host.private.renewed_at
    return pair


def request(private: int, *, client: str = CLIENT, keyid: int = KEYID, bad: bool = False,
            extension: bytes = b"") -> bytes:
    """A client's plain request MAC'd with the session key its cookie gives (as after a COOK exchange)."""
    cookie = server_cookie(client, SERVER, private)
    head = encode_header(NtpPacket(mode=3, version=4, poll=6, xmt=0xE1234567_89ABCDEF)) + extension
    key = session_key(client, SERVER, keyid, cookie)
    trailer = bytearray(mac(key, keyid, head))
    if bad:
        trailer[7] ^= 1
    return head + bytes(trailer)


@pytest.mark.parametrize("case", ["good", "bad mac", "another server's cookie", "restricted source",
                                  "no local address", "extension field"])
def test_fast_path_equals_full_path(vectors, case):
    quick_host, full_host = servers(vectors)
    private = quick_host.authenticator.host.private.value
    source, dst, fast = CLIENT, SERVER, case == "good"
    if case == "bad mac":
        data = request(private, bad=True)
    elif case == "another server's cookie":
        data = request(private ^ 1)
    elif case == "restricted source":
        source, data = RESTRICTED, request(private, client=RESTRICTED)
    elif case == "no local address":
        dst, data = None, request(private)
    elif case == "extension field":  # a cookie-0 request with a field is the full path's (group rules first)
        data = request(private, extension=struct.pack("!HHI", 0x0201, 16, 0) + bytes(8))
    else:
        data = request(private)
    now = VECTOR_NOW + 100.0
    for i in range(3):
        src = (source, 40000 + i % 2)
        reply = quick_mac_reply(quick_host, data, src, now + i, dst)
        assert (reply is not None) is fast, case
        quick_out = ([reply] if reply is not None else
                     [o.data for o in quick_host.receive_datagram(data, src, SERVER, now + i)])
        full_out = [o.data for o in full_host.receive_datagram(data, src, SERVER, now + i)]
        assert quick_out == full_out, case
    assert quick_host.counters == full_host.counters
    assert quick_host.mru.entries() == full_host.mru.entries()


def test_fast_reply_is_macd_with_the_servers_session_key(vectors):
    """Checked by hand, not only against the full path: ntpd's fast_xmit keys the reply with
    session_key(server, client, keyid, cookie)."""
    host, _ = servers(vectors)
    private = host.authenticator.host.private.value
    reply = quick_mac_reply(host, request(private), (CLIENT, 123), VECTOR_NOW + 100.0, SERVER)
    cookie = server_cookie(CLIENT, SERVER, private)
    key = session_key(SERVER, CLIENT, KEYID, cookie)
    assert len(reply) == 68 and reply[0] & 7 == 4
    assert reply[48:52] == struct.pack("!I", KEYID)
    assert reply[52:] == hashlib.md5(key + reply[:48]).digest()


def test_renewed_private_value_ends_the_old_cookie(vectors):
    """The cookie cache follows the private value: after its renewal an old cookie's MAC no longer verifies on
    the fast path (and the full path answers it as it always did)."""
    host, _ = servers(vectors)
    private = host.authenticator.host.private
    old = private.value
    assert quick_mac_reply(host, request(old), (CLIENT, 123), VECTOR_NOW + 100.0, SERVER) is not None
    later = private.renewed_at + (1 << private.revoke_log2) + 1
    assert private.current(later) != old
    assert quick_mac_reply(host, request(old), (CLIENT, 123), later, SERVER) is None
    assert quick_mac_reply(host, request(private.value), (CLIENT, 123), later, SERVER) is not None
