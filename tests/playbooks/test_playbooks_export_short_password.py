"""A client's own short password that occurs in the PEM text of its export: the roles still deliver it intact.

Ansible masks no_log values in module results; the autokey_authority role therefore moves exports by
find + fetch from the authority's export directory, never through a result. Real modules, real key files.
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
  hosts: t-ta
  gather_facts: false
  tasks:
    - name: Trusted authority
      ansible.builtin.import_role:
        name: autokey.ntp.autokey_authority
  handlers:
    - name: Reload ntpd-py
      ansible.builtin.debug:
        msg: reload
- name: Client
  hosts: t-c2
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


def run_playbook(tmp_path: Path, client_password: str, *limit: str) -> subprocess.CompletedProcess:
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ntp_root": f"{tmp_path}/{{{{ inventory_hostname }}}}",
        "ntpd_py_venv": str(ROOT / ".venv"),
        "autokey_publish_dir": f"{tmp_path}/publish",
        "autokey_group": "GRS",
        "autokey_group_schemes": ["iff"],
        "autokey_server_password": "server-pw",
        "autokey_client_passwords": {"t-c2": client_password},
        "autokey_authority_modulus": 1024,
        "autokey_member_modulus": 1024,
    }
    hosts = {"t-ta": {"autokey_role": "authority"}, "t-c2": {"autokey_role": "client"}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *limit],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_playbooks_client_with_a_short_password_in_the_pem_gets_a_byte_exact_copy(tmp_path: Path) -> None:
    first = run_playbook(tmp_path, "a-long-client-password", "--limit", "t-ta")  # the client joins later
    assert first.returncode == 0, first.stdout + first.stderr
    exports = tmp_path / "t-ta" / "var" / "lib" / "ntpd-py" / "exports" / "GRS" / "t-c2"
    (exported,) = exports.glob("ntpkey_iffpar_GRS.*")
    body = [line for line in exported.read_text().splitlines() if line and not line.startswith(("#", "-----"))]
    short = body[1][30:33]  # three characters of the base64 text: they certainly occur in the export

    second = run_playbook(tmp_path, short)
    assert second.returncode == 0, second.stdout + second.stderr
    data = exported.read_bytes()
    assert short.encode() in data and b"********" not in data
    assert (tmp_path / "publish" / "GRS" / "t-c2" / exported.name).read_bytes() == data
    installed = tmp_path / "t-c2" / "etc" / "ntpd-py" / "keys" / exported.name
    assert installed.read_bytes() == data
    assert (installed.parent / "ntpkey_iffpar_GRS").resolve() == installed.resolve()
