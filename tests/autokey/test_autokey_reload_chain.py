"""Hot reload along a certificate trail, with real daemons: authority -> intermediate server (SIGN) -> client.

The lab's GR1 (inventories/lab): gr1-ta is the trusted authority with IFF, gr1-srv holds the group key and has
its certificate signed by gr1-ta (SIGN), gr1-c1 is a client of gr1-srv with the group's client parameters.
Renewing every certificate (ntp-keygen update mode) and sending SIGHUP must bring gr1-c1 back to full flags
without restarting anything; a SIGHUP where nothing changed must keep every association as it is.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from autokey_daemons import free_loopback, ntpq, start, wait_flags

from ntpd_py.keys.keygen import KeygenOptions, generate

SERVER_PW, CLIENT_PW = "gr1-server-lab", "gr1-client-lab"
FULL = 0x87F21  # IFF, RSA-MD5, no leap table on gr1-srv
FULL_TA = 0x87F23  # gr1-ta advertises its leap table


def _keys(base, t: float) -> dict:
    dirs = {name: base / name / "keys" for name in ("gr1-ta", "gr1-srv", "gr1-c1")}
    for d in dirs.values():
        d.mkdir(parents=True)
    generate(KeygenOptions(host_key=True, host="gr1-ta", group="GR1", trusted=True, iff=True, password=SERVER_PW,
                           modulus=1024), dirs["gr1-ta"], t)
    # the group server: client parameters and the group key (`-q` export), as roles/autokey_authority publishes
    generate(KeygenOptions(export=True, host="gr1-ta", group="GR1", password=SERVER_PW, export_password=SERVER_PW,
                           export_dir=dirs["gr1-srv"], write_certificate=False), dirs["gr1-ta"], t + 1)
    generate(KeygenOptions(host_key=True, host="gr1-srv", group="GR1", password=SERVER_PW, modulus=1024),  # gr1-srv@GR1
             dirs["gr1-srv"], t + 1)
    generate(KeygenOptions(export=True, host="gr1-ta", group="GR1", password=SERVER_PW, export_dir=dirs["gr1-c1"],
                           write_certificate=False), dirs["gr1-ta"], t + 2)
    generate(KeygenOptions(host_key=True, host="gr1-c1", group="GR1", password=CLIENT_PW, modulus=1024),  # gr1-c1@GR1
             dirs["gr1-c1"], t + 2)
    return dirs


def _renew(dirs: dict) -> None:
    """The monthly `ntp-keygen -q PW`: new self-signed certificates, same keys, new filestamps."""
    now = time.time()
    for name, pw in (("gr1-ta", SERVER_PW), ("gr1-srv", SERVER_PW), ("gr1-c1", CLIENT_PW)):
        result = generate(KeygenOptions(export_password=pw, host=name), dirs[name], now)
        assert result.certificate is not None and not any(p.name.startswith("ntpkey_RSAhost") for p in result.files_written)


def _assoc(addr: str) -> tuple[int, int | None, str]:
    """(association ID, flags, crypto_event) of the daemon's only association."""
    listing = ntpq(addr, "as")
    m = re.search(r"^\s*\d+\s+(\d+)\s", listing, re.M)
    assert m, listing
    rv = ntpq(addr, f"rv {m.group(1)} flags,crypto_event")
    fm = re.search(r"flags=(0x[0-9a-fA-F]+|\d+)", rv)
    return int(m.group(1)), int(fm.group(1), 0) if fm else None, rv


