"""Floods of spoofed packets against a real ntpd-py server with Autokey, on loopback, bounded in count and time.

Before the fix, about 107k spoofed mode-1 packets with cookie-0 MACs made 65,408 ephemeral associations
(615 MB), after which the daemon answered neither mode 3 nor mode 6 and ignored SIGTERM. Each test here
first shows the flood's packets are accepted as far as ntpd would accept them (MACs verify: associations
are made up to the cap, or the counters of the rule that refuses them rise), then that the daemon keeps
answering an honest client's mode-3 and mode-6 requests within 1 s during the flood, that its associations
stay bounded, and that it exits within 5 s of SIGTERM.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from adversary import make_group, start_client
from conftest import ROOT, free_loopback

from ntpd_py.control.client import ControlClient, ControlError
from ntpd_py.engine.state import EPHEMERAL_MAX

FLOOD = ROOT / "bench" / "abuse" / "flood.py"
SERVER = "crypto host alice pw serverpw\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 5\n"
pytestmark = pytest.mark.slow


class Probe:
    """An honest client asking the server (mode 3 and mode 6) every 100 ms; keeps the worst latencies."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.worst = {"mode3": 0.0, "mode6": 0.0}
        self.lost = {"mode3": 0, "mode6": 0}
        self.asked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Probe":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _mode3(self, sock: socket.socket) -> None:
        t0 = time.monotonic()
        sock.sendto(b"\x23" + bytes(39) + t0.hex().encode()[:8].ljust(8, b"0"), (self.server, 123))
        try:
            sock.recvfrom(2048)
            self.worst["mode3"] = max(self.worst["mode3"], time.monotonic() - t0)
        except socket.timeout:
            self.lost["mode3"] += 1

    def _mode6(self) -> None:
        t0 = time.monotonic()
        try:
            with ControlClient(self.server, timeout=1.0, retries=0) as client:
                client.read_system(["stratum"])
            self.worst["mode6"] = max(self.worst["mode6"], time.monotonic() - t0)
        except (ControlError, OSError):
            self.lost["mode6"] += 1

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((free_loopback(0), 0))
            sock.settimeout(1.0)
            while not self._stop.is_set():
                self._mode3(sock)
                self._mode6()
                self.asked += 1
                time.sleep(0.1)


def flood(target: str, kind: str, count: int, rate: float, **extra: int) -> dict:
    argv = [sys.executable, str(FLOOD), "--target", target, "--kind", kind, "--count", str(count),
            "--rate", str(rate)] + [f"--{k.replace('_', '-')}={v}" for k, v in extra.items()]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def counters(server) -> dict[str, int]:
    names = ["ss_declined", "ss_restricted", "ss_badauth", "ss_limited", "ss_received"]
    values = server.system(names)
    return {n: int(values.get(n, "0")) for n in names}


def associations(server) -> int:
    with ControlClient(server.addr, timeout=1.0, retries=2) as client:
        return len(client.associations())


def _server(tmp_path, restrict: str):
    dirs = make_group(tmp_path, clients=())
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "keys").symlink_to(dirs["alice"])
    body = SERVER + restrict
    return start_client(free_loopback(), tmp_path / "srv", body)


def _assert_alive(server, probe: Probe, rss_before: int) -> None:
    assert probe.asked >= 5, probe.asked
    assert probe.lost == {"mode3": 0, "mode6": 0}, (probe.lost, probe.worst)
    assert probe.worst["mode3"] < 1.0 and probe.worst["mode6"] < 1.0, probe.worst
    assert rss_kib(server.proc.pid) < rss_before + 60_000, (rss_before, rss_kib(server.proc.pid))


def test_spoofed_symmetric_active_flood_is_capped_and_the_daemon_stays_responsive(tmp_path):
    server = _server(tmp_path, "")
    try:
        rss_before = rss_kib(server.proc.pid)
        before = counters(server)
        with Probe(server.addr) as probe:
            sent = flood(server.addr, "assoc", count=20000, rate=10000, sources=200, ports=5)
            time.sleep(0.5)
        after = counters(server)
        count = associations(server)
        # the flood works as far as ntpd lets it: cookie-0 ASSOC packets mobilize associations...
        assert sent["sent"] == 20000
        assert count == EPHEMERAL_MAX + 1, count  # ...up to the cap (+ the local clock), never beyond
        assert after["ss_declined"] - before["ss_declined"] >= 15000, (before, after)  # the rest declined
        _assert_alive(server, probe, rss_before)
    finally:
        exit_time = server.stop()
    assert exit_time < 5, exit_time


@pytest.mark.parametrize("rule, counter", [("nopeer", "ss_restricted"), ("noepeer", "ss_declined")])
def test_flood_from_nopeer_and_noepeer_sources_makes_no_association(tmp_path, rule, counter):
    server = _server(tmp_path, f"restrict 127.0.0.0 mask 255.0.0.0 {rule}\n")
    try:
        rss_before = rss_kib(server.proc.pid)
        before = counters(server)
        with Probe(server.addr) as probe:
            flood(server.addr, "assoc", count=20000, rate=10000, sources=200, ports=5)
            time.sleep(0.5)
        after = counters(server)
        assert after[counter] - before[counter] >= 19000, (before, after)
        assert associations(server) == 1  # the local clock only
        _assert_alive(server, probe, rss_before)
    finally:
        exit_time = server.stop()
    assert exit_time < 5, exit_time


def test_ippeerlimit_bounds_associations_per_address(tmp_path):
    server = _server(tmp_path, "restrict 127.0.0.0 mask 255.0.0.0 ippeerlimit 1\n")
    try:
        flood(server.addr, "assoc", count=400, rate=2000, sources=10, ports=5)
        time.sleep(0.5)
        with ControlClient(server.addr, timeout=1.0, retries=2) as client:
            sources = [client.read_peer(row.assid, ["srcadr"]).get("srcadr") for row in client.associations()]
        spoofed = [s for s in sources if s and not s.startswith("127.127.")]
        assert spoofed and len(spoofed) == len(set(spoofed)) <= 10, sources  # one per address, 5 ports each tried
    finally:
        server.stop()


def test_plain_mode1_flood_is_declined_without_authentication(tmp_path):
    """`enable auth` (the default): unauthenticated symmetric-active packets mobilize nothing."""
    server = _server(tmp_path, "")
    try:
        before = counters(server)
        flood(server.addr, "plain1", count=5000, rate=10000, sources=50, ports=2)
        time.sleep(0.3)
        after = counters(server)
        assert after["ss_declined"] - before["ss_declined"] >= 4900, (before, after)
        assert associations(server) == 1
    finally:
        server.stop()


def test_sigterm_during_a_flood_exits_within_5_seconds(tmp_path):
    server = _server(tmp_path, "")
    argv = [sys.executable, str(FLOOD), "--target", server.addr, "--kind", "assoc", "--count", "30000",
            "--rate", "10000", "--sources", "200", "--ports", "5"]
    flooding = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        assert flooding.poll() is None  # still flooding when the signal comes
        exit_time = server.stop()
        assert server.proc.returncode == 0 and exit_time < 5, (server.proc.returncode, exit_time)
    finally:
        flooding.wait(30)
