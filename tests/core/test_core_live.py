"""Live daemons on loopback: ntpd-py client/server with MD5 and SHA1 keys, symmetric peers, the real
ntpq against them, a short fuzz run at a live daemon, --check, SIGHUP and SIGTERM."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, free_loopback, require_program
from core_daemons import NtpdPy, wait_until

from ntpd_py.ntptime import to_ntp64, unix_now
from ntpd_py.wire.packet import NtpPacket, decode, encode

pytestmark = pytest.mark.slow
SYNC_TIMEOUT = 30


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Everything started at once, so the module costs one iburst (about 8 s)."""
    d = tmp_path_factory.mktemp("core_lab")
    (d / "stats").mkdir()
    addr = {name: free_loopback() for name in ("server", "md5", "sha1", "badkey", "peer_a", "peer_b")}
    daemons = {
        "server": NtpdPy(d, "server", addr["server"], "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\n"
                                                     "trustedkey 1 2\n"),
        "md5": NtpdPy(d, "md5", addr["md5"], f"server {addr['server']} iburst key 1\ntrustedkey 1\n"
                                            f"statsdir {d}/stats/\nstatistics peerstats loopstats\n"
                                            "filegen peerstats file peerstats type none enable\n"
                                            "filegen loopstats file loopstats type none enable\n"),
        "sha1": NtpdPy(d, "sha1", addr["sha1"], f"server {addr['server']} iburst key 2\ntrustedkey 2\n"),
        "badkey": NtpdPy(d, "badkey", addr["badkey"], f"server {addr['server']} iburst key 3\ntrustedkey 3\n"),
        "peer_a": NtpdPy(d, "peer_a", addr["peer_a"], "server 127.127.1.0 prefer\nfudge 127.127.1.0 stratum 6\n"
                                                     f"peer {addr['peer_b']} iburst key 1\ntrustedkey 1\n"),
        "peer_b": NtpdPy(d, "peer_b", addr["peer_b"], "server 127.127.1.0\nfudge 127.127.1.0 stratum 12\n"
                                                     f"peer {addr['peer_a']} iburst key 1\ntrustedkey 1\n"),
    }
    try:
        for daemon in daemons.values():
            daemon.start()
        yield daemons
    finally:
        for daemon in daemons.values():
            daemon.stop()


@pytest.mark.parametrize("client", ["md5", "sha1"])
def test_keyed_client_selects_server(lab, client):
    server = lab["server"]
    assert wait_until(lambda: lab[client].sys_peer() == server.address, SYNC_TIMEOUT), lab[client].log_text()
    with lab[client].client() as c:
        system = c.read_system()
        assert system["stratum"] == "10" and system["refid"] == server.address
        (assoc,) = c.associations()
        assert assoc.configured and assoc.auth_enabled and assoc.authentic and assoc.reachable
        peer = c.read_peer(assoc.assid)
        assert peer["keyid"] == ("1" if client == "md5" else "2")
        assert abs(float(peer["offset"])) < 50.0  # ms, same machine clock


def test_untrusted_key_never_reaches(lab):
    wait_until(lambda: lab["md5"].sys_peer(), SYNC_TIMEOUT)
    with lab["badkey"].client() as c:
        (assoc,) = c.associations()
        assert not assoc.reachable and assoc.selection != "sys.peer"
        assert int(c.read_system(["ss_badauth"])["ss_badauth"]) > 0
    assert "bad_auth" in lab["badkey"].log_text()


def test_symmetric_peers(lab):
    a, b = lab["peer_a"], lab["peer_b"]
    assert wait_until(lambda: b.sys_peer() == a.address, SYNC_TIMEOUT), b.log_text()
    with a.client() as c:
        assocs = {c.read_peer(x.assid)["srcadr"]: x for x in c.associations()}
        assert assocs[b.address].reachable
        assert c.read_peer(assocs[b.address].assid)["hmode"] == "1"


def test_real_ntpq_reads_the_daemon(lab):
    ntpq = require_program("ntpq")
    client = lab["md5"]
    assert wait_until(lambda: client.sys_peer(), SYNC_TIMEOUT)
    run = lambda *cmd: subprocess.run([ntpq, "-n", *[x for c in cmd for x in ("-c", c)], client.address],  # noqa: E731
                                      capture_output=True, text=True, timeout=20).stdout
    out = run("as")
    assert "sys.peer" in out and "yes" in out
    assid = out.strip().splitlines()[-1].split()[1]
    peers = run("peers")
    assert f"*{lab['server'].address}" in peers
    rv0 = run("rv 0")
    assert "stratum=10" in rv0 and "sync_ntp" in rv0
    rv = run(f"rv {assid}")
    assert f"srcadr={lab['server'].address}" in rv and "hmode=3" in rv
    flags = run(f"rv {assid} flags")
    # without Autokey an association has no flags variable: ntpq says so instead of failing
    assert "flags=" not in flags and "No information returned" in flags, flags


