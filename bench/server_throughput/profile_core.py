#!/usr/bin/env python3
"""Per-packet cost of the server path in the core, without sockets: where a reply's microseconds go.

    .venv/bin/python bench/server_throughput/profile_core.py [--packets 100000] [--profile]

Builds an NtpHost from the same ntp.conf as bench/server_throughput (production restrict lines, key 1,
no Autokey here), feeds it the plain and symmetric-MAC requests of the benchmark, as the daemon's shell does
(quick_reply first, receive_datagram otherwise), and prints microseconds per packet; --profile adds the top
functions by own time (cProfile).  The socket and event-loop share is the difference to the loaded daemon.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from records import plain, symmetric  # noqa: E402

from ntpd_py.symkeys.keyfile import parse_keys  # noqa: E402
from ntpd_py.config.parser import parse_text  # noqa: E402
from ntpd_py.engine.host import NtpHost  # noqa: E402

CONF = ("interface listen 127.0.0.1\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 8\n"
        "restrict default kod limited nomodify notrap nopeer noquery\n"
        "restrict 127.0.0.0 mask 255.0.0.0 kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\n"
        "keys /dev/null\ntrustedkey 1\n")


def make_host() -> NtpHost:
    config = parse_text(CONF, "bench.conf").config
    now = time.time()
    host = NtpHost(config, now, keys=parse_keys("1 MD5 benchsecret1\n"), local_addresses=["127.0.0.1"],
                   send_clock=time.time)  # as the daemon: the transmit stamp read last
    for t in range(1, 30):  # let the local clock make us a stratum-9 server
        host.handle_timers(now + t)
    return host


def serve(host: NtpHost, requests: list[bytes], n: int) -> float:
    src, quick, quick_mac, full = ("127.0.0.2", 40000), host.quick_reply, host.quick_mac_reply, host.receive_datagram
    now = time.time()
    start = time.perf_counter()
    for i in range(n):
        data = requests[i & 4095]
        reply = quick(data, src, now) or quick_mac(data, src, now)
        if reply is None:
            out = full(data, src, "127.0.0.1", now)
            assert out, "no reply"
    return (time.perf_counter() - start) / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    mixes = {"plain": [r for r, _ in plain(4096)], "symmetric": [r for r, _ in symmetric(4096, 1, b"benchsecret1")]}
    print(f"{'mix':<10} {'us/packet':>10} {'packets/s (core only)':>24}")
    for name, requests in mixes.items():
        host = make_host()
        us = min(serve(host, requests, args.packets) for _ in range(3))
        print(f"{name:<10} {us:>10.2f} {1e6 / us:>24,.0f}")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(serve, host, requests, args.packets)
            pstats.Stats(prof).sort_stats("tottime").print_stats(8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
