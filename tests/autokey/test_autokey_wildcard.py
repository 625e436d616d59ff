"""Autokey through a wildcard socket: the server has no `interface listen`, so the daemon shell learns each
datagram's local address from IP_PKTINFO and answers from it. Not on port 123 (a wildcard bind there would
collide with other tests and the lab): both daemons use the `port N` extension with a random free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from autokey_daemons import free_loopback, make_keys

from conftest import ROOT, safe_cmd
from ntpd_py.control.client import ControlClient, ControlError

TC_FLAGS = 0x87F01  # trusted certificate scheme, every step done (no leap file here, so no TAI bit 0x02)


def free_port() -> int:
    """A UDP port free on the wildcard now (the kernel picks it), so the server can bind 0.0.0.0 there."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def start(workdir, listen: str | None, port: int, body: str) -> subprocess.Popen:
    conf = workdir / "ntp.conf"
    conf.write_text((f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {listen}\n" if listen else "") + f"port {port}\ndisable ntp\n"
                    f"keysdir {workdir / 'keys'}\nrestrict 127.0.0.0 mask 255.0.0.0\n" + body)
    argv = safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf),
                     "-l", str(workdir / "ntpd.log")])
    return subprocess.Popen(argv, cwd=workdir, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def peer_flags(address: str, port: int) -> int | None:
    try:
        with ControlClient(address, port, timeout=0.5, retries=1) as client:
            assoc = client.associations()[0]
            return int(client.read_peer(assoc.assid, ["flags"])["flags"], 0)
    except (ControlError, OSError, IndexError, KeyError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.interop
def test_autokey_server_on_a_wildcard_socket(tmp_path):
    port = free_port()
    alice_addr, bob_addr = free_loopback(port), free_loopback(port)
    make_keys(tmp_path, None, ["bob"], time.time() - 60)
    alice = start(tmp_path / "alice", None, port,
                  "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ncrypto host alice pw serverpw\n")
    try:
        deadline = time.monotonic() + 10
        while "listening on 0.0.0.0" not in _log(tmp_path / "alice") and time.monotonic() < deadline:
            time.sleep(0.05)
        bob = start(tmp_path / "bob", bob_addr, port,
                    f"crypto host bob pw clientpw\nserver {alice_addr} iburst autokey minpoll 4\n")
        try:
            flags, deadline = None, time.monotonic() + 25
            while flags != TC_FLAGS and time.monotonic() < deadline:
                time.sleep(0.25)
                flags = peer_flags(bob_addr, port)
            assert flags == TC_FLAGS, (hex(flags or 0), _log(tmp_path / "bob")[-2000:],
                                       _log(tmp_path / "alice")[-2000:])
            # the server's answers came from the address bob asked (else bob would not have matched them)
            with ControlClient(alice_addr, port, timeout=1, retries=2) as client:
                assert client.read_system(["ss_processed"])["ss_processed"] != "0"
        finally:
            bob.terminate()
            bob.wait(10)
    finally:
        alice.terminate()
        alice.wait(10)


def _log(workdir) -> str:
    path = workdir / "ntpd.log"
    return path.read_text() if path.exists() else ""