def test_short_fuzz_at_live_daemon(lab):
    server = lab["server"]
    rng = random.Random(7)
    valid = encode(NtpPacket(mode=3, xmt=to_ntp64(unix_now())))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((free_loopback(0), 0))
        for i in range(3000):
            data = bytearray(valid)
            if i % 3 == 0:
                data = bytearray(rng.randbytes(rng.randrange(0, 90)))
            else:
                for _ in range(rng.randint(1, 3)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                data += rng.randbytes(rng.choice([0, 2, 5, 30, 70]))
            s.sendto(bytes(data), (server.address, 123))
        s.settimeout(2)
        while True:  # drain whatever was answered
            try:
                s.recv(2048)
            except socket.timeout:
                break
        s.sendto(valid, (server.address, 123))
        reply = decode(s.recv(2048))
    assert reply.mode == 4 and reply.stratum == 9
    assert server.proc.poll() is None
    with server.client() as c:
        assert int(c.read_system(["ss_badformat"])["ss_badformat"]) > 100
    assert "internal error" not in server.log_text()


def test_sighup_reloads_and_sigterm_removes_pidfile(tmp_path):
    daemon = NtpdPy(tmp_path, "reload", free_loopback(), "tos orphan 7\ntos orphanwait 0\n").start()
    try:
        daemon.signal(signal.SIGHUP)
        assert wait_until(lambda: "configuration reloaded" in daemon.log_text(), 5)
        with daemon.client() as c:
            assert c.read_system()["stratum"] == "7"
    finally:
        assert daemon.stop() == 0
    assert not daemon.pidfile.exists()
    assert "exiting" in daemon.log_text()


def test_check_reports_file_and_line(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("server 127.0.0.1 iburst\nserver\nfrobnicate 3\n")
    cli = [sys.executable, "-m", "ntpd_py.daemon.cli", "--check", "-c", str(bad)]
    result = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode != 0
    assert f"{bad}:2:" in result.stderr and f"{bad}:3:" in result.stderr
    keys = tmp_path / "keys"
    keys.write_text("1 MD5 ok\n2 NOPE bad\n")
    good = tmp_path / "good.conf"
    good.write_text(f"keys {keys}\ntrustedkey 1\n")
    result = subprocess.run(cli[:-1] + [str(good)], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode != 0 and f"{keys}:2:" in result.stderr
    keys.write_text("1 MD5 ok\n")
    result = subprocess.run(cli[:-1] + [str(good)], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 0, result.stderr
    good.write_text(f"keys {keys}\ntrustedkey 1\nstatsdir {tmp_path}/missing/\n")
    result = subprocess.run(cli[:-1] + [str(good)], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode != 0 and f"{good}:3: error: statsdir" in result.stderr


def test_version_flag():
    result = subprocess.run([sys.executable, "-m", "ntpd_py.daemon.cli", "--version"], capture_output=True,
                            text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 0 and result.stdout.startswith("ntpd-py ")


def test_port_extension(tmp_path):
    address = free_loopback(11123)
    daemon = NtpdPy(tmp_path, "port", address, "tos orphan 9\ntos orphanwait 0\n", port=11123).start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            reply = None
            for _ in range(20):  # answered on the extension port at once; orphan stratum 9 once the timer has run
                s.sendto(encode(NtpPacket(mode=3, xmt=to_ntp64(unix_now()))), (address, 11123))
                reply = decode(s.recv(2048))
                if reply.stratum == 9:
                    break
                time.sleep(0.25)
        assert reply is not None and reply.stratum == 9
    finally:
        daemon.stop()



def test_statistics_files(lab):
    client = lab["md5"]
    assert wait_until(lambda: client.sys_peer(), SYNC_TIMEOUT)
    stats = client.directory / "stats"
    peerstats = wait_until(lambda: (stats / "peerstats").exists() and (stats / "peerstats").read_text(), 5)
    line = peerstats.splitlines()[-1].split()
    assert line[2] == lab["server"].address and len(line) == 8  # MJD secs addr status offset delay disp jitter
    assert int(line[0]) > 60000 and 0 <= float(line[1]) < 86400
    loopstats = (stats / "loopstats").read_text().splitlines()
    assert loopstats and len(loopstats[-1].split()) >= 7


def test_restrict_and_kod_live(tmp_path):
    blocked = free_loopback(0)
    daemon = NtpdPy(tmp_path, "restrict", free_loopback(),
                    f"tos orphan 6\ntos orphanwait 0\nrestrict default limited kod\nrestrict {blocked} ignore\n"
                    "discard average 3 minimum 2\n").start()
    try:
        request = encode(NtpPacket(mode=3, xmt=to_ntp64(unix_now())))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((free_loopback(0), 0))
            s.settimeout(3)
            first = wait_until(lambda: (s.sendto(request, (daemon.address, 123)), decode(s.recv(2048)))[1], 5)
            assert first.stratum in (0, 6)
            s.sendto(request, (daemon.address, 123))
            kod = decode(s.recv(2048))
            assert (kod.stratum, kod.refid) == (0, b"RATE")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((blocked, 0))
            s.settimeout(0.7)
            s.sendto(request, (daemon.address, 123))
            with pytest.raises(socket.timeout):
                s.recv(2048)
    finally:
        daemon.stop()
