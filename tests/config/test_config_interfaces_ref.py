"""The same `interface` lines mean the same to ntpd-py and to the reference ntpd 4.2.8p15: both daemons read
one ntp.conf in a network namespace of this test (lo with 127.0.0.1 and 127.0.0.5, ::1, and a veth pair
10.9.0.1 on v0 / 10.9.1.1 on v1), and the addresses each serves are compared (reference: its "Listen normally
on" log lines; ntpd-py: "listening on"). Run one after the other, stopped by PID, namespace removed.

Required when CI=true (fails if ../shared/ref-ntpd is missing there); skipped with a message elsewhere.
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

from conftest import IN_CI, ROOT, require_program, safe_cmd, stop_started

REF = Path(os.environ.get("NTPD_PY_REF", ROOT.parent / "shared" / "ref-ntpd"))
pytestmark = [pytest.mark.interop]

CASES = [
    "interface ignore ipv4\ninterface ignore ipv6\ninterface listen 127.0.0.5\n",  # the lab's form
    "interface listen 127.0.0.5\n",  # loopback still listens by default
    "interface ignore wildcard\ninterface listen 127.0.0.5\n",
    "interface ignore all\ninterface listen 10.9.0.1\n",
    "interface listen 10.9.0.1\ninterface ignore all\n",  # the last matching rule wins
    "interface listen 10.9.0.0/16\ninterface drop 10.9.1.1\n",
    "interface ignore lo\ninterface listen v1\n",
]


@pytest.fixture(scope="module")
def netns():
    if not (REF / "ntpd").is_file():
        if IN_CI:
            pytest.fail(f"reference ntpd is required in CI but {REF / 'ntpd'} is missing")
        pytest.skip(f"reference ntpd not available at {REF} (see ../shared/ref-ntpd/README.md)")
    require_program("ip")
    name = f"limifs{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for args in (["link", "set", "lo", "up"], ["addr", "add", "127.0.0.5/8", "dev", "lo"],
                     ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                     ["addr", "add", "10.9.0.1/24", "dev", "v0"], ["addr", "add", "10.9.1.1/24", "dev", "v1"],
                     ["link", "set", "v0", "up"], ["link", "set", "v1", "up"]):
            subprocess.run(["ip", "netns", "exec", name, "ip", *args], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _served(log: str, pattern: str) -> set[str]:
    out = set()
    for match in re.finditer(pattern, log):
        address = match.group(1).strip("[]")
        address = re.sub(r"\]?:123$", "", address).strip("[]").split("%", 1)[0]
        if address.lower().startswith("fe80:"):
            continue  # link-local: named differently by the two (scope id vs interface); not compared
        out.add(address)
    return out


def _run(ns: str, argv: list[str], pidfile: Path, log: Path, ready: str) -> str:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *safe_cmd(argv)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if ready in text or proc.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        return log.read_text() if log.exists() else ""
    finally:
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            pass
        stop_started(proc)


@pytest.mark.parametrize("rules", CASES, ids=[c.replace("interface ", "").replace("\n", "; ").strip("; ")
                                               for c in CASES])
def test_same_addresses_as_the_reference(netns: str, tmp_path: Path, rules: str) -> None:
    binary = tmp_path / "ntpd-ref"
    shutil.copy(REF / "ntpd", binary)
    conf = tmp_path / "ntp.conf"
    conf.write_text(f"disable ntp\ndisable kernel\ndriftfile {tmp_path}/drift\n{rules}")
    ref_log = _run(netns, [str(binary), "-n", "-c", str(conf), "-l", str(tmp_path / "ref.log"), "-p",
                           str(tmp_path / "ref.pid")], tmp_path / "ref.pid", tmp_path / "ref.log",
                   "routing socket")
    ours_log = _run(netns, [sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf), "-l",
                            str(tmp_path / "ours.log"), "-p", str(tmp_path / "ours.pid")], tmp_path / "ours.pid",
                    tmp_path / "ours.log", "listening on")
    reference = _served(ref_log, r"Listen normally on \d+ \S+ (\S+)")
    ours = _served(ours_log, r"listening on (\S+) port 123")
    assert reference, ref_log
    assert ours == reference, (ours_log, ref_log)
