"""Interop cells: one Autokey server and one client, each in its own network namespace, one of them (or
both) the reference ntpd 4.2.8p15; keys from either generator. Used by tests/interop_ref and bench/handshake.

A cell runs start to end in one call (`run_cell`), so many run at once in threads: each owns its namespaces,
directories and daemons, and cleans them up whatever happens.
"""

from __future__ import annotations

import re
import signal
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import keysets as ks
from refntpd import FULL_FLAGS, TAI, Daemon, FlagsWait, Host, Lab, leap_file, prepare_binaries, wait_until

SCHEMES = ("iff", "gq", "mv", "tc", "pc")
PRODUCTION_RESTRICT = "restrict default kod notrap nomodify nopeer noquery limited\n"
OPEN_RESTRICT = "restrict default kod notrap nomodify nopeer noquery\n"
LOCAL = "restrict 127.0.0.1\n"


@dataclass(frozen=True)
class CellSpec:
    """Who serves, who asks, who made which keys."""

    scheme: str
    server: str  # "ref" | "py"
    client: str  # "ref" | "py"
    server_keys: str = "py"  # generator of the authority's files
    client_keys: str = "py"  # generator of the client's host key
    params_keys: str = "py"  # generator of the client identity parameters (`-e`)
    restrict: str = OPEN_RESTRICT
    mode: str = "client"  # "client" (server/client associations) | "broadcast"
    timeout: float = 100.0

    @property
    def name(self) -> str:
        mode = "" if self.mode == "client" else f"-{self.mode}"
        return (f"{self.scheme}{mode}-{self.server}-server-{self.client}-client"
                f"-keys-{self.server_keys}{self.client_keys}{self.params_keys if self.scheme in ks.PARAMS else ''}")

    @property
    def want(self) -> int:
        return FULL_FLAGS[self.scheme]


@dataclass
class CellResult:
    spec: CellSpec
    base: Path | None = None
    wait: FlagsWait | None = None
    kods: int | None = None
    error: str | None = None
    logs: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def full_at(self) -> float | None:
        return self.wait.flags_at if self.wait else None

    @property
    def selected_at(self) -> float | None:
        return self.wait.selected_at if self.wait else None

    def explain(self) -> str:
        out = [f"cell {self.spec.name}: {self.wait}" if self.wait else f"cell {self.spec.name}: no result"]
        if self.error:
            out.append(self.error)
        for name, text in self.logs.items():
            out.append(f"--- {name} (tail) ---\n{text[-2500:]}")
        return "\n".join(out)


def make_keys(spec: CellSpec, base: Path) -> tuple[Path, Path, str]:
    """Server and client keys directories for a cell, and the client's `crypto pw`."""
    server_dir, client_dir = base / "server" / "keys", base / "client" / "keys"
    ks.authority(spec.server_keys, spec.scheme, server_dir)
    if spec.scheme == "pc":
        ks.share_private_certificate(server_dir, client_dir)
        return server_dir, client_dir, ks.SERVER_PW
    ks.client_host(spec.client_keys, client_dir)
    if spec.scheme in ks.PARAMS:
        authority_dir = server_dir
        if spec.params_keys == "ref" and spec.server_keys != "ref":
            # stock parameters of a reference authority of its own (stock MV files never serve: no mvkey)
            authority_dir = base / "ref-authority"
            ks.authority("ref", spec.scheme, authority_dir)
        ks.client_params(spec.params_keys, spec.scheme, authority_dir, client_dir)
    return server_dir, client_dir, ks.CLIENT_PW


def server_body(spec: CellSpec, lab: Lab) -> str:
    source = ("tos orphan 5\ntos orphanwait 1\n" if spec.server == "ref"
              else "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\n")
    leap = leap_file()
    body = f"{source}{spec.restrict}{LOCAL}crypto host {ks.SERVER} pw {ks.SERVER_PW}\n"
    if leap is not None:
        body += f"leapfile {leap}\n"
    if spec.mode == "broadcast":
        body += f"broadcast {lab.broadcast} autokey minpoll 3\n"
    return body


def client_body(spec: CellSpec, server_addr: str, pw: str) -> str:
    # a reference client with `disable ntp` never calls itself synchronised and then never sends SIGN/LEAP:
    # orphan 10 (../shared/ref-ntpd/README.md)
    orphan = "tos orphan 10\ntos orphanwait 1\n" if spec.client == "ref" else ""
    ident = f" ident {ks.GROUP}" if spec.scheme in ks.PARAMS else ""
    body = f"{orphan}{OPEN_RESTRICT}{LOCAL}"
    if spec.mode == "broadcast":
        # `nopeer` would forbid mobilizing the broadcast association (the reference counts it `restricted`)
        body = f"{orphan}{OPEN_RESTRICT.replace(' nopeer', '')}{LOCAL}"
        if spec.client == "ref":  # the reference takes a broadcast client's group from the `ident` command
            return body + f"crypto host {ks.CLIENT} pw {pw}\nident {ks.GROUP}\nbroadcastclient\n"
        return body + f"crypto host {ks.CLIENT} pw {pw}{ident}\nbroadcastclient\n"
    return body + f"crypto host {ks.CLIENT} pw {pw}\nserver {server_addr} iburst autokey{ident} minpoll 3 maxpoll 4\n"


