"""Shared fixtures: the reference vectors, free loopback addresses, and a capability-less launcher.

Rules these fixtures enforce for every test:
- vectors: the reference data in tests/data/vectors (copied from ../shared/vectors, see PROVENANCE.md there), so
  every clone runs the conformance tests; NTPD_PY_VECTORS points elsewhere (e.g. the full ../shared/vectors);
- network: only 127.0.0.0/8 (or network namespaces the test creates);
- clock: daemons are started through `safe_cmd`, which drops CAP_SYS_TIME so nothing can move this clock.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(os.environ.get("NTPD_PY_VECTORS", ROOT / "tests" / "data" / "vectors"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def _require(condition: bool, what: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The reference ntpd 4.2.8p15 vectors directory (in the repository unless NTPD_PY_VECTORS says otherwise)."""
    _require((VECTORS / "leap-seconds.list").is_file(), f"reference vectors at {VECTORS}")
    return VECTORS


def require_program(name: str) -> str:
    """Path of a real program (ntpq, chronyd, ntpd...); fails in CI when missing, skips elsewhere."""
    extra = [ROOT / ".deps" / "chrony" / "usr" / "sbin", ROOT / ".deps" / "chrony" / "usr" / "bin"]
    path = shutil.which(name) or next((str(p / name) for p in extra if (p / name).exists()), None)
    _require(path is not None, f"program {name!r}")
    return path  # type: ignore[return-value]


_used_addresses: set[str] = set()


def free_loopback(port: int = 123) -> str:
    """A random 127.x.y.z address whose `port` can be bound now (UDP), so parallel runs do not collide; never
    127.127.t.u, which ntp.conf reads as a reference clock."""
    rng = random.Random()
    for _ in range(200):
        addr = f"127.{rng.randint(10, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}"
        if addr in _used_addresses or addr.startswith("127.127."):  # 127.127.t.u names a reference clock
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((addr, port))
            except OSError:
                continue
        _used_addresses.add(addr)
        return addr
    raise RuntimeError("no free loopback address found")


@pytest.fixture
def loopback_addr() -> str:
    return free_loopback()


def safe_cmd(argv: list[str]) -> list[str]:
    """Wrap a daemon command so that it runs without CAP_SYS_TIME: no bug can then move this machine's clock."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("setpriv (util-linux) is required to start daemons safely")
    return [setpriv, "--bounding-set", "-sys_time", "--inh-caps", "-sys_time", *argv]


def stop_started(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a process this test started, by its PID only (never by name): SIGTERM, then SIGKILL after `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
