"""Autokey's core opens no file: the daemon shell reads key files at start and on SIGHUP
(ntpd_py/daemon/autokey_wiring.py) and hands the core an immutable HostCredentials (issue 13)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from ntpd_py.autokey.local_host import HostCredentials, IdentityKeys

AUTOKEY = Path(__file__).resolve().parents[2] / "ntpd_py" / "autokey"
FILE_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "listdir", "exists", "iterdir",
              "scandir", "stat"}
# the one reader left in the package: the leap-seconds.list codec's convenience `load`, called by the shell
ALLOWED = {("leapfile.py", "load")}


def _file_calls(path: Path) -> list[str]:
    found = []
    for func in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) or (path.name, func.name) in ALLOWED:
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in FILE_CALLS:
                    found.append(f"{path.name}:{node.lineno} {func.name}() calls {name}")
    return found


def test_autokey_core_opens_no_file():
    assert [line for path in sorted(AUTOKEY.glob("*.py")) for line in _file_calls(path)] == []


def test_autokey_core_does_not_import_the_key_store():
    for path in AUTOKEY.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(("keys.store", "keys.files")), path.name
                assert (node.module or "") != "keys" or not {a.name for a in node.names} & {"store", "files"}, path.name


def test_credentials_are_immutable():
    ident = IdentityKeys(clients={("iff", "grp"): ("params", 7)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        ident.iff_fstamp = 1  # type: ignore[misc]
    creds = HostCredentials(host_key=None, host_fstamp=0, certificate=None, cert_fstamp=0, identity=ident)
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.digest = "sha1"  # type: ignore[misc]
    assert ident.client_params("iff", "grp") == ("params", 7) and ident.client_params("gq", "grp") is None
