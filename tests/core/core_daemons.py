"""Start real ntpd-py daemons (without CAP_SYS_TIME) on loopback addresses; helper for tests/core."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, safe_cmd, stop_started
from refntpd import wait_until  # noqa: F401  (the tests of tests/core import it from here)

from ntpd_py.control.client import ControlClient

KEYS_TEXT = "1 MD5 secret-md5\n2 SHA1 " + "5a" * 20 + "\n3 MD5 other-key\n"


class NtpdPy:
    """One daemon: `interface listen ADDRESS` plus the given configuration lines."""

    def __init__(self, directory: Path, name: str, address: str, conf: str, port: int = 123) -> None:
        self.directory, self.name, self.address, self.port = directory, name, address, port
        self.conf = directory / f"{name}.conf"
        self.log = directory / f"{name}.log"
        self.pidfile = directory / f"{name}.pid"
        keys = directory / "ntp.keys"
        if not keys.exists():
            keys.write_text(KEYS_TEXT)
        port_line = f"port {port}\n" if port != 123 else ""
        self.conf.write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {address}\n{port_line}keys {keys}\n{conf}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> NtpdPy:
        argv = [sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(self.conf), "-l", str(self.log),
                "-p", str(self.pidfile)]
        self.proc = subprocess.Popen(safe_cmd(argv), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        ok = wait_until(lambda: self.pidfile.exists() and "listening on" in self.log_text(), 10, 0.05)
        if not ok:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {self.log_text()} {self.stderr()}")
        return self

    def stderr(self) -> str:
        if self.proc and self.proc.poll() is not None and self.proc.stderr:
            return self.proc.stderr.read().decode(errors="replace")
        return ""

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def client(self) -> ControlClient:
        return ControlClient(self.address, self.port, timeout=1.0, retries=2)

    def sys_peer(self) -> str | None:
        """Address of the association ntpq would mark sys.peer, or None."""
        with self.client() as c:
            for assoc in c.associations():
                if assoc.selection == "sys.peer":
                    return c.read_peer(assoc.assid)["srcadr"]
        return None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        stop_started(self.proc)
        if self.proc.stderr:
            self.proc.stderr.close()
        return self.proc.returncode
