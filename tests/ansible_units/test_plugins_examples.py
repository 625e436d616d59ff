"""Every module's and the lookup's EXAMPLES run as written, against real keys and real daemons.

The EXAMPLES blocks are read from the plugin files and run in order (keygen, export, lookup, install, status) on
localhost; only the machine-specific places are moved: /etc/ntp/keys, /var/lib/ntpd-py/exports and /srv/ntp into
tmp, the status examples' 127.0.0.1 and 192.0.2.10 to a client and its server started by the test on random
loopback addresses. The vault_* variables the examples use are given. Every task must succeed.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from plugins_harness import ROOT, ansible  # noqa: F401  (the shared fixture)

from conftest import free_loopback, safe_cmd

PLUGINS = [("modules", "ntp_keygen"), ("modules", "ntp_identity_export"), ("lookup", "ntp_identity"),
           ("modules", "ntp_key_install"), ("modules", "ntp_autokey_status")]
VAULT = {"vault_gr1_server_password": "Gr1-Srv-Ex-5", "vault_client_password": "Cl-Ex-6",
         "vault_client_password_new": "Cl-Ex-New-7"}


def examples(kind: str, name: str) -> list[dict]:
    tree = ast.parse((ROOT / "plugins" / kind / f"{name}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES":
            return yaml.safe_load(node.value.value)
    raise AssertionError(f"{name} has no EXAMPLES")


def moved(tasks: list[dict], places: dict[str, str]) -> list[dict]:
    text = yaml.safe_dump(tasks, sort_keys=False)
    for old, new in places.items():
        text = text.replace(old, new)
    return yaml.safe_load(text)


def start_daemon(workdir: Path, address: str, body: str) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "ntp.conf"
    conf.write_text(f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {address}\ndisable ntp\nrestrict 127.0.0.0 mask 255.0.0.0\n{body}")
    argv = safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf), "-l", str(workdir / "log")])
    return subprocess.Popen(argv, cwd=workdir, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_plugins_every_example_runs_as_written(ansible, tmp_path) -> None:  # noqa: F811
    alice, bob = free_loopback(), free_loopback()
    # (the status example's five-minute wait shortened: a failure should not hold the suite that long)
    places = {"timeout: 300": "timeout: 60", "/etc/ntp/keys": f"{tmp_path}/keys", "/var/lib/ntpd-py/exports": f"{tmp_path}/exports",
              "/srv/ntp/": f"{tmp_path}/srv/ntp/", "127.0.0.1": bob, "192.0.2.10": alice}
    found = {name: moved(examples(kind, name), places) for kind, name in PLUGINS}
    # Each example runs on its own host in real life: alice's keys, bob's keys, and the others'.
    for name, tasks in found.items():
        for task in tasks:
            args = next((value for key, value in task.items() if key.startswith("autokey.ntp.")), None)
            if not isinstance(args, dict) or "keysdir" not in args:
                continue
            owner = {"ntp_identity_export": "alice", "ntp_key_install": "bob"}.get(name, args.get("host", "other"))
            args["keysdir"] = f"{tmp_path}/{owner}-keys"
    for name, tasks in found.items():
        assert tasks, f"{name}: empty EXAMPLES"

    # The lookup's second example reads one named file: put the export there (the test's only scaffolding).
    scaffold = {"name": "Copy the export where the lookup example names it", "ansible.builtin.copy": {
        "src": "{{ (gr1_exported.files | first).path }}", "dest": f"{tmp_path}/srv/ntp/ntpkey_iffpar_GR1.4004323481",
        "mode": "0600"}}
    first = (found["ntp_keygen"] + found["ntp_identity_export"] + [scaffold] + found["ntp_identity"]
             + found["ntp_key_install"])
    first = [dict(task, vars=dict(task.get("vars", {}), **VAULT)) for task in first]
    os.makedirs(tmp_path / "srv" / "ntp")
    outcomes = ansible.play(first)
    for task, outcome in zip(first, outcomes):
        assert not outcome.failed, (task["name"], outcome.output[-3000:])

    # The status examples: a client (bob) of the trusted authority (alice) the examples above made, with the
    # passwords the examples ended with.
    keys, bob_keys = tmp_path / "alice-keys", tmp_path / "bob-keys"
    daemons = [
        start_daemon(tmp_path / "alice", alice,
                     f"keysdir {keys}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 3\n"
                     f"crypto host alice pw {VAULT['vault_gr1_server_password']} ident GR1\n"),
        start_daemon(tmp_path / "bob", bob,
                     f"keysdir {bob_keys}\ncrypto host bob pw {VAULT['vault_client_password_new']} ident GR1\n"
                     f"server {alice} iburst autokey ident GR1 minpoll 4\n"),
    ]
    try:
        second = found["ntp_autokey_status"]
        started = time.monotonic()
        outcomes = ansible.play(second)
        for task, outcome in zip(second, outcomes):
            assert not outcome.failed, (task["name"], outcome.output[-3000:], (tmp_path / "bob" / "log").read_text()[-2000:],
                                        (tmp_path / "alice" / "log").read_text()[-2000:])
        assert time.monotonic() - started < 120
    finally:
        for proc in daemons:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
