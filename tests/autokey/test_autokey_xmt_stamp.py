"""Autokey replies carry their send time as the transmit timestamp (issue 11, finding 8), seen on the wire."""

from __future__ import annotations

import signal
import subprocess
import time

from autokey_daemons import make_keys, start
from conftest import free_loopback, require_program

from ntpd_py.pcap import read_pcap
from ntpd_py.wire.packet import decode, ntp_diff


def wait_until(predicate, timeout: float, interval: float):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(interval)


def test_autokey_reply_carries_its_send_time(tmp_path):
    """Two real daemons with Autokey; tcpdump on lo records the server's replies (mode 4 with a session-key
    MAC, extension fields or not): every one has xmt later than rec."""
    tcpdump = require_program("tcpdump")
    alice, bob = free_loopback(), free_loopback()
    dirs = make_keys(tmp_path, "iff", ["bob"], time.time() - 86400)
    capture = tmp_path / "lo.pcap"
    dump = subprocess.Popen([tcpdump, "-i", "lo", "-U", "-w", str(capture), "udp", "and", "src", "host", alice],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemons = []
    try:
        time.sleep(1)
        daemons.append(start("alice", alice, dirs["alice"].parent, "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\n"
                             "crypto host alice pw serverpw\n"))
        daemons.append(start("bob", bob, dirs["bob"].parent, f"crypto host bob pw clientpw\n"
                             f"server {alice} iburst autokey ident alice minpoll 4\n"))

        def replies():
            if not capture.exists():
                return None
            found = [decode(d.payload) for d in read_pcap(capture) if d.dst == bob and d.payload[0] & 7 == 4]
            autokey = [p for p in found if p.keyid and p.keyid > 65535]
            return autokey if len(autokey) >= 4 and any(p.extensions for p in autokey) else None

        found = wait_until(replies, 40, 1.0)
        assert found, [d.log() for d in daemons]
        gaps = [ntp_diff(p.xmt, p.rec) for p in found]
        assert all(g > 0 for g in gaps), gaps
        # a reply with a signed extension field took measurably longer than a bare one
        assert max(g for p, g in zip(found, gaps) if p.extensions) < 1.0
    finally:
        for d in daemons:
            d.stop()
        dump.send_signal(signal.SIGTERM)
        dump.wait(10)
