"""autokey.ntp.ntp_autokey_status against real ntpd-py daemons on loopback (started without CAP_SYS_TIME).

A trusted authority alice (IFF, leap-seconds table) serves bob, whose IFF parameters are alice's, and mallory,
whose parameters under alice's name come from another group: bob reaches full flags, mallory never verifies.
Every key file comes from the collection's modules (ntp_keygen, ntp_identity_export, ntp_key_install).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, free_loopback, safe_cmd
from plugins_harness import Ansible, ansible  # noqa: F401  (the shared fixture)

def make_keys(ansible: Ansible, base: Path) -> None:
    """Key material made by the collection's own modules, in one play: the whole distribution chain.

    alice and eve are trusted authorities (IFF); bob installs alice's parameters; mallory installs eve's under
    alice's link name, so that its `ident alice` finds the wrong group key.
    """
    tasks = []
    for authority, client, link in (("alice", "bob", None), ("eve", "mallory", "ntpkey_iffpar_alice")):
        install = {"keysdir": str(base / client / "keys"), "content": "{{ %s_export.content }}" % authority}
        if link:
            install["link_name"] = link
        tasks += [
            {"autokey.ntp.ntp_keygen": {"keysdir": str(base / authority / "keys"), "host": authority, "trusted": True,
                                        "identity": ["iff"], "password": "serverpw", "modulus": 1024}},
            {"autokey.ntp.ntp_identity_export": {"keysdir": str(base / authority / "keys"), "host": authority,
                                                 "scheme": "iff", "password": "serverpw"},
             "register": "%s_export" % authority},
            {"autokey.ntp.ntp_key_install": install},
            {"autokey.ntp.ntp_keygen": {"keysdir": str(base / client / "keys"), "host": client, "password": "clientpw",
                                        "modulus": 1024}},
        ]
    for outcome in ansible.play(tasks):
        assert not outcome.failed, outcome.output


def start(workdir: Path, addr: str, body: str) -> subprocess.Popen:
    conf = workdir / "ntp.conf"
    conf.write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {addr}\ndisable ntp\nkeysdir {workdir / 'keys'}\n"
                    "restrict 127.0.0.0 mask 255.0.0.0\n" + body)
    argv = safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf), "-l", str(workdir / "ntpd.log")])
    return subprocess.Popen(argv, cwd=workdir, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr", "w"))


@pytest.fixture(scope="module")
def daemons(tmp_path_factory, vectors, ansible):
    base = tmp_path_factory.mktemp("status")
    make_keys(ansible, base)
    addrs = {name: free_loopback() for name in ("alice", "bob", "mallory")}
    server = (f"server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ncrypto host alice pw serverpw\n"
              f"leapfile {vectors / 'leap-seconds.list'}\n")
    procs = [start(base / "alice", addrs["alice"], server)]
    for client in ("bob", "mallory"):
        procs.append(start(base / client, addrs[client],
                           f"crypto host {client} pw clientpw\nserver {addrs['alice']} iburst autokey ident alice minpoll 4\n"))
    yield addrs
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.slow
def test_status_waits_for_full_flags_and_decodes_them(ansible, daemons):
    out = ansible.module("ntp_autokey_status", {"host": daemons["bob"], "timeout": 30}, check=True)
    assert not out.failed, out.output
    assert out.result["ok"] is True and out.changed is False
    (assoc,) = out.result["associations"]
    assert assoc["address"] == daemons["alice"] and assoc["host"] == "alice"
    assert int(assoc["flags"], 16) & ~0x2 == 0x87F21  # TAI reported, not required
    decoded = assoc["flags_decoded"]
    assert decoded["scheme"] == "IFF" and decoded["signature_nid"] == 8
    assert decoded["signature"] == "md5WithRSAEncryption"
    assert all(decoded["bits"][step] for step in ("ENAB", "CERT", "VRFY", "PROV", "COOK", "AUTO", "SIGN", "LEAP"))
    assert assoc["auth"] == "ok" and assoc["missing"] == []
    certs = out.result["certificates"]
    assert {"subject": "alice", "issuer": "alice"}.items() <= certs[1].items() or any(
        c["subject"] == "alice" and "trust" in c["flags_decoded"] for c in certs)
    assert all(c["until"] and c["until"].endswith("Z") for c in certs)


@pytest.mark.slow
def test_status_names_the_missing_scheme_and_unknown_servers(ansible, daemons):
    settled, wrong, by_scheme, wrong_scheme, absent = ansible.play([
        {"autokey.ntp.ntp_autokey_status": {"host": daemons["bob"], "timeout": 30}},
        {"autokey.ntp.ntp_autokey_status": {"host": daemons["bob"], "expect_flags": "0x87f41"}},
        {"autokey.ntp.ntp_autokey_status": {"host": daemons["bob"], "scheme": "iff"}},
        {"autokey.ntp.ntp_autokey_status": {"host": daemons["bob"], "scheme": "gq"}},
        {"autokey.ntp.ntp_autokey_status": {"host": daemons["bob"], "associations": ["127.0.0.99"]}},
    ])
    assert not settled.failed, settled.output
    assert wrong.failed and wrong.result["ok"] is False
    assert "server does not use the GQ identity scheme (it uses IFF): GQ 0x40 missing" in wrong.msg
    # scheme: the full flags come from ntpd_py's table (flags.full_flags), the verify play's only source
    assert not by_scheme.failed and by_scheme.result["expect_flags"] == "0x87f21", by_scheme.output
    assert wrong_scheme.failed and wrong_scheme.result["expect_flags"] == "0x87f41"
    assert "server does not use the GQ identity scheme (it uses IFF): GQ 0x40 missing" in wrong_scheme.msg
    assert absent.failed and "no association with 127.0.0.99" in absent.msg


@pytest.mark.slow
def test_status_reports_an_identity_that_never_verifies(ansible, daemons):
    out = ansible.module("ntp_autokey_status", {"host": daemons["mallory"], "timeout": 4})
    assert out.failed, out.output
    assert "identity not verified: VRFY 0x200 missing" in out.msg
    assert "after" in out.msg and daemons["mallory"] in out.msg
    (assoc,) = out.result["associations"]
    assert not assoc["flags_decoded"]["bits"]["VRFY"]
    if assoc["last_crypto_error"]:
        assert "last error 0x" in out.msg


def test_status_without_a_daemon_says_so(ansible):
    addr = free_loopback()
    out = ansible.module("ntp_autokey_status", {"host": addr, "query_timeout": 0.3})
    assert out.failed
    assert f"no mode-6 answer from {addr}:123" in out.msg