def _wait_reloaded(daemons, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(d.cryptostats().count("keys reloaded") >= count for d in daemons):
            return
        time.sleep(0.1)
    raise AssertionError([d.cryptostats()[-600:] for d in daemons])


def _wait_stats(daemon, text: str, count: int) -> None:
    """cryptostats lines are written a moment after the event."""
    deadline = time.monotonic() + 5
    while daemon.cryptostats().count(text) < count and time.monotonic() < deadline:
        time.sleep(0.2)


def _start_lab(tmp_path, vectors):
    ta_addr, srv_addr, c1_addr = free_loopback(), free_loopback(), free_loopback()
    dirs = _keys(tmp_path, time.time() - 60)
    quick = "iburst minpoll 3 maxpoll 4 autokey ident GR1"
    ta = start("gr1-ta", ta_addr, tmp_path / "gr1-ta",
               f"server 127.127.1.0\nfudge 127.127.1.0 stratum 2\ncrypto host gr1-ta pw {SERVER_PW} ident GR1\n"
               f"leapfile {vectors / 'leap-seconds.list'}\n")
    srv = start("gr1-srv", srv_addr, tmp_path / "gr1-srv",
                f"server {ta_addr} {quick}\ncrypto host gr1-srv pw {SERVER_PW} ident GR1\n")
    c1 = start("gr1-c1", c1_addr, tmp_path / "gr1-c1", f"server {srv_addr} {quick}\ncrypto host gr1-c1 pw {CLIENT_PW} ident GR1\n")
    return dirs, (ta, srv, c1)


def _stop(daemons) -> None:
    for d in reversed(daemons):
        d.stop()


def _diagnostics(daemons) -> str:
    return "\n".join(f"--- {d.name}\n{d.cryptostats()[-2500:]}\n{d.log()[-800:]}" for d in daemons)


def _reload_without_changes(daemons) -> None:
    """SIGHUP with nothing changed: every association keeps its flags, no exchange is repeated."""
    ta, srv, c1 = daemons
    _wait_stats(c1, "sign gr1-c1@GR1 gr1-srv@GR1", 1)  # the handshake's lines are all written
    _wait_stats(srv, "sign gr1-srv@GR1 gr1-ta@GR1", 1)
    time.sleep(0.5)
    before = {d.name: _assoc(d.addr)[:2] for d in (srv, c1)}
    lines = {d.name: len(d.cryptostats().splitlines()) for d in daemons}
    for d in daemons:
        os.kill(d.proc.pid, signal.SIGHUP)
    _wait_reloaded(daemons, 1)
    for d in daemons:
        assert "keys reloaded, restarted associations none" in d.cryptostats(), _diagnostics(daemons)
    for _ in range(6):  # flags never drop, not even for a moment
        for d in (srv, c1):
            assert _assoc(d.addr)[:2] == before[d.name], _diagnostics(daemons)
        time.sleep(0.25)
    for d in (srv, c1):  # no exchange was repeated: no new certificate, cookie or signature
        new = d.cryptostats().splitlines()[lines[d.name]:]
        assert not [line for line in new if re.search(r" (assoc|cert|iff|cook|sign) ", line)], new


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.parametrize("order", ["all-at-once", "server-first"])
def test_renewal_along_the_trail_recovers_with_sighup_only(tmp_path, vectors, order):
    """renew.yml's handlers reload every daemon at about the same time ("all-at-once"); "server-first" reloads
    gr1-srv before its authority, so that it may run SIGN again against the authority's old certificate."""
    dirs, daemons = _start_lab(tmp_path, vectors)
    ta, srv, c1 = daemons
    try:
        flags, _, seen = wait_flags(c1.addr, FULL, 25)
        assert flags == FULL, (seen, _diagnostics(daemons))
        pids = [d.proc.pid for d in daemons]
        reloads = 0
        if order == "all-at-once":
            _reload_without_changes(daemons)
            reloads = 1
        else:
            time.sleep(1.1)  # the renewal gets a new filestamp (seconds)
        _renew(dirs)
        ordered = (srv, ta, c1) if order == "server-first" else (ta, srv, c1)
        for d in ordered:
            os.kill(d.proc.pid, signal.SIGHUP)
            if order == "server-first":
                time.sleep(0.3)
        _wait_reloaded(daemons, reloads + 1)
        # seconds after the first handshake, the exchange repeats within the server's rate limit as ntpd's limiter
        # would count it (engine/pacing.py; its bucket drains in at most 72 s): about 40 s here, where a monthly
        # renewal, long after the last handshake, takes a few seconds
        flags, elapsed, seen = wait_flags(c1.addr, FULL, 80)
        assert flags == FULL, (seen, _diagnostics(daemons))
        assert elapsed < 75, seen
        assert [d.proc.pid for d in daemons] == pids and all(d.proc.poll() is None for d in daemons)
        assert wait_flags(srv.addr, FULL_TA, 5)[0] == FULL_TA
        _wait_stats(c1, "sign gr1-c1@GR1 gr1-srv@GR1", 2)
        assert c1.cryptostats().count("sign gr1-c1@GR1 gr1-srv@GR1") >= 2, _diagnostics(daemons)
    finally:
        _stop(daemons)
