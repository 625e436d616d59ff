#!/usr/bin/env python3
"""Server throughput: valid replies per second of ntpd-py, classic ntpd 4.2.8p15, ntpsec's ntpd and chronyd,
each on one pinned core, to the same validated load, in one run.

    flock /tmp/ntpd-py-heavy.lock .venv/bin/python bench/server_throughput/run.py [--seconds 4] [--rounds 3]

Every server runs in its own network namespace (the reference ntpd binds every address, so all of them do, for
a like-for-like path), pinned to CPU 0 with taskset, without CAP_SYS_TIME and never setting the clock; the
load generator (loadgen.c, built with cc and libcrypto) runs in the same namespace on CPU 1.

The load generator spins on its socket (--client spin, the default) rather than sleeping in recvmmsg: on
loopback a reply's delivery runs in the sender's system call, so a sleeping client has to be woken on the
server's core, once per reply when the server is slower than the client.  That wake-up is the client's cost,
paid on its own machine on a real network; perf showed it at 10-12 % of ntpd-py's core time against 4 % of
ntpsec's, so it penalised the slower server twice.  --client block measures the old way.

Every server gets production restrict lines:

    restrict default kod limited nomodify notrap nopeer noquery
    restrict 127.0.0.0 mask 255.0.0.0 kod nomodify notrap nopeer noquery
    restrict 127.0.0.1

(the load comes from 127.0.0.2: the fleet's own network, served without rate limits as in the lab; chronyd,
which cannot exempt a network from `ratelimit`, gets `allow 127.0.0.0/8` and no ratelimit), key 1 as a trusted
MD5 key, and, where Autokey exists (ntpd-py, classic ntpd), `crypto` with a TC trusted certificate.

Mixes: plain 48-byte requests; symmetric-key MD5 MAC'd requests (key 1); Autokey session-key MAC'd requests
(the cookie from a real ASSOC/CERT/COOK exchange, key IDs from a real key list).  Only valid replies count:
mode 4, not a KoD, origin timestamp = the request's transmit timestamp, the request's key ID and a MAC that
verifies.  Rounds alternate between servers; medians and ratios (to ntpsec, same run) are printed.
Goals (issue 13): ntpd-py >= 0.6 x ntpsec on plain requests and >= 0.5 x on MAC'd ones.
"""

from __future__ import annotations

import argparse
import os
import shutil
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
REF_NTPD = ROOT.parent / "shared" / "ref-ntpd" / "ntpd"
SERVER, SOURCE = "127.0.0.1", "127.0.0.2"
KEY_SECRET = "benchsecret1"
RESTRICT = ("restrict default kod limited nomodify notrap nopeer noquery\n"
            "restrict 127.0.0.0 mask 255.0.0.0 kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\n")
MIXES = ("plain", "symmetric", "autokey")
N_RECORDS = 4096


def sh(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw)


def build_loadgen(tmp: Path) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("bench/server_throughput needs a C compiler (cc) and libcrypto's headers (libssl-dev)")
    out = tmp / "loadgen"
    try:
        sh(cc, "-O2", "-o", str(out), str(HERE / "loadgen.c"), "-lcrypto")
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"cannot build loadgen.c (libssl-dev installed?):\n{exc.stderr}") from None
    return str(out)


class Server:
    """One server in its own network namespace (named with our PID), stopped by PID."""

    name = ""
    autokey = False

    def __init__(self, tmp: Path) -> None:
        self.netns = f"benchtp{os.getpid()}{self.name.split()[0].replace('-', '')[:6]}"
        sh("ip", "netns", "add", self.netns)
        sh("ip", "-n", self.netns, "link", "set", "lo", "up")
        self.dir = tmp / self.netns
        self.dir.mkdir()
        (self.dir / "ntp.keys").write_text(f"1 MD5 {KEY_SECRET}\n")
        os.chmod(self.dir / "ntp.keys", 0o600)
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns, *SAFE, "taskset", "-c", "0", *self.command()],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.records: dict[str, Path] = {}

    def command(self) -> list[str]:
        raise NotImplementedError

    def exec(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.netns, *cmd, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)


