"""End to end: real ntpd_py daemons (trusted authority + client per scheme) on loopback, flags via the real ntpq."""

from __future__ import annotations

import re
import socket
import struct
import time

import pytest
from autokey_daemons import free_loopback, make_keys, ntpq, pair_configs, start, wait_flags

from ntpd_py.autokey.flags import full_flags

EXPECTED = {scheme: full_flags(scheme, tai=True) for scheme in (None, "iff", "gq", "mv")}


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.parametrize("scheme", ["iff", "gq", "mv", None])
def test_daemon_pair_reaches_full_flags_fast(tmp_path, vectors, scheme):
    alice_addr, bob_addr = free_loopback(), free_loopback()
    make_keys(tmp_path, scheme, ["bob"], time.time() - 60)
    server_conf, client_conf = pair_configs(scheme, alice_addr, vectors / "leap-seconds.list")
    alice = start("alice", alice_addr, tmp_path / "alice", server_conf)
    bob = start("bob", bob_addr, tmp_path / "bob", client_conf)
    try:
        want = EXPECTED[scheme]
        flags, elapsed, seen = wait_flags(bob_addr, want, 25)
        assert flags == want, (hex(flags or 0), seen, bob.log()[-2000:], bob.cryptostats()[-2000:])
        assert elapsed < 10, seen
        system = ntpq(bob_addr, "rv 0 cert")
        assert "cert=" in system
        peer = ntpq(bob_addr, "as")
        rows = [line.split() for line in peer.splitlines() if re.match(r"\s*\d+\s+\d+\s", line)]
        # ind assid status conf reach auth condition ...: the association's auth column says "ok"
        assert len(rows) == 1 and rows[0][5] == "ok", peer
        # the hosts' Autokey counters are in mode 6; a crypto-NAK (a session key ID without a MAC) sent to alice is
        # counted there
        assert re.search(r"autokey_crypto_errors=\d+, autokey_crypto_naks=0",
                         ntpq(bob_addr, "rv 0 autokey_crypto_errors,autokey_crypto_naks"))
        nak = bytes([0x23]) + bytes(39) + struct.pack("!d", time.time()) + (0x10000).to_bytes(4, "big")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((bob_addr, 0))
            sock.sendto(nak, (alice_addr, 123))
        deadline = time.monotonic() + 5
        while "autokey_crypto_naks=1" not in (counted := ntpq(alice_addr, "rv 0 autokey_crypto_naks")):
            assert time.monotonic() < deadline, counted
            time.sleep(0.2)
    finally:
        bob.stop()
        alice.stop()


@pytest.mark.slow
@pytest.mark.interop
def test_symmetric_gq_peers_with_cross_copied_parameters(tmp_path, vectors):
    """The ntp mailing-list recipe: two peers, one GQ group, `peer ... autokey`, flags 0x87f43 on both."""
    from autokey_daemons import make_gq_peer_keys, ntpq

    a_addr, b_addr = free_loopback(), free_loopback()
    make_gq_peer_keys(tmp_path, ["ahost", "bhost"], time.time() - 60)
    conf = ("crypto host {h} pw pw ident grp\nleapfile " + str(vectors / "leap-seconds.list") +
            "\nserver 127.127.1.0\nfudge 127.127.1.0 stratum {s}\npeer {o} autokey ident grp minpoll 4\n")
    a = start("ahost", a_addr, tmp_path / "ahost", conf.format(h="ahost", s=5, o=b_addr))
    b = start("bhost", b_addr, tmp_path / "bhost", conf.format(h="bhost", s=6, o=a_addr))
    try:
        results = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(results) < 2:
            for addr, other in ((a_addr, b_addr), (b_addr, a_addr)):
                text = ntpq(addr, "as")
                import re

                for assid in re.findall(r"^\s*\d+\s+(\d+)\s", text, re.M):
                    rv = ntpq(addr, f"rv {assid} srcadr,flags,host")
                    m = re.search(r"flags=(0x[0-9a-f]+|\d+)", rv)
                    if other in rv and m and int(m.group(1), 0) == 0x87F43:
                        results[addr] = rv
            time.sleep(0.5)
        assert len(results) == 2, (results, a.cryptostats()[-1500:], b.cryptostats()[-1500:])
        assert 'host="bhost@grp"' in results[a_addr] and 'host="ahost@grp"' in results[b_addr]
        assert " gq bhost@grp" in a.cryptostats() and " gq ahost@grp" in b.cryptostats()
    finally:
        a.stop()
        b.stop()


@pytest.mark.slow
@pytest.mark.interop
def test_sighup_reloads_keys_without_restart(tmp_path, vectors):
    """Monthly renewal: new certificate on the client, SIGHUP, same process, the exchange repeats to full flags."""
    import os
    import signal

    from ntpd_py.keys.keygen import KeygenOptions, generate

    alice_addr, bob_addr = free_loopback(), free_loopback()
    t = time.time() - 60
    dirs = make_keys(tmp_path, "iff", ["bob"], t)
    server_conf, client_conf = pair_configs("iff", alice_addr, vectors / "leap-seconds.list")
    alice = start("alice", alice_addr, tmp_path / "alice", server_conf)
    bob = start("bob", bob_addr, tmp_path / "bob", client_conf)
    try:
        flags, _, _ = wait_flags(bob_addr, 0x87F23, 15)
        assert flags == 0x87F23
        before = ntpq(bob_addr, "rv 0 cert")
        generate(KeygenOptions(host_key=True, host="bob", password="clientpw", modulus=1024), dirs["bob"], time.time())
        os.kill(bob.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "keys reloaded" not in bob.cryptostats():
            time.sleep(0.2)
        assert bob.proc.poll() is None  # never restarted
        assert re.search(r"keys reloaded, restarted associations \[\d+", bob.cryptostats()), bob.cryptostats()[-800:]
        # right after the first handshake, the repeat is paced by the server's limiter (engine/pacing.py: up to
        # 72 s for its bucket to drain); a real monthly renewal finds it empty
        flags, elapsed, seen = wait_flags(bob_addr, 0x87F23, 80)
        assert flags == 0x87F23, (seen, bob.cryptostats()[-1500:])
        assert ntpq(bob_addr, "rv 0 cert") != before
    finally:
        bob.stop()
        alice.stop()
