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

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

PLAYBOOK = """
- name: Authority
  hosts: r-ta
  gather_facts: false
  tasks:
    - name: Trusted authority
      ansible.builtin.import_role:
        name: autokey.ntp.autokey_authority
  handlers:
    - name: Reload ntpd-py
      ansible.builtin.debug:
        msg: reload
- name: Members
  hosts: r-srv:r-cli
  gather_facts: false
  tasks:
    - name: Member
      ansible.builtin.import_role:
        name: autokey.ntp.autokey_member
  handlers:
    - name: Reload ntpd-py
      ansible.builtin.debug:
        msg: reload
"""

IDENTITY = "autokey.ntp.autokey_member : Install the group's identity parameters"
GROUP_KEY = "autokey.ntp.autokey_member : Install the group keys"
INSTALLS = ((IDENTITY, "r-cli"), (IDENTITY, "r-srv"), (GROUP_KEY, "r-srv"))


def outcome(stdout: str, task: str, host: str) -> set[str]:
    """The results (ok, changed, skipping, failed) that a task's section of the output shows for a host."""
    section = stdout.split(f"TASK [{task}]", 1)[1].split("\nTASK [", 1)[0].split("\nRUNNING HANDLER", 1)[0]
    return {line.split(":", 1)[0] for line in section.splitlines() if f"[{host}]" in line.split("=>", 1)[0]
            and line.split(":", 1)[0] in ("ok", "changed", "skipping", "failed", "fatal")}


def run_playbook(tmp_path: Path) -> subprocess.CompletedProcess:
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ntp_root": f"{tmp_path}/{{{{ inventory_hostname }}}}",
        "ntpd_py_venv": str(ROOT / ".venv"),
        "autokey_publish_dir": f"{tmp_path}/publish",
        "autokey_group": "GRR",
        "autokey_group_schemes": ["iff"],
        "autokey_server_password": "server-pw",
        "autokey_client_password": "client-pw",
        "autokey_authority_modulus": 1024,
        "autokey_member_modulus": 1024,
    }
    hosts = {"r-ta": {"autokey_role": "authority"}, "r-srv": {"autokey_role": "server"},
             "r-cli": {"autokey_role": "client"}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    result = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-v", "-i", str(inventory), str(playbook)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
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
