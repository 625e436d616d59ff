"""Run the reference ntpd 4.2.8p15 (../shared/ref-ntpd) and ntpd-py side by side, safely, for interop tests
and benchmarks.

The reference binds every local address and writes kernel time state at start-up even with `disable ntp`, so
(../shared/ref-ntpd/README.md) every daemon here:
- runs inside network namespaces this module creates (unique names with the PID and a counter), joined by a
  veth pair (or a bridge in a hub namespace for more than two hosts); the 10.x addresses exist only inside
  them, and the host's interfaces and routes are never touched;
- is started as `ip netns exec NS setpriv --bounding-set -sys_time --inh-caps -sys_time BIN ...`, so nothing
  it does can move this machine's clock; the reference from a copy named `ntpd-ref` (`ntpd-ref-gqfix`), so
  that nothing looking for a process called `ntpd` mistakes it for a system service;
- gets a configuration that starts with `disable ntp` and `disable kernel`, with statsdir, driftfile and
  keysdir in its own temporary directory;
- is stopped by the PID this module recorded; namespaces are deleted on the way out, failures included.

Use:

    with Lab(2) as lab:                         # hosts lab.hosts[0] (10.a.b.1) and lab.hosts[1] (10.a.b.2)
        srv = lab.hosts[0].start_ref(workdir / "srv", "server 127.127.1.0 ...")
        cli = lab.hosts[1].start_py(workdir / "cli", f"server {lab.hosts[0].addr} autokey ...")
        flags = cli.wait_flags(0x87f23, timeout=60)

`require_ref()` gives the binaries directory: a FAILURE when CI=true and it is missing, a skip elsewhere.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ntpd_py.control.client import ControlError

ROOT = Path(__file__).resolve().parent.parent
REF_DIR = Path(os.environ.get("NTPD_PY_REF_NTPD", ROOT.parent / "shared" / "ref-ntpd"))
IN_CI = os.environ.get("CI", "").lower() == "true"
SETPRIV = ("--bounding-set", "-sys_time", "--inh-caps", "-sys_time")

# flags at a full handshake, as the reference reports them (../shared/ref-ntpd/README.md); TAI 0x2 comes with
# the server's leap file
FULL_FLAGS = {"iff": 0x87F23, "gq": 0x87F43, "mv": 0x87F83, "tc": 0x87F03, "pc": 0x87F13}
TAI = 0x2

_counter = itertools.count()


class RefMissing(Exception):
    """The reference binaries, `ip`, `setpriv` or root are not available."""


def ref_available() -> str | None:
    """Why the reference cannot run here (None when it can)."""
    for name in ("ntpd", "ntpd-gqfix", "ntp-keygen", "ntpq"):
        if not os.access(REF_DIR / name, os.X_OK):
            return f"reference ntpd 4.2.8p15 binaries at {REF_DIR} ({name} missing)"
    for prog in ("ip", "setpriv"):
        if shutil.which(prog) is None:
            return f"program {prog!r} (iproute2 / util-linux)"
    if os.geteuid() != 0:
        return "root (network namespaces for the reference ntpd)"
    return None


def require_ref() -> Path:
    """The reference binaries directory; fails the test when CI=true and it is missing, skips elsewhere."""
    missing = ref_available()
    if missing is not None:
        if IN_CI:
            pytest.fail(f"{missing} is required in CI (CI=true) but missing")
        pytest.skip(f"{missing} not available: the reference interop tests need ../shared/ref-ntpd")
    prepare_binaries()
    return REF_DIR


def prepare_binaries() -> None:
    """Copy every reference program before threads start daemons (a copy still open for writing in a forked
    child makes exec fail with ETXTBSY)."""
    for name in ("ntpd", "ntpd-gqfix", "ntp-keygen", "ntpq"):
        ref_binary(name)


_bin_dir: Path | None = None
_bin_lock = threading.Lock()


def ref_binary(name: str) -> Path:
    """A private copy of a reference program under a name of its own (ntpd -> ntpd-ref, ntpd-gqfix ->
    ntpd-ref-gqfix, ntp-keygen -> ntp-keygen-ref, ntpq -> ntpq-ref)."""
    global _bin_dir
    with _bin_lock:  # cells start in threads: copy once, atomically (exec of a half-written copy: ETXTBSY)
        if _bin_dir is None:
            _bin_dir = Path(tempfile.mkdtemp(prefix=f"ntpd-ref-bin-{os.getpid()}-"))
            atexit.register(shutil.rmtree, _bin_dir, True)  # the copies go with the process that made them
        own = {"ntpd": "ntpd-ref", "ntpd-gqfix": "ntpd-ref-gqfix"}.get(name, f"{name}-ref")
        target = _bin_dir / own
        if not target.exists():
            partial = _bin_dir / f".{own}.partial"
            shutil.copy2(REF_DIR / name, partial)
            partial.chmod(0o755)
            partial.rename(target)
        return target


def ref_keygen(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the reference ntp-keygen in `cwd` (it writes there). It needs no namespace: it only writes files."""
    return subprocess.run([str(ref_binary("ntp-keygen")), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, timeout=20)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.25) -> object:
    """The predicate's first truthy value within `timeout` seconds, else its last value; a daemon that is not up
    yet (a failed ntpq, socket or mode-6 query) counts as a falsy value."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, subprocess.SubprocessError, ControlError):
            value = None
        if value or time.monotonic() > end:
            return value
        time.sleep(interval)


@dataclass
class Assoc:
    """One line of `ntpq -c as` and the variables read for it."""

    assid: int
    condition: str
    auth: str
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def flags(self) -> int | None:
        text = self.variables.get("flags")
        return int(text, 0) if text else None


class Host:
    """One network namespace with one address on the lab's link; daemons started here are recorded."""

    def __init__(self, lab: Lab, ns: str, addr: str) -> None:
        self.lab, self.ns, self.addr = lab, ns, addr

    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def run(self, argv: list[str], timeout: float = 20, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]

    def start_ref(self, workdir: Path, body: str, *, gqfix: bool = False, name: str = "ref") -> Daemon:
        """The reference ntpd with `body` after the safe preamble (disable ntp/kernel, stats/drift/keys dirs)."""
        return self._start(RefDaemon(self, workdir, name, body, gqfix=gqfix))

    def start_py(self, workdir: Path, body: str, *, name: str = "py") -> Daemon:
        """An ntpd-py daemon with the same preamble, same setpriv, in this namespace."""
        return self._start(PyDaemon(self, workdir, name, body))

    def _start(self, daemon: Daemon) -> Daemon:
        self.lab.daemons.append(daemon)
        daemon.start()
        return daemon

    def ntpq(self, *commands: str, server: str = "127.0.0.1", timeout: float = 10) -> str:
        """The classic ntpq 4.2.8p15, run inside this namespace (`-n`, each command a `-c`)."""
        argv = [str(ref_binary("ntpq")), "-n"]
        for command in commands:
            argv += ["-c", command]
        out = self.run([*argv, server], timeout=timeout)
        return out.stdout + out.stderr

    def control_vars(self, assid: int = 0, names: list[str] | None = None, server: str = "127.0.0.1") -> dict[str, str]:
        """Mode-6 variables read by the project's own client (ntpd_py.control.client) inside this namespace."""
        script = (
            "import json\nfrom ntpd_py.control.client import ControlClient\n"
            f"with ControlClient({server!r}, timeout=2) as c:\n"
            f"    v = c.read_peer({assid}, {names!r}) if {assid} else c.read_system({names!r})\n"
            "print(json.dumps(v.as_dict()))\n"
        )
        out = self.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode != 0:
            raise subprocess.SubprocessError(out.stderr)
        return json.loads(out.stdout)


