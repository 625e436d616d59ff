"""The daemon shell's small promises: `-D LEVEL` means something per level, `filegen ... type pid` names the
process that writes (after the fork), and a broken module of the daemon's own is an error, never a feature
that silently switches off."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ntpd_py.config.parser import parse_text
from ntpd_py.daemon import cli
from ntpd_py.daemon import main as daemon_main
from ntpd_py.daemon.stats import writers_from_config


def _conf(tmp_path, text: str = "interface listen 127.0.0.1\ntos orphan 5\n") -> str:
    path = tmp_path / "ntp.conf"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("level, echoed", [(0, False), (1, True), (3, True)])
def test_debug_level_one_echoes_the_log(tmp_path, capsys, level, echoed):
    log = daemon_main.Logger(str(tmp_path / "log"), level)
    log("hello from the daemon")
    log.close()
    assert "hello from the daemon" in (tmp_path / "log").read_text()
    assert ("hello from the daemon" in capsys.readouterr().err) is echoed


@pytest.mark.parametrize("level, logged", [(0, False), (1, False), (2, True)])
def test_debug_level_two_logs_statistics_records(tmp_path, level, logged):
    daemon = daemon_main.Daemon(_conf(tmp_path), logfile=str(tmp_path / "log"), debug=level)
    daemon.host.record("loopstats", "0.000123000 -12.345 0.000010000 0.250000 6")
    daemon._drain_events()
    daemon.log.close()
    assert ("loopstats 0.000123000 -12.345" in (tmp_path / "log").read_text()) is logged


@pytest.mark.parametrize("argv, forks", [([], True), (["-n"], False), (["-D", "1"], False), (["-D", "0"], True)])
def test_debug_stays_in_the_foreground(tmp_path, monkeypatch, argv, forks):
    calls = []
    monkeypatch.setattr(cli, "_daemonize", lambda: calls.append("fork"))
    monkeypatch.setattr(cli, "run_daemon", lambda daemon: daemon.log.close())
    assert cli.main(["-c", _conf(tmp_path), "-l", str(tmp_path / "log"), *argv]) == 0
    assert (calls == ["fork"]) is forks


def test_filegen_pid_is_the_writing_process(tmp_path):
    """Writers are built before the daemon forks; the file must carry the pid of the process that writes."""
    stats = tmp_path / "stats"
    stats.mkdir()
    config = parse_text(f"statsdir {stats}/\nstatistics loopstats\nfilegen loopstats file loops type pid enable\n",
                        "t.conf").config
    writers = writers_from_config(config, None, time.time())
    child = os.fork()
    if child == 0:  # the daemon after _daemonize
        try:
            writers["loopstats"].write(time.time(), "from the child")
            writers["loopstats"].close()
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert sorted(p.name for p in stats.iterdir()) == ["loops", f"loops.#{child}"]  # `link`: the plain name too
    assert (stats / f"loops.#{child}").read_text() == "from the child\n"


@pytest.mark.parametrize("module", ["ntpd_py.control.responder", "ntpd_py.daemon.autokey_wiring", "ntpd_py.daemon.stats",
                                    "ntpd_py.autokey.leapfile"])
def test_a_broken_module_of_our_own_is_an_import_error(module):
    """Mode 6, Autokey, statistics and the leap-file check used to vanish quietly behind `except ImportError`."""
    code = f"import sys; sys.modules[{module!r}] = None; import ntpd_py.daemon.cli"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and f"import of {module} halted" in run.stderr, run.stderr
