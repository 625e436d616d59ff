"""The ntp mailing-list recipe for GQ between symmetric peers, as the autokey_member role carries it out.

Two peers, each its own GQ authority with the shared password, publish their GQ parameters on the controller and
install the other's under its file name and the standard link (the "cross-copy"). Real modules, real key files.
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
- name: GQ peers
  hosts: all
  gather_facts: false
  tasks:
    - name: Join as a symmetric GQ peer
      ansible.builtin.import_role:
        name: autokey.ntp.autokey_member
  handlers:
    - name: Reload ntpd-py
      ansible.builtin.debug:
        msg: reload
"""


@pytest.mark.slow
def test_playbooks_gq_peers_cross_copy_their_parameters(tmp_path: Path) -> None:
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ntp_root": f"{tmp_path}/{{{{ inventory_hostname }}}}",
        "ntpd_py_venv": str(ROOT / ".venv"),
        "autokey_publish_dir": f"{tmp_path}/publish",
        "autokey_role": "server",
        "autokey_gq_peer_password": "common-pw",
        "autokey_member_modulus": 1024,
    }
    hosts = {
        "peer1": {"autokey_group": "peer1", "autokey_gq_peers": ["peer2"]},
        "peer2": {"autokey_group": "peer2", "autokey_gq_peers": ["peer1"]},
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    playbook = tmp_path / "peers.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    run = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    first = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr

    for me, other in (("peer1", "peer2"), ("peer2", "peer1")):
        keys = tmp_path / me / "etc" / "ntpd-py" / "keys"
        own = keys / f"ntpkey_gqkey_{me}"
        theirs = keys / f"ntpkey_gqpar_{other}"
        assert own.is_symlink() and own.resolve().is_file(), sorted(p.name for p in keys.iterdir())
        assert theirs.is_symlink() and theirs.resolve().is_file(), sorted(p.name for p in keys.iterdir())
        assert (keys / f"ntpkey_cert_{me}").is_symlink()

    second = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed=0" in second.stdout and "changed=1" not in second.stdout, second.stdout
