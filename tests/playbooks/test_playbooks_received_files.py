"""The files a member receives (identity parameters, a group server's group key) are installed only when they differ.

The autokey_member role skips ntp_key_install for a file that is already in place, by the key generation's
`other_links` report (same bytes behind the same link with the same mode): an unchanged run is no module run per
file. That skip must never keep a damaged or replaced file: each kind of damage below is put right by the next run.
Real modules, real key files.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_playbook, local_host_vars, role_play

PLAYBOOK = role_play("Authority", "r-ta", "autokey_authority") + role_play("Members", "r-srv:r-cli", "autokey_member")

IDENTITY = "autokey.ntp.autokey_member : Install the group's identity parameters"
GROUP_KEY = "autokey.ntp.autokey_member : Install the group keys"
INSTALLS = ((IDENTITY, "r-cli"), (IDENTITY, "r-srv"), (GROUP_KEY, "r-srv"))


def outcome(stdout: str, task: str, host: str) -> set[str]:
    """The results (ok, changed, skipping, failed) that a task's section of the output shows for a host."""
    section = stdout.split(f"TASK [{task}]", 1)[1].split("\nTASK [", 1)[0].split("\nRUNNING HANDLER", 1)[0]
    return {line.split(":", 1)[0] for line in section.splitlines() if f"[{host}]" in line.split("=>", 1)[0]
            and line.split(":", 1)[0] in ("ok", "changed", "skipping", "failed", "fatal")}


def run_playbook(tmp_path: Path) -> subprocess.CompletedProcess:
    common = dict(local_host_vars(tmp_path), autokey_publish_dir=f"{tmp_path}/publish", autokey_group="GRR",
                  autokey_group_schemes=["iff"], autokey_server_password="server-pw",
                  autokey_client_password="client-pw", autokey_authority_modulus=1024, autokey_member_modulus=1024)
    hosts = {"r-ta": {"autokey_role": "authority"}, "r-srv": {"autokey_role": "server"},
             "r-cli": {"autokey_role": "client"}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    result = ansible_playbook("-v", "-i", inventory, playbook)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def keys(tmp_path: Path, host: str) -> Path:
    return tmp_path / host / "etc" / "ntpd-py" / "keys"


@pytest.mark.slow
def test_playbooks_received_files_in_place_are_no_module_run_and_damage_is_repaired(tmp_path: Path) -> None:
    first = run_playbook(tmp_path)
    for task, host in INSTALLS:
        assert outcome(first.stdout, task, host) == {"changed"}, first.stdout
    client_params = keys(tmp_path, "r-cli") / "ntpkey_iffpar_GRR"
    server_params = keys(tmp_path, "r-srv") / "ntpkey_iffpar_GRR"
    group_key = keys(tmp_path, "r-srv") / "ntpkey_iffkey_GRR"
    wanted = {path: (os.readlink(path), path.resolve().read_bytes())
              for path in (client_params, server_params, group_key)}

    second = run_playbook(tmp_path)
    assert "changed=0" in second.stdout and "changed=1" not in second.stdout, second.stdout
    for task, host in INSTALLS:  # skipped: not run (and found unchanged)
        assert outcome(second.stdout, task, host) == {"skipping"}, second.stdout

    # Damage of every kind the skip compares: the bytes, the mode, the link.
    body = client_params.resolve().read_bytes()
    client_params.resolve().write_bytes(body.replace(b"\n-----END", b"\n#\n-----END", 1))
    group_key.resolve().chmod(0o644)
    os.replace(server_params, server_params.with_name("moved"))
    os.symlink("ntpkey_iffpar_GRR.1", server_params)

    third = run_playbook(tmp_path)
    for task, host in INSTALLS:
        assert outcome(third.stdout, task, host) == {"changed"}, third.stdout
    for path, (target, data) in wanted.items():
        assert os.readlink(path) == target
        assert path.resolve().read_bytes() == data
        assert path.resolve().stat().st_mode & 0o777 == 0o600
