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


def test_second_wildcard_daemon_is_refused_but_a_specific_one_lives_beside_it(tmp_path):
    """Two daemons without `interface` lines (one wildcard socket each) on one port: the second is refused.
    A daemon on a specific address may live beside a wildcard one: the kernel gives it its own traffic."""
    import socket as _socket

    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def conf(name: str, lines: str) -> list[str]:
        path = tmp_path / f"{name}.conf"
        path.write_text(f"port {port}\nserver 127.127.1.0\n{lines}")
        return safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(path), "-l",
                         str(tmp_path / f"{name}.log"), "-p", str(tmp_path / f"{name}.pid")])

    first = subprocess.Popen(conf("wild1", ""), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: "listening on 0.0.0.0" in (tmp_path / "wild1.log").read_text(), 10)
        second = subprocess.run(conf("wild2", ""), cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert f"0.0.0.0 port {port} is already being served by process {first.pid}" in second.stderr, second.stderr
        assert f"pidfile {tmp_path / 'wild1.pid'}" in second.stderr
        address = f"127.{os.getpid() % 200 + 20}.{port % 250}.{port // 250 % 250 + 2}"  # under the wildcard
        beside = NtpdPy(tmp_path, "beside", address, "server 127.127.1.0\nfudge 127.127.1.0 stratum 3\n", port=port)
        beside.start()
        try:
            def stratum():
                with ControlClient(address, port, timeout=1.0, retries=2) as client:
                    return client.read_system()["stratum"] == "4"

            assert wait_until(stratum, 10)  # its address answers from the specific daemon, not the wildcard
        finally:
            beside.stop()
    finally:
        first.terminate()
        first.wait(10)


def test_a_wildcard_daemon_starts_beside_an_earlier_specific_one(tmp_path):
    """Either order works: a specific-address daemon started first must not keep a wildcard daemon on the
    same port from starting (found as a flaky broadcast test: the wildcard client lost the race and refused),
    and a second daemon on the specific address is still refused afterwards."""
    import socket

    from ntpd_py.daemon.main import Daemon, DaemonError

    conf = tmp_path / "ntp.conf"
    conf.write_text("server 127.127.1.0\n")
    specific, wildcard, intruder = (Daemon(str(conf), logfile=str(tmp_path / "log")) for _ in range(3))
    address = free_loopback()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    first = specific._bind(address, port)
    try:
        second = wildcard._bind("0.0.0.0", port)
        second.close()
        try:
            intruder._bind(address, port).close()
        except DaemonError as exc:
            assert f"{address} port {port} is already being served" in str(exc)
        else:
            raise AssertionError("a second daemon took over the specific address")
    finally:
        first.close()