def _autokey_keys(keysdir: Path) -> None:
    """A TC trusted authority `alice` and a client host `bob` (ntpd_py's keygen, ntp-keygen's formats)."""
    sys.path.insert(0, str(ROOT))
    from ntpd_py.keys.keygen import KeygenOptions, generate

    t = time.time() - 60
    for host, password, trusted, sub in (("alice", "serverpw", True, "alice"), ("bob", "clientpw", False, "bob")):
        (keysdir / sub).mkdir(parents=True)
        generate(KeygenOptions(host_key=True, host=host, trusted=trusted, password=password, modulus=1024),
                 keysdir / sub, t)


class NtpdPyServer(Server):
    name = "ntpd-py"
    autokey = True

    def command(self) -> list[str]:
        _autokey_keys(self.dir / "keys")
        conf = self.dir / "ntp.conf"
        conf.write_text(f"interface listen {SERVER}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 8\n{RESTRICT}"
                        f"keys {self.dir}/ntp.keys\ntrustedkey 1\ncrypto host alice pw serverpw\n"
                        f"keysdir {self.dir}/keys/alice\n")
        return [PYTHON, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf), "-l", str(self.dir / "log")]


class RefNtpdServer(Server):
    name = "classic ntpd"
    autokey = True

    def command(self) -> list[str]:
        _autokey_keys(self.dir / "keys")
        binary = self.dir / "ntpd-ref"  # its own name, so nothing mistakes it for a system ntpd
        shutil.copy(REF_NTPD, binary)
        conf = self.dir / "ntp.conf"
        conf.write_text(f"disable ntp\ndisable kernel\ntos orphan 8\ntos orphanwait 1\n{RESTRICT}"
                        f"keys {self.dir}/ntp.keys\ntrustedkey 1\ncrypto host alice pw serverpw\n"
                        f"keysdir {self.dir}/keys/alice/\ndriftfile {self.dir}/drift\n")
        return [str(binary), "-4", "-n", "-c", str(conf), "-l", str(self.dir / "log"), "-p", str(self.dir / "pid")]


class NtpsecServer(Server):
    name = "ntpsec ntpd"

    def command(self) -> list[str]:
        conf = self.dir / "ntp.conf"
        conf.write_text(f"disable ntp\ntos orphan 8\ntos orphanwait 0\n{RESTRICT}keys {self.dir}/ntp.keys\n"
                        f"trustedkey 1\ndriftfile {self.dir}/drift\n")
        return [shutil.which("ntpd") or "/usr/sbin/ntpd", "-n", "-c", str(conf), "-l", str(self.dir / "log")]


class ChronyServer(Server):
    name = "chronyd"
    chronyd = ""

    def command(self) -> list[str]:
        state = self.dir / "chrony"
        state.mkdir(mode=0o700)
        (state / "keys").write_text(f"1 MD5 ASCII:{KEY_SECRET}\n")
        conf = state / "chrony.conf"
        conf.write_text(f"bindaddress {SERVER}\nallow 127.0.0.0/8\nlocal stratum 8\ncmdport 0\nkeyfile {state}/keys\n"
                        f"pidfile {state}/chronyd.pid\ndriftfile {state}/drift\n")
        return [self.chronyd, "-x", "-d", "-u", "root", "-f", str(conf)]


def make_records(server: Server, tmp: Path) -> None:
    script = str(HERE / "records.py")
    for mix in MIXES:
        out = server.dir / f"{mix}.rec"
        if mix == "plain":
            sh(PYTHON, script, "plain", str(out), str(N_RECORDS))
        elif mix == "symmetric":
            sh(PYTHON, script, "symmetric", str(out), str(N_RECORDS), "1", KEY_SECRET)
        elif server.autokey:
            try:
                server.exec(PYTHON, script, "autokey", str(out), str(N_RECORDS), SERVER, SOURCE,
                            str(server.dir / "keys" / "bob"), "bob", "clientpw", cwd=ROOT, timeout=90)
            except subprocess.CalledProcessError as exc:
                print(f"[bench] {server.name}: no Autokey cookie: {exc.stderr.strip()[-300:]}", file=sys.stderr)
                continue
        else:
            continue
        server.records[mix] = out


