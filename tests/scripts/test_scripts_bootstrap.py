"""scripts/bootstrap.sh touches nothing it did not start: its service-start block, in a sandbox.

The script's functions are sourced with NTPD_PY_POLICY_RC pointing into tmp_path (the real default stays
/usr/sbin/policy-rc.d) and NTPD_PY_BOOTSTRAP_FUNCTIONS_ONLY=1 (define, run nothing). Each case reproduces what the
issue found: an install interrupted by SIGTERM or SIGINT, a stale block left by a killed run, and the user's own
policy-rc.d, which must come back byte for byte. No process is killed by name: the script holds no pkill/killall.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bootstrap.sh"
USERS = "#!/bin/sh\n# the user's own policy\nexit 0\n"


def shell(tmp_path: Path, body: str) -> subprocess.Popen:
    """bash with the script's functions loaded (as_root replaced: the sandbox needs no root), running body."""
    program = f'source {SCRIPT}\nas_root() {{ "$@"; }}\n{body}\n'
    env = dict(os.environ, NTPD_PY_POLICY_RC=str(tmp_path / "policy-rc.d"), NTPD_PY_BOOTSTRAP_FUNCTIONS_ONLY="1")
    return subprocess.Popen(["bash", "-c", program], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_bootstrap_has_no_kill_by_name() -> None:
    text = SCRIPT.read_text()
    assert not re.search(r"\b(pkill|killall)\b", text)
    assert "/usr/sbin/policy-rc.d" in text, "the real default path must stay"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("users_own", [False, True])
def test_bootstrap_block_is_lifted_after_a_signal(tmp_path: Path, sig: int, users_own: bool) -> None:
    policy = tmp_path / "policy-rc.d"
    if users_own:
        policy.write_text(USERS)
    marker = tmp_path / "install-started"
    proc = shell(tmp_path, f"with_service_starts_blocked sh -c 'echo $$ > {marker}; exec sleep 60'")
    wait_for(lambda: marker.exists() and marker.read_text().strip())
    install_pid = int(marker.read_text())
    assert "ntpd-py-bootstrap" in policy.read_text()
    assert "exit 101" in policy.read_text()
    proc.send_signal(sig)  # to the script only, as `kill PID` or a supervisor would
    proc.wait(timeout=15)
    assert proc.returncode == 128 + sig, proc.stderr.read()
    # The install it started was stopped (by PID) before the block was lifted.
    assert not Path(f"/proc/{install_pid}").exists() or "zombie" in Path(f"/proc/{install_pid}/status").read_text()
    if users_own:
        assert policy.read_text() == USERS
    else:
        assert not policy.exists()
    assert not (tmp_path / "policy-rc.d.ntpd-py-saved").exists()


def test_bootstrap_normal_install_restores_the_users_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text(USERS)
    policy.chmod(0o700)
    proc = shell(tmp_path, f"with_service_starts_blocked sh -c 'grep -q ntpd-py-bootstrap {policy}'")
    assert proc.wait(timeout=15) == 0, proc.stderr.read()
    assert policy.read_text() == USERS
    assert policy.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("users_own", [False, True])
def test_bootstrap_removes_a_stale_block_of_its_own(tmp_path: Path, users_own: bool) -> None:
    """A run killed with SIGKILL left its block (and maybe the saved original): the next run cleans up."""
    policy = tmp_path / "policy-rc.d"
    if users_own:
        (tmp_path / "policy-rc.d.ntpd-py-saved").write_text(USERS)
    policy.write_text("#!/bin/sh\n# ntpd-py-bootstrap: no service starts during install\nexit 101\n")
    proc = shell(tmp_path, "remove_stale_block")
    assert proc.wait(timeout=15) == 0, proc.stderr.read()
    assert "interrupted bootstrap" in proc.stderr.read()
    if users_own:
        assert policy.read_text() == USERS
    else:
        assert not policy.exists()
    assert not (tmp_path / "policy-rc.d.ntpd-py-saved").exists()


def test_bootstrap_never_touches_a_policy_that_is_not_its_own(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text(USERS)
    proc = shell(tmp_path, "remove_stale_block; unblock_service_starts")
    assert proc.wait(timeout=15) == 0, proc.stderr.read()
    assert policy.read_text() == USERS
