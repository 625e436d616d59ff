#!/usr/bin/env python3
"""Abuse: floods of spoofed packets against ntpd-py and the reference ntpd 4.2.8p15, in the same run.

    sudo .venv/bin/python bench/abuse/run.py [--count 20000] [--rate 10000] [--scenarios assoc,nopeer,client,iff]

Each server runs in its own network namespace (tests/refntpd.py: a veth pair, 10.x addresses that exist only
there, setpriv without CAP_SYS_TIME, `disable ntp`, stopped by PID), with Autokey keys from ntpd-py's keygen
and `tos orphan 5` for time. From the other namespace, bench/abuse/flood.py sends COUNT spoofed packets at
RATE from 1,000 (address, port) sources while an honest client asks mode 3 and mode 6 every 100 ms. Printed
per scenario and server: the honest client's worst and median latency and losses during the flood, the
server's RSS and association count afterwards, and KoDs sent per flood packet. Bounded in count and time.

Scenarios (restrict lines of the server; the honest client's address is always unrestricted):
- assoc:  `restrict default nomodify notrap` and mode-1 packets with an Autokey ASSOC request, cookie-0 MAC;
- nopeer: the same packets, `restrict default kod limited nomodify notrap nopeer`;
- client: plain mode-3 requests, `restrict default kod limited nomodify notrap nopeer`;
- iff:    mode-3 IFF challenges with cookie-0 MACs, `restrict default nomodify notrap nopeer` (each asks for
          a signature).
Not part of the test suite; run it under `flock /tmp/ntpd-py-heavy.lock`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from refntpd import Lab, PyDaemon, RefDaemon, RefMissing, ref_available  # noqa: E402

from ntpd_py.keys.keygen import KeygenOptions, generate  # noqa: E402

HERE = Path(__file__).resolve().parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
SCENARIOS = {
    "assoc": ("assoc", "restrict default nomodify notrap\n"),
    "nopeer": ("assoc", "restrict default kod limited nomodify notrap nopeer\n"),  # (sources avoid .2-.9)
    "client": ("client", "restrict default kod limited nomodify notrap nopeer\n"),
    "iff": ("iff", "restrict default nomodify notrap nopeer\n"),
}
PROBE = r"""
import json, socket, sys, time, statistics
sys.path.insert(0, sys.argv[3])
from ntpd_py.control.client import ControlClient, ControlError
target, seconds = sys.argv[1], float(sys.argv[2])
lat = {"mode3": [], "mode6": []}; lost = {"mode3": 0, "mode6": 0}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    n += 1
    t0 = time.monotonic()
    s.sendto(b"\x23" + bytes(39) + n.to_bytes(8, "big"), (target, 123))
    try:
        while True:
            data, _ = s.recvfrom(2048)
            if data[24:32] == n.to_bytes(8, "big"):
                break
        lat["mode3"].append(time.monotonic() - t0)
    except socket.timeout:
        lost["mode3"] += 1
    t0 = time.monotonic()
    try:
        with ControlClient(target, timeout=1.0, retries=0) as c:
            c.read_system(["stratum"])
        lat["mode6"].append(time.monotonic() - t0)
    except (ControlError, OSError):
        lost["mode6"] += 1
    time.sleep(0.1)
