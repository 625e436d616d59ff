"""Key material for the interop cells, made by either key generator: the reference ntp-keygen 4.2.8p15
("ref") or ntpd-py-keygen ("py"), through their command lines, as a user would run them.

Subjects are given explicitly as `host@group` (`-s alice@grp`, `-s bob@grp`): a reference server declines
ASSOC requests whose subject has no `@group`, and this must hold whatever the generators' defaults are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from refntpd import ROOT, ref_keygen

SERVER, CLIENT, GROUP = "alice", "bob", "grp"
SERVER_PW, CLIENT_PW = "serverpw", "clientpw"
IDENTITY_BITS = "512"  # stock ntp-keygen fails with its 256-bit default on OpenSSL 3
AUTHORITY_ARGS = {
    "tc": ["-T"],
    "iff": ["-T", "-I", "-b", IDENTITY_BITS],
    "gq": ["-T", "-G", "-b", IDENTITY_BITS],
    "mv": ["-T", "-V", "5", "-b", IDENTITY_BITS],
    "pc": ["-P"],
}
PARAMS = {"iff": "iffpar", "gq": "gqpar", "mv": "mvpar"}
SERVER_FILES = {"iff": ("IFFkey", "iffkey"), "gq": ("GQkey", "gqkey"), "mv": ("MVta", "mvta")}


class KeygenFailed(RuntimeError):
    pass


def py_keygen(args: list[str], keysdir: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "ntpd_py.keys.cli", *args, "--keysdir", str(keysdir)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def keygen(tool: str, args: list[str], keysdir: Path) -> subprocess.CompletedProcess[str]:
    """Run one generator in `keysdir`; a failure raises with its output."""
    keysdir.mkdir(parents=True, exist_ok=True)
    out = ref_keygen(args, keysdir) if tool == "ref" else py_keygen(args, keysdir)
    if out.returncode != 0:
        raise KeygenFailed(f"{tool} keygen {' '.join(args)} in {keysdir}: exit {out.returncode}\n{out.stderr[-2000:]}")
    return out


def authority(tool: str, scheme: str, keysdir: Path) -> None:
    """A group's trusted authority `alice@grp` for `scheme` (TC: trusted certificate only; PC: private one)."""
    keygen(tool, [*AUTHORITY_ARGS[scheme], "-p", SERVER_PW, "-s", f"{SERVER}@{GROUP}"], keysdir)
    if tool == "ref" and scheme in SERVER_FILES:
        # stock ntp-keygen with `-s host@group` links only ntpkey_<scheme>key_<host>, but its own `-e` looks
        # for ntpkey_<scheme>key_<group> (../shared/ref-ntpd/README.md): give it that link too
        upper, lower = SERVER_FILES[scheme]
        target = next(p.name for p in keysdir.iterdir() if p.name.startswith(f"ntpkey_{upper}_"))
        link = keysdir / f"ntpkey_{lower}_{GROUP}"
        if not link.exists():
            link.symlink_to(target)


def client_host(tool: str, keysdir: Path, host: str = CLIENT) -> None:
    """A group member's own host key and certificate (`-H -s bob@grp`)."""
    keygen(tool, ["-H", "-p", CLIENT_PW, "-s", f"{host}@{GROUP}"], keysdir)


def share_private_certificate(authority_dir: Path, keysdir: Path, host: str = CLIENT) -> None:
    """PC: a member holds the authority's host key and private certificate as its own (links under its name);
    it then decrypts them with the authority's password."""
    keysdir.mkdir(parents=True, exist_ok=True)
    for kind in ("host", "cert"):
        real = (authority_dir / f"ntpkey_{kind}_{SERVER}").resolve()
        shutil.copy2(real, keysdir / real.name)
        link = keysdir / f"ntpkey_{kind}_{host}"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(real.name)


def client_params(tool: str, scheme: str, authority_dir: Path, keysdir: Path) -> Path:
    """The group's client identity parameters (`-e`), installed as ntpkey_<scheme>par_grp in `keysdir`."""
    keysdir.mkdir(parents=True, exist_ok=True)
    kind = PARAMS[scheme]
    if tool == "py":
        keygen("py", ["-e", "-p", SERVER_PW, "-s", f"{SERVER}@{GROUP}", "--export-dir", str(keysdir)], authority_dir)
    else:
        text = keygen("ref", ["-e", "-p", SERVER_PW, "-s", f"{SERVER}@{GROUP}"], authority_dir).stdout
        m = re.search(rf"^# (ntpkey_{kind}_\S+)$", text, re.M)
        if not m:
            raise KeygenFailed(f"ntp-keygen -e printed no {kind} parameters:\n{text[:500]}")
        (keysdir / m.group(1)).write_text(text)
        link = keysdir / f"ntpkey_{kind}_{GROUP}"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(m.group(1))
    link = keysdir / f"ntpkey_{kind}_{GROUP}"
    if not link.exists():
        raise KeygenFailed(f"{tool} keygen -e left no {link.name} in {keysdir}: {sorted(os.listdir(keysdir))}")
    return link


def renew_certificate(tool: str, scheme: str, keysdir: Path, days: int = 730) -> None:
    """A renewal: a new certificate for the same host key (ntp-keygen -T without -H), here with a lifetime
    other than the default year so that the served `cert` variable (expiry minute) shows the change."""
    keygen(tool, ["-T" if scheme != "pc" else "-P", "-l", str(days), "-p", SERVER_PW, "-s", f"{SERVER}@{GROUP}"],
           keysdir)


def subject(cert_link: Path) -> str:
    """The certificate's subject CN as `openssl x509` reads it."""
    out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(cert_link)], capture_output=True,
                         text=True, timeout=10)
    return out.stdout.strip()
