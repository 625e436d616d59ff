#!/usr/bin/env python3
"""Time to synchronise: seconds from a client's start to a sys.peer, with `iburst`, for an ntpd-py client
and for ntpsec's ntpd as the client, against the same ntpd-py server, in one run.

    sudo .venv/bin/python bench/sync_time/run.py [--rounds 3]

The server (ntpd-py, local clock at stratum 8) runs in one network namespace, each client in another,
joined by a veth pair with 10.x.y.0/29 addresses that exist only inside them (ntpsec binds every address,
so it always gets a namespace of its own). Nothing may set a clock: no `enable ntp`, ntpsec `disable ntp`,
every daemon without CAP_SYS_TIME. The clients are polled with ntpq every 0.1 s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAFE = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
TIMEOUT = 60.0


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Namespaces:
    def __init__(self) -> None:
        tag = f"{random.getrandbits(24):06x}"
        self.server_ns, self.client_ns = f"bsyncs{tag}", f"bsyncc{tag}"
        self.net = f"10.{random.randint(1, 250)}.{random.randint(0, 255)}"
        for ns in (self.server_ns, self.client_ns):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", f"bs{tag}", "netns", self.server_ns, "type", "veth", "peer", "name", f"bc{tag}",
           "netns", self.client_ns)
        ip("-n", self.server_ns, "addr", "add", f"{self.net}.1/29", "dev", f"bs{tag}")
        ip("-n", self.client_ns, "addr", "add", f"{self.net}.2/29", "dev", f"bc{tag}")
        ip("-n", self.server_ns, "link", "set", f"bs{tag}", "up")
        ip("-n", self.client_ns, "link", "set", f"bc{tag}", "up")

    def close(self) -> None:
        for ns in (self.server_ns, self.client_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def start(ns: str, argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, *SAFE, *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def time_to_sys_peer(ns: str, ntpq: str, query: str, server: str, proc: subprocess.Popen,
                     started: float) -> float | None:
    while time.monotonic() - started < TIMEOUT:
        out = subprocess.run(["ip", "netns", "exec", ns, ntpq, "-n", "-c", "peers", query], capture_output=True,
                             text=True).stdout
        if f"*{server}" in out:
            return time.monotonic() - started
        if proc.poll() is not None:
            return None
        time.sleep(0.1)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.rounds > 10:
        ap.error("bounded: --rounds <= 10")
    ntpq, ntpd = shutil.which("ntpq"), shutil.which("ntpd")
    if ntpq is None:
        print("ntpq (ntpsec) is required")
        return 1
    ns = Namespaces()
    results: dict[str, list[float | None]] = {"ntpd-py client": [], "ntpsec ntpd client": []}
    with tempfile.TemporaryDirectory(prefix="bench_sync_") as tmpdir:
        tmp = Path(tmpdir)
        server_addr, client_addr = f"{ns.net}.1", f"{ns.net}.2"
        (tmp / "server.conf").write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {server_addr}\nserver 127.127.1.0\n"
                                         "fudge 127.127.1.0 stratum 8\n")
        server = start(ns.server_ns, [PYTHON, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(tmp / "server.conf"),
                                      "-l", str(tmp / "server.log")])
        try:
            time.sleep(2)
            for _ in range(args.rounds):
                (tmp / "client.conf").write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {client_addr}\nserver {server_addr} iburst\n")
                t0 = time.monotonic()
                client = start(ns.client_ns, [PYTHON, "-m", "ntpd_py.daemon.cli", "-n", "-c",
                                              str(tmp / "client.conf"), "-l", str(tmp / "client.log")])
                results["ntpd-py client"].append(time_to_sys_peer(ns.client_ns, ntpq, client_addr, server_addr,
                                                                  client, t0))
                stop(client)
                if ntpd:
                    (tmp / "ntpsec.conf").write_text(f"disable ntp\nserver {server_addr} iburst\nrestrict default\n"
                                                     "restrict 127.0.0.0 mask 255.0.0.0\n"
                                                     f"driftfile {tmp}/ntpsec.drift\n")
                    t0 = time.monotonic()
                    client = start(ns.client_ns, [ntpd, "-n", "-c", str(tmp / "ntpsec.conf"), "-l",
                                                  str(tmp / "ntpsec.log")])
                    results["ntpsec ntpd client"].append(time_to_sys_peer(ns.client_ns, ntpq, "127.0.0.1",
                                                                          server_addr, client, t0))
                    stop(client)
        finally:
            stop(server)
            ns.close()
    print(f"{'client':<20} {'median s':>9}  rounds (s to sys.peer with iburst)")
    for name, values in results.items():
        done = [v for v in values if v is not None]
        median = f"{statistics.median(done):9.1f}" if done else "      n/a"
        print(f"{name:<20} {median}  {', '.join('timeout' if v is None else f'{v:.1f}' for v in values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