class Daemon:
    """A daemon in a namespace: configuration, log, pidfile, statistics in `workdir`; stopped by its PID."""

    kind = "?"

    def __init__(self, host: Host, workdir: Path, name: str, body: str) -> None:
        self.host, self.workdir, self.name = host, Path(workdir), name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.keysdir = self.workdir / "keys"
        self.keysdir.mkdir(exist_ok=True)
        self.conf = self.workdir / "ntp.conf"
        self.logfile = self.workdir / "ntpd.log"
        self.pidfile = self.workdir / "ntpd.pid"
        self.body = body
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def preamble(self) -> str:
        return (
            "disable ntp\ndisable kernel\n"
            f"driftfile {self.workdir}/ntp.drift\n"
            f"statsdir {self.workdir}/\n"
            f"keysdir {self.keysdir}/\n"
            "statistics cryptostats protostats sysstats peerstats\n"
            "filegen cryptostats file cryptostats type none enable\n"
            "filegen protostats file protostats type none enable\n"
            "filegen sysstats file sysstats type none enable\n"
            "filegen peerstats file peerstats type none enable\n"
        )

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Daemon:
        self.conf.write_text(self.preamble() + self.body)
        stderr = open(self.workdir / "stderr", "wb")
        self.started = time.monotonic()
        # `ip netns exec` and `setpriv` both exec: the PID recorded here is the daemon's own
        self.proc = subprocess.Popen(self.host.cmd(["setpriv", *SETPRIV, *self.argv()]), cwd=self.workdir,
                                     stdout=subprocess.DEVNULL, stderr=stderr, env=self.env(), start_new_session=True)
        stderr.close()
        if not wait_until(lambda: self.pidfile.exists() or self.proc.poll() is not None, 15, 0.05) or \
                self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"{self.kind} {self.name} in {self.host.ns} did not start:\n{self.log()}\n"
                               f"{(self.workdir / 'stderr').read_text(errors='replace')}")
        return self

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self) -> int | None:
        """SIGTERM by the recorded PID, SIGKILL after 10 s."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def stats(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def ntpq(self, *commands: str) -> str:
        return self.host.ntpq(*commands)

    def associations(self, variables: tuple[str, ...] = ("srcadr", "flags")) -> list[Assoc]:
        """`ntpq -c as` and `rv ASSID v1,v2` for each association, read with the classic ntpq."""
        listing = self.ntpq("as")
        out = []
        for line in listing.splitlines():  # ind assid status conf reach auth condition last_event cnt
            words = line.split()
            if len(words) >= 7 and words[0].isdigit() and words[1].isdigit():
                out.append(Assoc(int(words[1]), words[6], words[5]))
        for assoc in out:
            text = self.ntpq(f"rv {assoc.assid} {','.join(variables)}")
            assoc.variables = parse_vars(text)
        return out

    def assoc_for(self, srcadr: str) -> Assoc | None:
        return next((a for a in self.associations() if a.variables.get("srcadr") == srcadr), None)

    def wait_flags(self, srcadr: str, want: int, timeout: float, *, selected: bool = True) -> FlagsWait:
        """Poll the association with `srcadr` until its flags equal `want` (and it is sys.peer when asked)."""
        result = FlagsWait(want)
        end = time.monotonic() + timeout
        while True:
            try:
                assoc = self.assoc_for(srcadr)
            except (OSError, subprocess.SubprocessError):
                assoc = None
            now = time.monotonic() - self.started
            if assoc is not None:
                result.observe(now, assoc)
                if assoc.flags == want and result.flags_at is None:
                    result.flags_at = now
                if assoc.flags == want and (not selected or assoc.condition == "sys.peer"):
                    result.selected_at = now if selected else None
                    return result
            if time.monotonic() > end or not self.alive():
                return result
            time.sleep(0.5)


@dataclass
class FlagsWait:
    """What `wait_flags` saw: every change of flags (seconds after the daemon's start) and the last condition."""

    want: int
    seen: list[tuple[float, int]] = field(default_factory=list)
    condition: str | None = None
    flags: int | None = None
    flags_at: float | None = None
    selected_at: float | None = None

    def observe(self, when: float, assoc: Assoc) -> None:
        self.condition, self.flags = assoc.condition, assoc.flags
        if assoc.flags is not None and (not self.seen or self.seen[-1][1] != assoc.flags):
            self.seen.append((round(when, 1), assoc.flags))

    @property
    def ok(self) -> bool:
        return self.flags == self.want

    def __str__(self) -> str:
        trail = ", ".join(f"+{t}s 0x{f:x}" for t, f in self.seen)
        return f"wanted 0x{self.want:x}, last 0x{self.flags or 0:x} ({self.condition}); seen: {trail}"


def parse_vars(text: str) -> dict[str, str]:
    """`name=value, name="value"` pairs of ntpq's rv output."""
    out = {}
    for m in re.finditer(r'([\w.]+)=("[^"]*"|[^,\s]*)', text):
        out[m.group(1)] = m.group(2).strip('"')
    return out


class RefDaemon(Daemon):
    kind = "reference ntpd"

    def __init__(self, host: Host, workdir: Path, name: str, body: str, *, gqfix: bool = False) -> None:
        super().__init__(host, workdir, name, body)
        self.gqfix = gqfix

    def argv(self) -> list[str]:
        binary = ref_binary("ntpd-gqfix" if self.gqfix else "ntpd")
        return [str(binary), "-4", "-n", "-c", str(self.conf), "-l", str(self.logfile), "-p", str(self.pidfile)]


class PyDaemon(Daemon):
    kind = "ntpd-py"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(self.conf), "-l", str(self.logfile),
                "-p", str(self.pidfile)]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT)}


