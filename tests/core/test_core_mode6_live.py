"""A live ntpd-py daemon read with the real ntpq: drop counters (ctl_*, ss_*, io_*) in `rv 0` and by name,
the MRU list (`ntpq -c mrulist`), and a transmit timestamp taken after the receive timestamp."""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import time
from typing import Iterator

import pytest
from core_daemons import NtpdPy

from conftest import free_loopback, require_program
from ntpd_py.ntptime import to_ntp64

CONF = "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\n"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[NtpdPy]:
    d = NtpdPy(tmp_path_factory.mktemp("mode6"), "srv", free_loopback(), CONF).start()
    try:
        yield d
    finally:
        d.stop()


def ntpq(daemon: NtpdPy, command: str) -> str:
    exe = require_program("ntpq")
    out = subprocess.run([exe, "-n", "-c", command, daemon.address], capture_output=True, text=True, timeout=20)
    return out.stdout + out.stderr


def values_of(text: str) -> dict[str, str]:
    return dict(re.findall(r"([a-z_0-9.]+)=([^,\s]*)", text))


def request(xmt: int) -> bytes:
    return bytes([0x23]) + bytes(39) + struct.pack("!Q", xmt)


@pytest.mark.interop
def test_drop_counters_in_rv0_and_by_name(daemon: NtpdPy) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(bytes([0x16, 0x02]), (daemon.address, 123))  # a mode-6 request cut short: ctl_too_short
        s.sendto(bytes([0x16, 0x02]) + bytes(9), (daemon.address, 123))  # 11 bytes: still short of a header
        s.sendto(b"\x23", (daemon.address, 123))  # an NTP packet cut short: ss_malformed_short
    time.sleep(0.3)
    rv0 = values_of(ntpq(daemon, "rv 0"))
    for name in ("ctl_requests", "ctl_dropped", "ctl_too_short", "ss_badformat", "ss_malformed_short",
                 "io_sendfailed"):
        assert name in rv0, name
    named = values_of(ntpq(daemon, "rv 0 ctl_dropped,ctl_too_short,ss_malformed_short,ss_restricted"))
    assert set(named) == {"ctl_dropped", "ctl_too_short", "ss_malformed_short", "ss_restricted"}
    assert int(named["ctl_dropped"]) >= 2 and int(named["ctl_too_short"]) >= 2
    assert int(named["ss_malformed_short"]) >= 1
    assert "UNKNOWNVAR" in ntpq(daemon, "rv 0 ctl_no_such_counter")


@pytest.mark.interop
def test_mrulist_shows_clients(daemon: NtpdPy) -> None:
    client_address = free_loopback(0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((client_address, 0))
        s.settimeout(2)
        for _ in range(3):
            s.sendto(request(to_ntp64(time.time())), (daemon.address, 123))
            s.recv(100)
        port = s.getsockname()[1]
    out = ntpq(daemon, "mrulist")
    row = next(line for line in out.splitlines() if line.rstrip().endswith(client_address)).split()
    # lstint avgint rstr r m v count score drop rport remote-address (ntpsec's layout)
    assert row[4:7] == ["3", "4", "3"], out  # mode 3, version 4, three packets
    assert row[-2] == str(port)


def test_transmit_timestamp_is_taken_after_receive(daemon: NtpdPy) -> None:
    later = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for i in range(5):
            sent = to_ntp64(time.time())
            s.sendto(request(sent), (daemon.address, 123))
            reply = s.recv(100)
            org, rec, xmt = struct.unpack_from("!QQQ", reply, 24)
            assert org == sent and rec <= xmt and xmt - rec < 1 << 26  # within ~16 ms
            later += xmt > rec
    assert later >= 1  # ntpd stamps the transmit time as late as possible; so do we
