"""Real ntpd_py daemons with Autokey on loopback, keys made by ntpd_py's keygen, flags read with the real ntpq."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT, free_loopback, require_program, safe_cmd, stop_started

from ntpd_py.keys.keygen import KeygenOptions, generate


@dataclass
class Daemon:
    name: str
    addr: str
    dir: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        stop_started(self.proc, 5)

    def log(self) -> str:
        path = self.dir / "ntpd.log"
        return path.read_text() if path.exists() else ""

    def cryptostats(self) -> str:
        path = self.dir / "cryptostats"
        return path.read_text() if path.exists() else ""


def make_keys(base: Path, scheme: str | None, clients: list[str], t: float, *, server: str = "alice") -> dict[str, Path]:
    """A trusted authority `server` (with IFF/GQ/MV when asked) and client hosts with the group's client file."""
    dirs = {name: base / name / "keys" for name in [server, *clients]}
    for d in dirs.values():
        d.mkdir(parents=True)
    opts = KeygenOptions(host_key=True, host=server, trusted=True, password="serverpw", modulus=1024)
    if scheme == "iff":
        opts.iff = True
    elif scheme == "gq":
        opts.gq = True
    elif scheme == "mv":
        opts.mv_keys = 3
    generate(opts, dirs[server], t)
    for i, client in enumerate(clients):
        if scheme is not None:
            generate(KeygenOptions(export=True, host=server, password="serverpw", export_dir=dirs[client],
                                   write_certificate=False, mv_client=1 if scheme == "mv" else None), dirs[server], t + 1 + i)
        generate(KeygenOptions(host_key=True, host=client, password="clientpw", modulus=1024), dirs[client], t)
    return dirs


def start(name: str, addr: str, workdir: Path, body: str) -> Daemon:
    conf = workdir / "ntp.conf"
    conf.write_text(
        f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {addr}\n"
        "disable ntp\n"
        f"keysdir {workdir / 'keys'}\n"
        f"statsdir {workdir}/\n"
        "statistics cryptostats\n"
        "filegen cryptostats file cryptostats type none enable\n"
        "restrict 127.0.0.0 mask 255.0.0.0\n" + body
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf), "-l", str(workdir / "ntpd.log")])
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr", "w"))
    return Daemon(name, addr, workdir, proc)


def ntpq(addr: str, command: str) -> str:
    ntpq_bin = require_program("ntpq")
    out = subprocess.run([ntpq_bin, "-n", "-c", command, addr], capture_output=True, text=True, timeout=10)
    return out.stdout + out.stderr


def read_flags(addr: str) -> int | None:
    """The first association's `flags`, whether ntpq printed it in hex or (ntpsec) in decimal."""
    listing = ntpq(addr, "as")
    m = re.search(r"^\s*\d+\s+(\d+)\s", listing, re.M)
    if not m:
        return None
    text = ntpq(addr, f"rv {m.group(1)} flags")
    fm = re.search(r"flags=(0x[0-9a-fA-F]+|\d+)", text)
    return int(fm.group(1), 0) if fm else None


def wait_flags(addr: str, want: int, timeout: float) -> tuple[int | None, float, list[tuple[float, int]]]:
    t0 = time.monotonic()
    seen: list[tuple[float, int]] = []
    flags = None
    while time.monotonic() - t0 < timeout:
        flags = read_flags(addr)
        if flags is not None and (not seen or seen[-1][1] != flags):
            seen.append((time.monotonic() - t0, flags))
        if flags == want:
            break
        time.sleep(0.25)
    return flags, time.monotonic() - t0, seen


def pair_configs(scheme: str | None, alice: str, leap: Path | None) -> tuple[str, str]:
    server = "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ncrypto host alice pw serverpw\n"
    if leap is not None:
        server += f"leapfile {leap}\n"
    ident = " ident alice" if scheme else ""
    client = f"crypto host bob pw clientpw\nserver {alice} iburst autokey{ident} minpoll 4\n"
    return server, client


__all__ = ["Daemon", "make_keys", "make_gq_peer_keys", "start", "ntpq", "read_flags", "wait_flags", "free_loopback", "pair_configs"]


def make_gq_peer_keys(base: Path, names: list[str], t: float, group: str = "grp") -> dict[str, Path]:
    """The mailing-list recipe: one GQ group, its server key copied to every peer, each peer its own
    trusted certificate carrying its GQ public key, and the group's client parameters everywhere."""
    import shutil

    dirs = {name: base / name / "keys" for name in names}
    for d in dirs.values():
        d.mkdir(parents=True)
    first = names[0]
    generate(KeygenOptions(host_key=True, host=first, group=group, trusted=True, gq=True, password="pw", modulus=1024),
             dirs[first], t)
    gqkey = next(p for p in dirs[first].iterdir() if p.name.startswith("ntpkey_GQkey_"))
    for name in names[1:]:
        shutil.copy(gqkey, dirs[name] / gqkey.name)
        (dirs[name] / f"ntpkey_gqkey_{group}").symlink_to(gqkey.name)
        generate(KeygenOptions(host_key=True, host=name, group=group, trusted=True, password="pw", modulus=1024),
                 dirs[name], t + 1)
    for i, name in enumerate(names):
        generate(KeygenOptions(export=True, host=first, group=group, password="pw", export_dir=dirs[name],
                               write_certificate=False), dirs[first], t + 2 + i)
    return dirs