print(json.dumps({"lat": lat, "lost": lost}))
"""


def make_keys(keysdir: Path) -> None:
    generate(KeygenOptions(host_key=True, host="alice", trusted=True, iff=True, password="serverpw", modulus=1024),
             keysdir, time.time() - 60)


def read_counters(host, attempts: int) -> dict[str, str]:
    for _ in range(attempts):
        try:
            return host.control_vars(0, ["ss_kodsent", "ss_received"], server=host.addr)
        except subprocess.SubprocessError:
            time.sleep(0.5)
    return {}


def count_associations(host) -> int:
    """READSTAT on association 0 (ntpq's `as`), with ntpd_py's mode-6 client, inside the server's namespace."""
    script = ("from ntpd_py.control.client import ControlClient\n"
              f"with ControlClient({host.addr!r}, timeout=2) as c:\n    print(len(c.associations()))\n")
    out = host.run([PYTHON, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return int(out.stdout.strip() or -1)  # -1: no answer


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_one(kind: str, scenario: str, args, tmp: Path) -> dict:
    flood_kind, restrict = SCENARIOS[scenario]
    with Lab(2, prefix="ab") as lab:
        target, attacker = lab.hosts
        workdir = tmp / f"{kind}-{scenario}"
        body = (f"crypto host alice pw serverpw\ntos orphan 5\ntos orphanwait 1\n{restrict}"
                f"restrict {attacker.addr}\nrestrict 127.0.0.1\n")
        daemon = RefDaemon(target, workdir, "ref", body) if kind == "ref" else PyDaemon(target, workdir, "py", body)
        make_keys(daemon.keysdir)
        target._start(daemon)  # recorded by the lab: stopped by PID and the namespaces deleted, whatever happens
        time.sleep(3.0)  # orphan wait, then synchronized
        before = read_counters(target, 20)  # the reference may take a few seconds more to answer mode 6
        seconds = args.count / args.rate + 2.0
        probe = subprocess.Popen(attacker.cmd([PYTHON, "-c", PROBE, target.addr, str(seconds), str(ROOT)]),
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        env = {**os.environ, "FLOOD_NETNS": "1"}
        flood = attacker.run([PYTHON, str(HERE / "flood.py"), "--target", target.addr, "--kind", flood_kind,
                              "--count", str(args.count), "--rate", str(args.rate), "--sources", "200", "--ports", "5",
                              "--src-prefix", lab.net], timeout=seconds + 60, env=env)
        sent = json.loads(flood.stdout.strip().splitlines()[-1]) if flood.returncode == 0 else {"sent": 0}
        out, _ = probe.communicate(timeout=seconds + 30)
        seen = json.loads(out)
        after = read_counters(target, 10)  # {} when the server no longer answers mode 6 at all
        assocs = count_associations(target)
        rss = rss_kib(daemon.pid)
        t0 = time.monotonic()
        daemon.stop()
        stop_s = time.monotonic() - t0
    kod = (int(after["ss_kodsent"]) - int(before.get("ss_kodsent", "0") or 0)) if after else float("nan")
    lat = seen["lat"]
    return {"server": kind, "scenario": scenario, "sent": sent.get("sent", 0),
            "m3_worst": max(lat["mode3"], default=float("nan")), "m3_median": statistics.median(lat["mode3"]) if lat["mode3"] else float("nan"),
            "m6_worst": max(lat["mode6"], default=float("nan")), "m6_median": statistics.median(lat["mode6"]) if lat["mode6"] else float("nan"),
            "lost": f"{seen['lost']['mode3']}/{seen['lost']['mode6']}", "rss_mib": rss / 1024, "assocs": assocs,
            "kod_per_req": kod / max(1, sent.get("sent", 0)), "stop_s": stop_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rate", type=float, default=10000.0)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--servers", default="py,ref")
    args = ap.parse_args()
    if args.count > 100000:
        ap.error("at most 100000 packets")
    missing = ref_available()
    servers = args.servers.split(",")
    if missing is not None and "ref" in servers:
        print(f"reference ntpd unavailable ({missing}): ntpd-py only")
        servers = [s for s in servers if s != "ref"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="abuse-") as tmp:
        for scenario in args.scenarios.split(","):
            for kind in servers:
                try:
                    rows.append(run_one(kind, scenario, args, Path(tmp)))
                except (RefMissing, RuntimeError, subprocess.SubprocessError, ValueError) as exc:
                    print(f"{kind} {scenario}: failed: {exc}", file=sys.stderr)
    print(f"\n{args.count} spoofed packets at {args.rate:.0f}/s from 1000 sources; honest client every 100 ms "
          "(latencies in ms; lost = mode 3 / mode 6 unanswered within 1 s)")
    header = f"{'scenario':8} {'server':6} {'sent':>6} {'m3 worst':>9} {'m3 med':>7} {'m6 worst':>9} {'m6 med':>7} " \
             f"{'lost':>6} {'RSS MiB':>8} {'assocs':>6} {'KoD/req':>8} {'stop s':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['scenario']:8} {r['server']:6} {r['sent']:>6} {r['m3_worst'] * 1e3:>9.1f} {r['m3_median'] * 1e3:>7.1f} "
              f"{r['m6_worst'] * 1e3:>9.1f} {r['m6_median'] * 1e3:>7.1f} {r['lost']:>6} {r['rss_mib']:>8.1f} "
              f"{r['assocs']:>6} {r['kod_per_req']:>8.4f} {r['stop_s']:>6.2f}")
    by = {(r["scenario"], r["server"]): r for r in rows}
    ratios = []
    for scenario in args.scenarios.split(","):
        py, ref = by.get((scenario, "py")), by.get((scenario, "ref"))
        if py and ref and ref["m3_worst"] > 0:
            ratios.append(f"{scenario}: worst mode-3 latency py/ref {py['m3_worst'] / ref['m3_worst']:.2f}, "
                          f"RSS py/ref {py['rss_mib'] / max(ref['rss_mib'], 0.1):.2f}")
    if ratios:
        print("\n" + "\n".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
