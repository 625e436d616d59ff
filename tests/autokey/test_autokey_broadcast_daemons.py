"""End to end: a broadcasting ntpd_py daemon and a `broadcastclient` daemon with Autokey (IFF) on loopback,
read through the real ntpq.  Loopback has no broadcast: the "broadcast" address is the client's own."""

from __future__ import annotations

import re
import time

import pytest
from autokey_daemons import free_loopback, make_keys, ntpq, start, wait_flags


def _peer_vars(addr: str) -> dict[str, str]:
    listing = ntpq(addr, "as")
    m = re.search(r"^\s*\d+\s+(\d+)\s", listing, re.M)
    if not m:
        return {}
    text = ntpq(addr, f"rv {m.group(1)} hmode,flags,delay,reach")
    return dict(re.findall(r"(\w+)=([^,\s]+)", text))


@pytest.mark.slow
@pytest.mark.interop
def test_broadcast_client_daemon_volley_then_listens_with_full_flags(tmp_path, vectors):
    alice_addr, bob_addr = free_loopback(), free_loopback()
    make_keys(tmp_path, "iff", ["bob"], time.time() - 60)
    server = ("server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ncrypto host alice pw serverpw\n"
              f"leapfile {vectors / 'leap-seconds.list'}\nbroadcast {bob_addr} autokey minpoll 3\n")
    client = "crypto host bob pw clientpw ident alice\nbroadcastclient\n"
    alice = start("alice", alice_addr, tmp_path / "alice", server)
    bob = start("bob", bob_addr, tmp_path / "bob", client)
    try:
        flags, _, seen = wait_flags(bob_addr, 0x87F23, 20)
        assert flags == 0x87F23, (hex(flags or 0), seen, bob.log()[-2000:], bob.cryptostats()[-2000:])
        deadline = time.monotonic() + 20
        values: dict[str, str] = {}
        while time.monotonic() < deadline:  # listening (hmode 6) once a broadcast calibrated the delay
            values = _peer_vars(bob_addr)
            if values.get("hmode") == "6" and "listening" in bob.log() and "calibrated" in bob.log():
                break
            time.sleep(0.25)
        assert values.get("hmode") == "6", (values, bob.log()[-2000:])
        assert int(values["flags"], 0) == 0x87F23
        assert float(values["delay"]) < 4.0  # measured on loopback (ms), below the 4 ms default broadcastdelay
        assert "auto seq" in bob.cryptostats()
    finally:
        bob.stop()
        alice.stop()
