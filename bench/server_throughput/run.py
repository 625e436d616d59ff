#!/usr/bin/env python3
"""Server throughput: replies/s of ntpd-py, ntpsec's ntpd and chronyd to the same load, in one run.

    sudo .venv/bin/python bench/server_throughput/run.py [--seconds 5] [--rounds 3] [--window 64]

Each server runs pinned to CPU 0 without CAP_SYS_TIME and never sets the clock (ntpd-py: no `enable ntp`;
ntpsec: `disable ntp`, in its own network namespace because it binds every address; chronyd: -x). The load
generator (loadgen.c, compiled with the system's cc; a Python fallback otherwise) runs on CPU 1, keeps
WINDOW requests in flight for SECONDS and counts replies. Rounds alternate between servers; medians printed.
Loopback only. Goal: ntpd-py >= 0.5 x ntpsec.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SAFE = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def free_loopback() -> str:
    rng = random.Random()
    for _ in range(200):
        addr = f"127.{rng.randint(10, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((addr, 123))
            except OSError:
                continue
        return addr
    raise RuntimeError("no free loopback address")


def build_loadgen(tmp: Path) -> list[str] | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    out = tmp / "loadgen"
    subprocess.run([cc, "-O2", "-o", str(out), str(HERE / "loadgen.c")], check=True)
    return [str(out)]


def python_loadgen(src: str, dst: str, port: int, seconds: float, window: int) -> tuple[int, int]:
    """Fallback generator (slower than any server worth measuring: numbers are then a lower bound)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.connect((dst, port))
    s.settimeout(0.02)
    req = bytes([0x23]) + bytes(47)
    sent = replies = outstanding = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while outstanding < window:
            s.send(req)
            sent += 1
            outstanding += 1
        try:
            s.recv(512)
            replies += 1
            outstanding -= 1
        except TimeoutError:
            outstanding = 0
    return sent, replies


def run_load(loadgen: list[str] | None, netns: str | None, src: str, dst: str, seconds: float, window: int) -> float:
    if loadgen is None:
        _, replies = python_loadgen(src, dst, 123, seconds, window)
        return replies / seconds
    prefix = ["ip", "netns", "exec", netns] if netns else []
    out = subprocess.run([*prefix, "taskset", "-c", "1", *loadgen, src, dst, "123", str(seconds), str(window)],
                         capture_output=True, text=True, check=True).stdout
    fields = dict(item.split("=") for item in out.split())
    return int(fields["replies"]) / float(fields["seconds"])


class Server:
    name = ""
    netns: str | None = None
    address = ""
    source = ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class NtpdPyServer(Server):
    name = "ntpd-py"

    def __init__(self, tmp: Path) -> None:
        self.address, self.source = free_loopback(), free_loopback()
        conf = tmp / "ntpd-py.conf"
        conf.write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {self.address}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 8\n")
        self.proc = subprocess.Popen([*SAFE, "taskset", "-c", "0", PYTHON, "-m", "ntpd_py.daemon.cli", "-n",
                                      "-c", str(conf), "-l", str(tmp / "ntpd-py.log")], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class NtpsecServer(Server):
    name = "ntpsec ntpd"

    def __init__(self, tmp: Path) -> None:
        self.netns = f"benchtp{random.getrandbits(24):06x}"
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        self.address, self.source = "127.0.0.1", "127.0.0.2"
        conf = tmp / "ntpsec.conf"
        conf.write_text("disable ntp\ntos orphan 8\ntos orphanwait 0\nrestrict default\n"
                        f"restrict 127.0.0.0 mask 255.0.0.0\ndriftfile {tmp}/ntpsec.drift\n")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns, *SAFE, "taskset", "-c", "0",
                                      shutil.which("ntpd") or "ntpd", "-n", "-c", str(conf), "-l",
                                      str(tmp / "ntpsec.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        super().stop()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)


class ChronyServer(Server):
    name = "chronyd"

    def __init__(self, tmp: Path, chronyd: str) -> None:
        self.address, self.source = free_loopback(), free_loopback()
        state = tmp / "chrony"
        state.mkdir(mode=0o700)
        conf = state / "chrony.conf"
        conf.write_text(f"bindaddress {self.address}\nallow all\nlocal stratum 8\ncmdport 0\n"
                        f"pidfile {state}/chronyd.pid\ndriftfile {state}/drift\n")
        self.proc = subprocess.Popen([*SAFE, "taskset", "-c", "0", chronyd, "-x", "-d", "-u", "root", "-f", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--no-chrony", action="store_true")
    args = ap.parse_args()
    if args.seconds > 60 or args.rounds > 10:
        ap.error("bounded: --seconds <= 60, --rounds <= 10")
    chronyd = shutil.which("chronyd") or str(ROOT / ".deps/chrony/usr/sbin/chronyd")
    with tempfile.TemporaryDirectory(prefix="bench_tp_") as tmpdir:
        tmp = Path(tmpdir)
        loadgen = build_loadgen(tmp)
        servers: list[Server] = [NtpdPyServer(tmp)]
        if shutil.which("ntpd"):
            servers.append(NtpsecServer(tmp))
        if not args.no_chrony and Path(chronyd).exists():
            servers.append(ChronyServer(tmp, chronyd))
        results: dict[str, list[float]] = {s.name: [] for s in servers}
        try:
            time.sleep(3)  # let every server synchronise to its own local clock / orphan mode
            for _ in range(args.rounds):
                for server in servers:
                    results[server.name].append(run_load(loadgen, server.netns, server.source, server.address,
                                                         args.seconds, args.window))
        finally:
            for server in servers:
                server.stop()
    print(f"{'server':<14} {'replies/s (median)':>20}  rounds")
    medians = {name: statistics.median(v) for name, v in results.items() if v}
    for name, values in results.items():
        print(f"{name:<14} {medians[name]:>20,.0f}  {', '.join(f'{x:,.0f}' for x in values)}")
    if "ntpsec ntpd" in medians and medians["ntpsec ntpd"]:
        ratio = medians["ntpd-py"] / medians["ntpsec ntpd"]
        print(f"ratio ntpd-py / ntpsec = {ratio:.2f} (goal >= 0.5) {'OK' if ratio >= 0.5 else 'BELOW GOAL'}")
    if loadgen is None:
        print("note: Python load generator used (no C compiler): figures are lower bounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