def run_load(loadgen: str, server: Server, mix: str, seconds: float, window: int, client: str) -> tuple[float, int]:
    out = server.exec("taskset", "-c", "1", loadgen, SOURCE, SERVER, "123", str(seconds), str(window),
                      str(server.records[mix]), client).stdout
    fields = dict(item.split("=") for item in out.split())
    return int(fields["valid"]) / float(fields["seconds"]), int(fields["invalid"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--servers", default="ntpd-py,classic,ntpsec,chrony")
    ap.add_argument("--client", choices=("spin", "block"), default="spin")
    args = ap.parse_args()
    if args.seconds > 60 or args.rounds > 10:
        ap.error("bounded: --seconds <= 60, --rounds <= 10")
    wanted = set(args.servers.split(","))
    ChronyServer.chronyd = shutil.which("chronyd") or str(ROOT / ".deps/chrony/usr/sbin/chronyd")
    kinds = [(k, key) for k, key in ((NtpdPyServer, "ntpd-py"), (RefNtpdServer, "classic"), (NtpsecServer, "ntpsec"),
                                     (ChronyServer, "chrony")) if key in wanted]
    if not REF_NTPD.exists():
        kinds = [(k, key) for k, key in kinds if key != "classic"]
    results: dict[tuple[str, str], list[float]] = {}
    invalid: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench_tp_") as tmpdir:
        tmp = Path(tmpdir)
        loadgen = build_loadgen(tmp)
        servers: list[Server] = []
        try:
            for kind, _ in kinds:
                servers.append(kind(tmp))
            time.sleep(4)  # local clock / orphan mode: every server synchronised to itself
            for server in servers:
                make_records(server, tmp)
            for _ in range(args.rounds):
                for server in servers:
                    for mix in server.records:
                        rate, bad = run_load(loadgen, server, mix, args.seconds, args.window, args.client)
                        results.setdefault((server.name, mix), []).append(rate)
                        invalid[server.name] = invalid.get(server.name, 0) + bad
        finally:
            for server in servers:
                server.stop()
    names = [s.name for s in servers]
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(f"valid replies/s, median of {args.rounds} rounds of {args.seconds:g} s (server on one core, CPU 0; "
          f"client: {args.client})\n")
    print(f"{'server':<14}" + "".join(f"{m:>12}" for m in MIXES) + f"{'invalid':>10}")
    for name in names:
        cells = "".join(f"{medians[(name, m)]:>12,.0f}" if (name, m) in medians else f"{'n/a':>12}" for m in MIXES)
        print(f"{name:<14}{cells}{invalid.get(name, 0):>10}")
    ref = "ntpsec ntpd"
    print()
    for name in names:
        if name == ref:
            continue
        ratios = []
        for mix in MIXES:
            if (name, mix) in medians and (ref, mix) in medians and medians[(ref, mix)]:
                ratios.append(f"{mix} {medians[(name, mix)] / medians[(ref, mix)]:.2f}")
        if ratios:
            print(f"{name} / ntpsec: " + ", ".join(ratios))
    if ("ntpd-py", "autokey") in medians and ("classic ntpd", "autokey") in medians:
        print(f"ntpd-py / classic ntpd (autokey): {medians[('ntpd-py', 'autokey')] / medians[('classic ntpd', 'autokey')]:.2f}")
    if ("ntpd-py", "plain") in medians and (ref, "plain") in medians:
        plain = medians[("ntpd-py", "plain")] / medians[(ref, "plain")]
        mac = medians[("ntpd-py", "symmetric")] / medians[(ref, "symmetric")] if (ref, "symmetric") in medians else 0
        print(f"goals: plain {plain:.2f} (>= 0.6) {'OK' if plain >= 0.6 else 'BELOW'}; "
              f"symmetric MAC {mac:.2f} (>= 0.5) {'OK' if mac >= 0.5 else 'BELOW'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
