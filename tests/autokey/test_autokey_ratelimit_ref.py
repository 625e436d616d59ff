"""A client that is welcome everywhere: against the reference ntpd 4.2.8p15 with the production line
`restrict default kod notrap nomodify nopeer noquery limited`, the ntpd-py Autokey client reaches full flags
without drawing a single RATE kiss, and no slower than the reference client with the same polls.

Both sides are real: the reference server (../shared/ref-ntpd/ntpd, under its own name, without CAP_SYS_TIME,
`disable ntp`) in one network namespace, the client in another, joined by a veth pair. The reference's own
counters (`ntpq -c sysstats`: "rate limited", "KoD responses") are the judge. The namespaces are this test's
own (name with the PID); everything is stopped by PID and removed at the end.

Required when CI=true (fails if ../shared/ref-ntpd is missing); skipped with a message elsewhere.
(A minimal namespace helper of its own: helper "refsuite" is writing the shared one in parallel.)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from autokey_daemons import make_keys
from conftest import IN_CI, ROOT, require_program, safe_cmd

REF = Path(os.environ.get("NTPD_PY_REF", ROOT.parent / "shared" / "ref-ntpd"))
PRODUCTION = "restrict default kod notrap nomodify nopeer noquery limited"
FULL = 0x87F23  # IFF, every step, NID 8; the TAI bit 0x2 is accepted either way
POLLS = "minpoll 3 maxpoll 4"  # the reference README's short polls, for both clients
pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _reference() -> Path:
    if not (REF / "ntpd").is_file():
        if IN_CI:
            pytest.fail(f"reference ntpd 4.2.8p15 is required in CI but {REF / 'ntpd'} is missing")
        pytest.skip(f"reference ntpd not available at {REF} (see ../shared/ref-ntpd/README.md)")
    require_program("ip")
    require_program("setpriv")
    return REF


class Namespaces:
    """Two namespaces joined by a veth pair: server 10.R.0.1, client 10.R.0.2."""

    def __init__(self, tag: str) -> None:
        pid = os.getpid()
        self.server, self.client = f"lim{tag}s{pid}", f"lim{tag}c{pid}"
        octet = 100 + pid % 100
        self.server_addr, self.client_addr = f"10.{octet}.0.1", f"10.{octet}.0.2"
        veth = f"lv{tag}{pid}"[:13]
        for ns in (self.server, self.client):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            self.ip(ns, "link", "set", "lo", "up")
        subprocess.run(["ip", "link", "add", veth + "a", "netns", self.server, "type", "veth", "peer", "name",
                        veth + "b", "netns", self.client], check=True)
        for ns, dev, addr in ((self.server, veth + "a", self.server_addr), (self.client, veth + "b", self.client_addr)):
            self.ip(ns, "addr", "add", f"{addr}/24", "dev", dev)
            self.ip(ns, "link", "set", dev, "up")

    @staticmethod
    def ip(ns: str, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, "ip", *args], check=True)

    def run(self, ns: str, argv: list[str], timeout: float = 15) -> str:
        out = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        return out.stdout + out.stderr

    def close(self) -> None:
        for ns in (self.server, self.client):
            subprocess.run(["ip", "netns", "del", ns], check=False)


class Proc:
    def __init__(self, argv: list[str], pidfile: Path, log: Path) -> None:
        self.pidfile, self.log = pidfile, log
        self.popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        pid = None
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        for target in filter(None, (pid, self.popen.pid)):
            try:
                os.kill(target, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


def _ref_conf(work: Path, body: str) -> Path:
    conf = work / "ntp.conf"
    conf.write_text(f"disable ntp\ndisable kernel\ndriftfile {work}/drift\nstatsdir {work}/\nkeysdir {work}/keys/\n"
                    + body)
    return conf


def start_reference(ns: Namespaces, where: str, work: Path, body: str, binary: Path) -> Proc:
    conf = _ref_conf(work, body)
    argv = ["ip", "netns", "exec", where, *safe_cmd([str(binary), "-4", "-n", "-c", str(conf), "-l",
                                                     str(work / "ntpd.log"), "-p", str(work / "ntpd.pid")])]
    return Proc(argv, work / "ntpd.pid", work / "ntpd.log")


def start_ntpd_py(ns: Namespaces, work: Path, body: str) -> Proc:
    conf = work / "ntp.conf"
    conf.write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {ns.client_addr}\ndisable ntp\nkeysdir {work}/keys\n" + body)
    argv = ["ip", "netns", "exec", ns.client, *safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c",
                                                         str(conf), "-l", str(work / "ntpd.log"), "-p",
                                                         str(work / "ntpd.pid")])]
    return Proc(argv, work / "ntpd.pid", work / "ntpd.log")


def client_flags(ns: Namespaces, ntpq: str, addr: str) -> int | None:
    listing = ns.run(ns.client, [ntpq, "-n", "-c", "as", addr])
    m = re.search(r"^\s*\d+\s+(\d+)\s", listing, re.M)
    if not m:
        return None
    fm = re.search(r"flags=(0x[0-9a-fA-F]+|\d+)", ns.run(ns.client, [ntpq, "-n", "-c", f"rv {m.group(1)} flags", addr]))
    return int(fm.group(1), 0) if fm else None


def time_to_full(ns: Namespaces, ntpq: str, addr: str, start: float, timeout: float) -> float | None:
    while time.monotonic() - start < timeout:
        flags = client_flags(ns, ntpq, addr)
        if flags is not None and flags | 0x2 == FULL:
            return time.monotonic() - start
        time.sleep(0.5)
    return None


def server_counters(ns: Namespaces, ntpq: str) -> dict[str, int]:
    text = ns.run(ns.server, [ntpq, "-n", "-c", "sysstats", "127.0.0.1"])
    counters = {}
    for name in ("rate limited", "KoD responses"):
        m = re.search(rf"{name}:\s+(\d+)", text)
        assert m, f"sysstats from the reference: {text}"
        counters[name] = int(m.group(1))
    return counters


def test_autokey_client_draws_no_kod_from_a_production_reference_server(tmp_path: Path) -> None:
    ref = _reference()
    work = tmp_path
    binary = work / "ntpd-ref"  # its own process name (README), never mistaken for a system ntpd
    shutil.copy(ref / "ntpd", binary)
    ntpq = str(ref / "ntpq")
    ns = Namespaces("k")
    procs: list[Proc] = []
    figures: dict[str, float | None] = {}
    try:
        keys = make_keys(work / "hosts", "iff", ["bob"], time.time() - 86400)
        server_body = (f"{PRODUCTION}\nrestrict 127.0.0.1\ntos orphan 5\ntos orphanwait 1\n"
                       "crypto host alice pw serverpw\n")
        client_line = f"server {ns.server_addr} iburst autokey ident alice {POLLS}\n"
        runs = {
            "ntpd-py": lambda d: start_ntpd_py(ns, d, f"crypto host bob pw clientpw\n{client_line}"),
            "reference": lambda d: start_reference(ns, ns.client, d, "tos orphan 10\ntos orphanwait 1\n"
                                                   f"restrict 127.0.0.1\ncrypto host bob pw clientpw\n{client_line}",
                                                   binary),
        }
        counters = {}
        for name, launch in runs.items():
            # a fresh reference server for each client, so both start from an empty limiter
            sdir, cdir = work / f"server-{name}", work / f"client-{name}"
            for d, src in ((sdir, keys["alice"]), (cdir, keys["bob"])):
                d.mkdir()
                shutil.copytree(src, d / "keys", symlinks=True)
            server = start_reference(ns, ns.server, sdir, server_body, binary)
            procs.append(server)
            time.sleep(2)  # the reference server loads its keys and its local clock
            start = time.monotonic()
            client = launch(cdir)
            procs.append(client)
            query_addr = ns.client_addr if name == "ntpd-py" else "127.0.0.1"
            figures[name] = time_to_full(ns, ntpq, query_addr, start, 150)
            time.sleep(10)  # the iburst volley after proof, and the first normal poll: still no kiss
            counters[name] = server_counters(ns, ntpq)
            client.stop()
            server.stop()
        print(f"\nseconds to full flags against `{PRODUCTION}`, {POLLS}: "
              f"ntpd-py {figures['ntpd-py']}, reference client {figures['reference']}; "
              f"server counters: {counters}")
        assert figures["ntpd-py"] is not None, (client.log.read_text() if client.log.exists() else "no log")
        assert counters["ntpd-py"] == {"rate limited": 0, "KoD responses": 0}
        assert figures["reference"] is not None, "the reference client never reached full flags"
        assert figures["ntpd-py"] <= figures["reference"] + 2.0
    finally:
        for proc in procs:
            proc.stop()
        ns.close()
