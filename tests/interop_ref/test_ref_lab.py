"""The lab of tests/refntpd.py itself: namespaces, the reference ntpd under its own name and without
CAP_SYS_TIME, ntpd-py beside it, plain NTP both ways, everything removed afterwards."""

from __future__ import annotations

import os
import subprocess

import pytest
from refntpd import Lab, require_ref, wait_until

pytestmark = [pytest.mark.interop]

ORPHAN = "tos orphan 5\ntos orphanwait 1\nrestrict default\nrestrict 127.0.0.1\n"


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _status(pid: int) -> dict[str, str]:
    lines = open(f"/proc/{pid}/status").read().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_plain_ntp_both_ways_in_namespaces(tmp_path):
    require_ref()
    with Lab(2) as lab:
        a, b = lab.hosts
        ref = a.start_ref(tmp_path / "ref", ORPHAN)
        py = b.start_py(tmp_path / "py", f"server {a.addr} iburst minpoll 3 maxpoll 4\n")
        names = list(lab.namespaces)
        assert all(ns in _namespaces() for ns in names)
        # the reference runs under its own name, without CAP_SYS_TIME (bit 25) in any set
        status = _status(ref.pid)
        assert status["Name"] == "ntpd-ref"
        for capset in ("CapBnd", "CapInh", "CapPrm", "CapEff"):
            assert not int(status[capset], 16) & (1 << 25), (capset, status[capset])
        assert not int(_status(py.pid)["CapBnd"], 16) & (1 << 25)
        conf = ref.conf.read_text()
        assert conf.startswith("disable ntp\ndisable kernel\n") and str(tmp_path) in conf
        # mode 6 inside the namespace: the classic ntpq and the project's own client read the same daemon
        assert "ntpd 4.2.8p15" in ref.ntpq("rv 0 version")
        assert a.control_vars(names=["version"])["version"].startswith("ntpd 4.2.8p15")
        # ntpd-py selects the reference server ...
        assert wait_until(lambda: (x := py.assoc_for(a.addr)) and x.condition == "sys.peer", 40, 0.5), py.log()
        # ... and a reference client selects the ntpd-py server
        ref.stop()
        py.stop()
        b.start_py(tmp_path / "py-server", "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\n", name="py-server")
        ref_client = a.start_ref(tmp_path / "ref-client", f"tos orphan 10\ntos orphanwait 1\nrestrict default\n"
                                 f"restrict 127.0.0.1\nserver {b.addr} iburst minpoll 3 maxpoll 4\n", name="ref-client")
        assert wait_until(lambda: (x := ref_client.assoc_for(b.addr)) and x.condition == "sys.peer", 40, 0.5), \
            ref_client.log()
        pid = ref_client.pid
    assert not any(ns in _namespaces() for ns in names)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_three_hosts_share_one_link_through_a_bridge(tmp_path):
    """Lab(n > 2): every host reaches every other (a bridge in a hub namespace of its own)."""
    require_ref()
    with Lab(3) as lab:
        assert len(set(lab.namespaces)) == 4  # three hosts and the hub
        ref = lab.hosts[0].start_ref(tmp_path / "ref", "tos orphan 5\ntos orphanwait 1\nrestrict default\n")
        for host in lab.hosts[1:]:
            assert "ntpd 4.2.8p15" in host.ntpq("rv 0 version", server=lab.hosts[0].addr), host.ns
        assert lab.broadcast.endswith(".255") and ref.alive()
        names = list(lab.namespaces)
    assert not any(ns in _namespaces() for ns in names)
