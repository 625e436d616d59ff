"""A second daemon on an address that is already served is refused, naming the address and the other
process's pidfile (issue 10, finding 5: with SO_REUSEADDR a second ntpd-py started and took the traffic)."""

from __future__ import annotations

import os
import subprocess
import sys

from core_daemons import NtpdPy, wait_until

from conftest import ROOT, free_loopback, safe_cmd
from ntpd_py.control.client import ControlClient


def test_second_daemon_on_the_same_address_is_refused(tmp_path):
    address = free_loopback()
    first = NtpdPy(tmp_path, "first", address, "server 127.127.1.0\nfudge 127.127.1.0 stratum 7\n").start()
    try:
        second_conf = tmp_path / "second.conf"
        second_conf.write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {address}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 9\n")
        second_pid = tmp_path / "second.pid"
        result = subprocess.run(safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(second_conf),
                                          "-l", str(tmp_path / "second.log"), "-p", str(second_pid)]),
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 1
        message = result.stderr
        assert f"{address} port 123 is already being served" in message, message
        assert f"process {first.proc.pid}" in message or str(first.pidfile) in message, message
        assert f"pidfile {first.pidfile}" in message, message
        assert not second_pid.exists()  # the first daemon's pidfile and socket are untouched
        assert first.pidfile.exists() and first.proc.poll() is None
        def stratum():
            with ControlClient(address, timeout=1.0, retries=2) as client:
                return client.read_system()["stratum"] == "8"

        assert wait_until(stratum, 10)  # the first daemon (stratum 7 + 1) is still the one answering
    finally:
        first.stop()


def test_a_free_address_still_starts(tmp_path):
    daemon = NtpdPy(tmp_path, "alone", free_loopback(), "server 127.127.1.0\n").start()
    try:
        assert "already being served" not in daemon.log_text()
    finally:
        daemon.stop()
