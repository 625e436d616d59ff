"""Interoperability with real daemons from Debian: chronyd as a client of ntpd-py, and ntpd-py as a client
of ntpsec's ntpd (with no key, MD5 and SHA1). Nothing here may set a clock: chronyd runs with -x, ntpsec
with `disable ntp`, all without CAP_SYS_TIME; ntpsec binds every address, so it runs in a namespace."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import time

import pytest
from conftest import ROOT, free_loopback, require_program, safe_cmd
from core_daemons import KEYS_TEXT, NtpdPy, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def test_chronyd_selects_ntpd_py(tmp_path):
    chronyd, chronyc = require_program("chronyd"), require_program("chronyc")
    server = NtpdPy(tmp_path, "server", free_loopback(), "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\n").start()
    state = tmp_path / "chrony"
    state.mkdir(mode=0o700)
    sock = state / "chronyd.sock"
    conf = state / "chrony.conf"
    conf.write_text(f"server {server.address} iburst minpoll 0 maxpoll 2\nport 0\ncmdport 0\n"
                    f"bindcmdaddress {sock}\npidfile {state}/chronyd.pid\ndriftfile {state}/drift\n"
                    f"logdir {state}\nlog measurements\n")
    proc = subprocess.Popen(safe_cmd([chronyd, "-x", "-d", "-u", "root", "-f", str(conf)]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def selected():
            out = subprocess.run([chronyc, "-h", str(sock), "-n", "-c", "sources"], capture_output=True,
                                 text=True, timeout=5).stdout
            rows = [line.split(",") for line in out.splitlines()]
            return next((r for r in rows if len(r) > 8 and r[2] == server.address and r[1] == "*"), None)

        row = wait_until(selected, 30, 0.5)
        assert row, (server.log_text(), proc.poll())
        assert row[3] == "9"  # stratum seen by chrony
        offset = float(row[7])  # adjusted offset of the last sample, seconds
        assert abs(offset) < 0.05
        def tracking():
            out = subprocess.run([chronyc, "-h", str(sock), "-n", "-c", "tracking"], capture_output=True, text=True,
                                 timeout=5).stdout.split(",")
            return out if len(out) > 3 and out[1] == server.address else None

        fields = wait_until(tracking, 15, 0.5)
        assert fields, "chronyd's tracking never named the ntpd-py server"
        assert fields[2] == "10"  # chrony's own stratum: one below the server's 9
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
        server.stop()


@contextlib.contextmanager
def namespace_pair():
    """Two fresh network namespaces joined by a veth pair with 10.x.y.0/29 inside them only."""
    rng = random.Random()
    tag = f"{rng.getrandbits(24):06x}"
    ns_a, ns_b = f"corea{tag}", f"coreb{tag}"
    net = f"10.{rng.randint(1, 250)}.{rng.randint(0, 255)}"
    ip = require_program("ip")
    run = lambda *a: subprocess.run([ip, *a], check=True, capture_output=True, timeout=10)  # noqa: E731
    created = []
    try:
        for ns in (ns_a, ns_b):
            run("netns", "add", ns)
            created.append(ns)
            run("-n", ns, "link", "set", "lo", "up")
        run("link", "add", f"ca{tag}", "netns", ns_a, "type", "veth", "peer", "name", f"cb{tag}", "netns", ns_b)
        run("-n", ns_a, "addr", "add", f"{net}.1/29", "dev", f"ca{tag}")
        for host in (2, 3, 4):
            run("-n", ns_b, "addr", "add", f"{net}.{host}/29", "dev", f"cb{tag}")
        run("-n", ns_a, "link", "set", f"ca{tag}", "up")
        run("-n", ns_b, "link", "set", f"cb{tag}", "up")
        # daemons that enumerate interfaces at start (ntpsec) must find the link up with its addresses
        for ns, dev in ((ns_a, f"ca{tag}"), (ns_b, f"cb{tag}")):
            assert wait_until(lambda: b"LOWER_UP" in run("-n", ns, "link", "show", "dev", dev).stdout, 10, 0.05)
        yield ns_a, ns_b, net
    finally:
        for ns in created:
            subprocess.run([ip, "netns", "del", ns], capture_output=True, timeout=10)


def test_ntpd_py_client_of_ntpsec(tmp_path):
    ntpd = require_program("ntpd")
    ntpq = require_program("ntpq")
    keys = tmp_path / "ntp.keys"
    keys.write_text(KEYS_TEXT)
    with namespace_pair() as (ns_a, ns_b, net):
        server = f"{net}.1"
        conf = tmp_path / "ntpsec.conf"
        conf.write_text(f"disable ntp\ntos orphan 5\ntos orphanwait 0\nrestrict default\n"
                        f"restrict 127.0.0.0 mask 255.0.0.0\nrestrict {net}.0 mask 255.255.255.248\n"
                        f"keys {keys}\ntrustedkey 1 2\ndriftfile {tmp_path}/ntpsec.drift\n")
        ref = subprocess.Popen(["ip", "netns", "exec", ns_a,
                                *safe_cmd([ntpd, "-n", "-c", str(conf), "-l", str(tmp_path / "ntpsec.log")])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        clients = {}
        ntpsec_log = tmp_path / "ntpsec.log"
        wait_until(lambda: ntpsec_log.exists() and server in ntpsec_log.read_text(), 10, 0.1)  # bound its address
        try:
            for n, (label, key) in enumerate((("none", ""), ("md5", " key 1"), ("sha1", " key 2")), start=2):
                daemon = NtpdPy(tmp_path, f"client_{label}", f"{net}.{n}",
                                f"server {server} iburst{key}\ntrustedkey 1 2\n")
                daemon.proc = subprocess.Popen(["ip", "netns", "exec", ns_b, *safe_cmd(
                    [os.environ.get("PYTHON", str(ROOT / ".venv/bin/python")), "-m", "ntpd_py.daemon.cli", "-n",
                     "-c", str(daemon.conf), "-l", str(daemon.log), "-p", str(daemon.pidfile)])],
                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                clients[label] = daemon

            def peers(daemon):
                return subprocess.run(["ip", "netns", "exec", ns_b, ntpq, "-n", "-c", "peers", "-c", "as",
                                       daemon.address], capture_output=True, text=True, timeout=10).stdout

            deadline = time.monotonic() + 40
            for label, daemon in clients.items():
                out = wait_until(lambda: (lambda o: o if f"*{server}" in o else None)(peers(daemon)),
                                 max(1.0, deadline - time.monotonic()), 0.5)
                assert out, f"{label}: {peers(daemon)}\n{daemon.log_text()}"
                assert "sys.peer" in out
                if label != "none":
                    line = next(x for x in out.splitlines() if "sys.peer" in x)
                    assert " yes " in line and " ok " in line  # authenticated
        finally:
            for daemon in clients.values():
                daemon.stop()
            ref.terminate()
            ref.wait(10)


def test_ntpsec_client_selects_ntpd_py_with_sha1_key(tmp_path):
    """The other direction: ntpsec's ntpd accepts ntpd-py's SHA1-authenticated replies and selects it."""
    ntpd = require_program("ntpd")
    ntpq = require_program("ntpq")
    keys = tmp_path / "ntp.keys"
    keys.write_text(KEYS_TEXT)
    with namespace_pair() as (ns_a, ns_b, net):
        server = NtpdPy(tmp_path, "server", f"{net}.1", "server 127.127.1.0\nfudge 127.127.1.0 stratum 7\n"
                                                       "trustedkey 2\n")
        server.proc = subprocess.Popen(["ip", "netns", "exec", ns_a, *safe_cmd(
            [str(ROOT / ".venv/bin/python"), "-m", "ntpd_py.daemon.cli", "-n", "-c", str(server.conf),
             "-l", str(server.log), "-p", str(server.pidfile)])], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        # ntpsec's iburst is over in 10 s: the server must answer from its first packet
        assert wait_until(lambda: "listening on" in server.log_text(), 10, 0.05), server.stderr()
        conf = tmp_path / "ntpsec.conf"
        conf.write_text(f"disable ntp\nserver {net}.1 iburst key 2\nkeys {keys}\ntrustedkey 2\nrestrict default\n"
                        f"restrict 127.0.0.0 mask 255.0.0.0\ndriftfile {tmp_path}/ntpsec.drift\n")
        client = subprocess.Popen(["ip", "netns", "exec", ns_b,
                                   *safe_cmd([ntpd, "-n", "-c", str(conf), "-l", str(tmp_path / "ntpsec.log")])],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def peers():
                out = subprocess.run(["ip", "netns", "exec", ns_b, ntpq, "-n", "-c", "peers", "-c", "as",
                                      "127.0.0.1"], capture_output=True, text=True, timeout=10).stdout
                return out if f"*{net}.1" in out else None

            out = wait_until(peers, 40, 0.5)
            assert out, (server.log_text(), (tmp_path / "ntpsec.log").read_text()[-2000:])
            line = next(x for x in out.splitlines() if "sys.peer" in x)
            assert " yes " in line and " ok " in line  # ntpsec verified our SHA1 MACs
        finally:
            client.terminate()
            client.wait(10)
            server.stop()
