"""Keys others may read or replace: a warning from the daemon (at start and on SIGHUP), an error from
`ntpd-py --check` (issue 10, finding 7). The checks themselves are ntpd_py/keys/permissions.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from autokey_daemons import free_loopback, make_keys, start
from conftest import ROOT


def check(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ntpd_py.daemon.cli", "--check", "-c", str(conf)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)


def private_key(keysdir: Path) -> Path:
    return next(p for p in sorted(keysdir.iterdir()) if p.name.startswith("ntpkey_RSAhost_") and not p.is_symlink())


def test_check_refuses_keys_others_can_touch(tmp_path: Path) -> None:
    keysdir = make_keys(tmp_path, None, [], time.time() - 86400)["alice"]
    symmetric = tmp_path / "ntp.keys"
    symmetric.write_text("1 MD5 secret\n")
    symmetric.chmod(0o600)
    conf = tmp_path / "ntp.conf"
    conf.write_text(f"keysdir {keysdir}\ncrypto host alice pw serverpw\nkeys {symmetric}\n")
    keysdir.chmod(0o700)
    for path in keysdir.iterdir():
        if not path.is_symlink():
            path.chmod(0o600)
    assert check(conf).returncode == 0, check(conf).stderr

    keysdir.chmod(0o777)
    result = check(conf)
    assert result.returncode == 1
    assert f"{conf}:1: error: {keysdir}: keys directory is world-writable" in result.stderr
    keysdir.chmod(0o755)

    key = private_key(keysdir)
    key.chmod(0o644)
    result = check(conf)
    assert result.returncode == 1 and f"{key}: private key is readable" in result.stderr, result.stderr
    key.chmod(0o600)

    symmetric.chmod(0o644)  # ntpd's keys file: a daemon warning only (deployments validate with --check)
    assert check(conf).returncode == 0


def test_daemon_warns_at_start_and_on_sighup(tmp_path: Path) -> None:
    keysdir = make_keys(tmp_path, None, [], time.time() - 86400)["alice"]
    keysdir.chmod(0o777)
    daemon = start("alice", free_loopback(), keysdir.parent, "server 127.127.1.0\ncrypto host alice pw serverpw\n")
    try:
        deadline = time.monotonic() + 20
        while "listening on" not in daemon.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert daemon.log().count("keys directory is world-writable") == 1, daemon.log()
        key = private_key(keysdir)
        key.chmod(0o644)
        daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "private key is readable" not in daemon.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = daemon.log()
        assert log.count("keys directory is world-writable") == 2
        assert f"warning: {key}: private key is readable or writable by others" in log
        assert "symmetric keys file" not in log
        assert daemon.proc.poll() is None  # a warning, not a refusal: the daemon keeps serving
    finally:
        daemon.stop()