class Lab:
    """`n` network namespaces on one private link (10.a.b.0/24), deleted on exit with every daemon stopped."""

    def __init__(self, n: int = 2, prefix: str = "rf") -> None:
        if not 2 <= n <= 50:
            raise ValueError("a lab has 2 to 50 hosts")
        self.n = n
        self.tag = f"{prefix}{os.getpid()}x{next(_counter)}"
        rng = random.Random()
        self.net = f"10.{rng.randint(100, 250)}.{rng.randint(0, 255)}"
        self.namespaces: list[str] = []
        self.hosts: list[Host] = []
        self.daemons: list[Daemon] = []

    @property
    def broadcast(self) -> str:
        return f"{self.net}.255"

    def __enter__(self) -> Lab:
        missing = ref_available()
        if missing is not None:
            raise RefMissing(missing)
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_ns(self, name: str) -> str:
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return name

    def _create(self) -> None:
        hub = self._add_ns(f"{self.tag}h") if self.n > 2 else None
        if hub:
            _ip("-n", hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", hub, "link", "set", "br0", "up")
        for i in range(self.n):
            ns = self._add_ns(f"{self.tag}n{i}")
            addr = f"{self.net}.{i + 1}"
            if hub is None and i == 1:
                _ip("link", "add", "v1", "netns", self.namespaces[0], "type", "veth", "peer", "name", "v1",
                    "netns", ns)
                for j, other in enumerate((self.namespaces[0], ns)):
                    _ip("-n", other, "addr", "add", f"{self.net}.{j + 1}/24", "brd", "+", "dev", "v1")
                    _ip("-n", other, "link", "set", "v1", "up")
            elif hub is not None:
                _ip("link", "add", "v1", "netns", ns, "type", "veth", "peer", "name", f"p{i}", "netns", hub)
                _ip("-n", hub, "link", "set", f"p{i}", "master", "br0")
                _ip("-n", hub, "link", "set", f"p{i}", "up")
                _ip("-n", ns, "addr", "add", f"{addr}/24", "brd", "+", "dev", "v1")
                _ip("-n", ns, "link", "set", "v1", "up")
            self.hosts.append(Host(self, ns, addr))
        # daemons enumerate interfaces once at start: wait for carrier everywhere
        for host in self.hosts:
            if not wait_until(lambda: b"LOWER_UP" in _ip("-n", host.ns, "link", "show", "dev", "v1").stdout, 10, 0.05):
                raise RuntimeError(f"link in {host.ns} never came up")

    def close(self) -> None:
        for daemon in reversed(self.daemons):
            try:
                daemon.stop()
            except Exception:  # noqa: BLE001 - every daemon must be stopped and every namespace deleted
                pass
        for ns in reversed(self.namespaces):
            _ip("netns", "del", ns, check=False)
        self.namespaces.clear()


def leap_file() -> Path | None:
    """The leap-seconds file the reference authority loaded (in-repo copy, else ../shared/vectors)."""
    for candidate in (ROOT / "tests" / "data" / "vectors" / "leap-seconds.list",
                      ROOT.parent / "shared" / "vectors" / "leap-seconds.list"):
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture
def ref_lab() -> Iterator[Callable[[int], Lab]]:
    """A factory of labs (`ref_lab(2)`), all closed at the end of the test; requires the reference."""
    require_ref()
    labs: list[Lab] = []

    def make(n: int = 2) -> Lab:
        lab = Lab(n).__enter__()
        labs.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.close()


__all__ = ["Assoc", "Daemon", "FULL_FLAGS", "FlagsWait", "Host", "Lab", "PyDaemon", "REF_DIR", "RefDaemon",
           "RefMissing", "TAI", "leap_file", "parse_vars", "prepare_binaries", "ref_available", "ref_binary", "ref_keygen", "ref_lab",
           "require_ref", "wait_until"]
