"""Every reply carries the time it left as its transmit timestamp, not the receive time (issue 11, finding 8).

Before: only the shell's quick path patched the stamp; MAC'd, Autokey, old-version and rate-limited sources'
replies had xmt == rec, and chrony's `ntpdata` showed a response time of 0.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from core_daemons import NtpdPy, wait_until
from core_sim import T0, make_host

from conftest import free_loopback, require_program, safe_cmd
from ntpd_py.symkeys.mac import compute_mac
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.packet import NtpPacket, decode, encode, ntp_diff

SERVER_CONF = "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\ntrustedkey 1\n"


def test_core_takes_the_transmit_stamp_from_the_send_clock():
    host = make_host(SERVER_CONF + "restrict default limited\n", "127.0.0.1")
    host.send_clock = lambda: T0 + 0.0042
    request = encode(NtpPacket(version=3, mode=3, xmt=to_ntp64(T0 - 1)))
    reply = decode(host.receive_datagram(request, ("127.0.0.9", 123), "127.0.0.1", T0)[0].data)
    assert abs(ntp_diff(reply.xmt, reply.rec) - 0.0042) < 1e-6


def test_mac_covers_the_late_stamp():
    host = make_host(SERVER_CONF, "127.0.0.1")
    host.send_clock = lambda: T0 + 0.002
    key = host.symmetric.keys[1]
    header = encode(NtpPacket(version=4, mode=3, xmt=to_ntp64(T0 - 1)))
    request = header + (1).to_bytes(4, "big") + compute_mac(key.algorithm, key.secret, header)
    data = host.receive_datagram(request, ("127.0.0.9", 123), "127.0.0.1", T0)[0].data
    reply = decode(data)
    assert reply.keyid == 1
    assert abs(ntp_diff(reply.xmt, reply.rec) - 0.002) < 1e-6
    assert data[52:] == compute_mac(key.algorithm, key.secret, data[:48])  # the MAC was computed after the stamp


def _ntpdata(chronyc: str, sock: Path, address: str) -> dict[str, str]:
    out = subprocess.run([chronyc, "-h", str(sock), "-n", "ntpdata", address], capture_output=True, text=True,
                         timeout=5).stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def test_chrony_ntpdata_sees_a_response_time_for_a_maced_reply(tmp_path):
    chronyd, chronyc = require_program("chronyd"), require_program("chronyc")
    # `limited` keeps the source off the quick path too: every reply goes through the core
    server = NtpdPy(tmp_path, "server", free_loopback(),
                    SERVER_CONF + "restrict default limited\nrestrict 127.0.0.0 mask 255.0.0.0 limited\n").start()
    state = tmp_path / "chrony"
    state.mkdir(mode=0o700)
    (state / "keys").write_text("1 MD5 secret-md5\n")
    sock = state / "chronyd.sock"
    conf = state / "chrony.conf"
    conf.write_text(f"server {server.address} key 1 iburst minpoll 1 maxpoll 2\nkeyfile {state}/keys\nport 0\n"
                    f"cmdport 0\nbindcmdaddress {sock}\npidfile {state}/chronyd.pid\ndriftfile {state}/drift\n")
    proc = subprocess.Popen(safe_cmd([chronyd, "-x", "-d", "-u", "root", "-f", str(conf)]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answered():
            data = _ntpdata(chronyc, sock, server.address)
            good = data.get("Authenticated") == "Yes" and data.get("Leap status") == "Normal"
            return data if good and data.get("Total good RX", "0") != "0" else None

        data = wait_until(answered, 30, 0.5)
        assert data, (server.log_text(), _ntpdata(chronyc, sock, server.address))
        response = float(data["Response time"].split()[0])
        assert response > 0, "\n".join(f"{k}: {v}" for k, v in data.items())
        assert response < 0.5
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        server.stop()
