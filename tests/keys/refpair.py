"""Two network namespaces joined by a veth pair, for a reference ntpd 4.2.8p15 and a peer of it (ntpd-py or
another reference daemon), run as ../shared/ref-ntpd/README.md demands: in namespaces this module creates
(names carry the PID), without CAP_SYS_TIME (setpriv), with `disable ntp` and `disable kernel`, the reference
under its own process name (`ntpd-ref`), every daemon stopped by its recorded PID, namespaces deleted on exit.

(A small stand-in for helper "refsuite"'s tests/refntpd.py, which will replace it.)
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REF_DIR = Path(os.environ.get("NTPD_PY_REF_NTPD", ROOT.parent / "shared" / "ref-ntpd"))
IN_CI = os.environ.get("CI", "").lower() == "true"
SETPRIV = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"]
_serial = itertools.count()


def require_reference() -> Path:
    """../shared/ref-ntpd, root and iproute2: a failure when CI=true, a skip with the reason elsewhere."""
    missing = None
    if not all(os.access(REF_DIR / name, os.X_OK) for name in ("ntpd", "ntpq")):
        missing = f"the reference ntpd 4.2.8p15 at {REF_DIR}"
    elif shutil.which("ip") is None or shutil.which("setpriv") is None:
        missing = "ip (iproute2) and setpriv (util-linux)"
    elif os.geteuid() != 0:
        missing = "root (network namespaces for the reference ntpd)"
    if missing:
        if IN_CI:
            pytest.fail(f"{missing} is required in CI (CI=true) but missing")
        pytest.skip(f"{missing} not available: this test runs against the reference ntpd")
    return REF_DIR


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


class RefPair:
    """Namespaces `ns[0]` (address addr[0]) and `ns[1]` (addr[1]); `start_ref` / `start_py` run a daemon in one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        n = next(_serial)
        tag = f"cp{os.getpid() % 100000}x{n}"
        self.ns = [f"{tag}a", f"{tag}b"]
        net = f"10.{200 + os.getpid() % 50}.{n % 250}"
        self.addr = [f"{net}.1", f"{net}.2"]
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> RefPair:
        try:
            for ns in self.ns:
                _ip("netns", "add", ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "add", "v1", "netns", self.ns[0], "type", "veth", "peer", "name", "v1", "netns", self.ns[1])
            for ns, addr in zip(self.ns, self.addr):
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "v1")
                _ip("-n", ns, "link", "set", "v1", "up")
            time.sleep(0.3)  # carrier up before the daemons enumerate their interfaces
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for ns in self.ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def _config(self, directory: Path, body: str) -> Path:
        conf = directory / "ntp.conf"
        conf.write_text(f"disable ntp\ndisable kernel\nkeysdir {directory}/\ndriftfile {directory}/drift\n"
                        f"statsdir {directory}/\nstatistics cryptostats protostats\n"
                        f"filegen cryptostats file cryptostats type none enable\n{body}\n")
        return conf

    def start_ref(self, side: int, directory: Path, body: str) -> subprocess.Popen:
        binary = self.workdir / "ntpd-ref"  # its own process name, never "ntpd"
        if not binary.exists():
            shutil.copy2(REF_DIR / "ntpd", binary)
        conf = self._config(directory, body)
        return self._spawn(side, [str(binary), "-4", "-n", "-c", str(conf), "-l", str(directory / "log"),
                                  "-p", str(directory / "pid")])

    def start_py(self, side: int, directory: Path, body: str) -> subprocess.Popen:
        conf = self._config(directory, body)
        return self._spawn(side, [sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf),
                                  "-l", str(directory / "log"), "-p", str(directory / "pid")])

    def _spawn(self, side: int, argv: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[side], *SETPRIV, *argv], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def ntpq(self, side: int, *commands: str) -> str:
        argv = [str(REF_DIR / "ntpq"), "-n"]
        for command in commands:
            argv += ["-c", command]
        out = subprocess.run(["ip", "netns", "exec", self.ns[side], *argv, "127.0.0.1"], capture_output=True,
                             text=True, timeout=20, stdin=subprocess.DEVNULL)
        return out.stdout + out.stderr

    def flags(self, side: int) -> int | None:
        """The Autokey flags of the first association on `side`, as the classic ntpq reads them."""
        out = self.ntpq(side, "rv &1 flags")
        for item in out.replace("\n", " ").split(","):
            name, _, value = item.strip().partition("=")
            if name == "flags":
                return int(value.split()[0], 0)
        return None

    def wait_flags(self, side: int, want: int, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        flags = None
        while time.monotonic() < end:
            flags = self.flags(side)
            if flags is not None and flags & want == want:
                return flags
            time.sleep(0.5)
        return flags