def start(host: Host, kind: str, workdir: Path, body: str, spec: CellSpec, name: str) -> Daemon:
    if kind == "ref":
        return host.start_ref(workdir, body, gqfix=spec.scheme == "gq", name=name)
    return host.start_py(workdir, body, name=name)


def kod_count(server: Daemon) -> int | None:
    """`kod responses` of the server's sysstats, read with the classic ntpq."""
    m = re.search(r"kod responses:\s+(\d+)", server.ntpq("sysstats"), re.I)
    return int(m.group(1)) if m else None


def server_ready(server: Daemon, timeout: float = 15.0) -> float | None:
    """Seconds until the server advertises its final status word: reachable over mode 6 and, with a leap
    file, the TAI bit in its system `flags` (the reference sets it at its first crypto_update(), about 2 s
    after start with `tos orphanwait 1`; a client whose ASSOC arrives earlier never gets the bit)."""
    want_tai = leap_file() is not None

    def ready() -> bool:
        m = re.search(r"flags=(0x[0-9a-f]+|\d+)", server.ntpq("rv 0 flags"))
        return bool(m) and (not want_tai or bool(int(m.group(1), 0) & TAI))

    return time.monotonic() - server.started if wait_until(ready, timeout, 0.2) else None


def _collect(result: CellResult, daemons: dict[str, Daemon]) -> None:
    for role, daemon in daemons.items():
        result.logs[f"{role} {daemon.kind} log"] = daemon.log()
        result.logs[f"{role} cryptostats"] = daemon.stats("cryptostats")


def run_cell(spec: CellSpec, base: Path, after: object = None) -> CellResult:
    """Keys, two namespaces, server, then client; waits until the client holds `want` flags and has
    selected the server. `after(result, lab, server, client)` runs before the daemons stop (renewal...)."""
    result = CellResult(spec, base)
    daemons: dict[str, Daemon] = {}
    try:
        server_keys, client_keys, pw = make_keys(spec, base)
        with Lab(2) as lab:
            s_host, c_host = lab.hosts
            server = start(s_host, spec.server, base / "server", server_body(spec, lab), spec, "server")
            daemons["server"] = server
            result.extra["server_ready"] = server_ready(server)
            client = start(c_host, spec.client, base / "client", client_body(spec, s_host.addr, pw), spec, "client")
            daemons["client"] = client
            result.wait = client.wait_flags(s_host.addr, spec.want, spec.timeout)
            result.kods = kod_count(server)
            if after is not None and result.wait.ok:
                after(result, lab, server, client)  # type: ignore[operator]
            _collect(result, daemons)
    except Exception:  # noqa: BLE001 - a cell reports its failure; the test asserts on it
        result.error = traceback.format_exc()
        _collect(result, daemons)
    return result


def slug(text: str) -> str:
    """A directory name without spaces or shell-special characters (ntp.conf paths are single words)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def run_cells(cells: dict[str, tuple[CellSpec, object]], base: Path, workers: int = 16) -> dict[str, CellResult]:
    """Every cell at once (threads: the work is in the daemons); results by key."""
    prepare_binaries()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {key: pool.submit(run_cell, spec, base / slug(key), after) for key, (spec, after) in cells.items()}
        return {key: future.result() for key, future in futures.items()}


def renew_then_wait(settle: float = 20.0, timeout: float = 80.0):
    """An `after` hook: renew the ntpd-py server's certificate (same host key), SIGHUP it, and watch the
    reference client keep (or regain) full flags on the server."""

    def hook(result: CellResult, lab: Lab, server: Daemon, client: Daemon) -> None:
        before = server.ntpq("rv 0 cert")
        time.sleep(1.1)  # a new filestamp (seconds) for the renewed certificate
        ks.renew_certificate(result.spec.server_keys, result.spec.scheme, server.keysdir)
        new_cert = (server.keysdir / f"ntpkey_cert_{ks.SERVER}").resolve().name
        server.signal(signal.SIGHUP)
        hup = time.monotonic()
        # the system `cert` variable names subject, issuer, flags and the expiry minute: a renewal moves it
        served = wait_until(lambda: server.ntpq("rv 0 cert") not in ("", before), 15, 0.5)
        time.sleep(settle)
        after = client.wait_flags(lab.hosts[0].addr, result.spec.want, timeout)
        result.extra.update(cert_before=before, cert_after=server.ntpq("rv 0 cert"), new_cert=new_cert,
                            served_new=bool(served), after_hup=after, hup_to_check=time.monotonic() - hup,
                            server_alive=server.alive())

    return hook
