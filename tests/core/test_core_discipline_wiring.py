"""Clock discipline only with `enable ntp`: the engine never drives a clock otherwise, and the daemon never
builds the kernel adjuster. The enabled path is exercised on a SimulatedClock only."""

from __future__ import annotations

import pytest
from core_sim import T0, SimNet, make_host

from ntpd_py.clock.discipline import SimulatedClock
from ntpd_py.daemon import main as daemon_main

SERVER = "server 127.127.1.0\nfudge 127.127.1.0 stratum 3\n"


def run_pair(client_conf: str, clock: SimulatedClock):
    net = SimNet()
    net.add("127.0.0.1", make_host(SERVER, "127.0.0.1"), offset=0.02)
    client = net.add("127.0.0.2", make_host(client_conf, "127.0.0.2", clock=clock))
    net.run(T0, 30)
    return client


def test_default_never_touches_the_clock():
    clock = SimulatedClock()
    client = run_pair("server 127.0.0.1 iburst\n", clock)
    assert client.sys.peer is not None
    assert clock.offset == 0.0 and clock.frequency == 0.0 and clock.steps == 0
    assert not client.discipline_enabled


def test_enable_ntp_disciplines_the_given_clock():
    clock = SimulatedClock()
    client = run_pair("enable ntp\nserver 127.0.0.1 iburst\n", clock)
    assert client.discipline_enabled and client.sys.peer is not None
    assert clock.offset != 0.0  # slewed toward the server's time


class _Forbidden:
    def __init__(self) -> None:
        raise AssertionError("KernelClock built without `enable ntp`")


def test_daemon_builds_no_kernel_clock_without_enable_ntp(tmp_path, monkeypatch):
    monkeypatch.setattr(daemon_main, "KernelClock", _Forbidden)
    conf = tmp_path / "ntp.conf"
    conf.write_text("interface listen 127.0.0.1\ntos orphan 5\n")
    daemon = daemon_main.Daemon(str(conf), logfile=str(tmp_path / "log"))
    assert daemon.host.clock.__class__.__name__ == "NullClock"
    conf.write_text("enable ntp\ninterface listen 127.0.0.1\n")
    with pytest.raises(AssertionError, match="KernelClock"):
        daemon_main.Daemon(str(conf), logfile=str(tmp_path / "log"))


def test_driftfile_round_trip(tmp_path):
    path = tmp_path / "ntp.drift"
    assert daemon_main.read_drift(str(path)) is None
    daemon_main.write_drift(str(path), -12.3456)
    assert path.read_text() == "-12.346\n" and daemon_main.read_drift(str(path)) == -12.346
    assert [p.name for p in tmp_path.iterdir()] == ["ntp.drift"]


def test_driftfile_untouched_without_enable_ntp(tmp_path, monkeypatch):
    drift = tmp_path / "ntp.drift"
    drift.write_text("7.000\n")
    conf = tmp_path / "ntp.conf"
    conf.write_text(f"interface listen 127.0.0.1\ndriftfile {drift}\n")
    daemon = daemon_main.Daemon(str(conf), logfile=str(tmp_path / "log"))
    daemon._save_drift()
    assert daemon.host.discipline.frequency == 0.0 and drift.read_text() == "7.000\n"
