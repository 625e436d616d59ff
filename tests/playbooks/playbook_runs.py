"""ansible-playbook as the README runs it (the checkout's ansible.cfg and virtual environment), for the playbook tests.

A plain module that the tests import, not a conftest.py: a second conftest.py would replace the first in
sys.modules['conftest'], which other tests import from.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

# The handler that the autokey roles notify, for plays that run a role without the ntpd_py role's handlers.
RELOAD_HANDLER = """  handlers:
    - name: Reload ntpd-py
      ansible.builtin.debug:
        msg: reload
"""


def ansible_env(**extra: str) -> dict[str, str]:
    """The checkout's ansible.cfg, its virtual environment first on PATH, no colours in the output."""
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", **extra)


def ansible_playbook(*args: str | os.PathLike[str], timeout: float = 240,
                     env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the checkout's ansible-playbook from the checkout (its collection link resolves autokey.ntp)."""
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), *map(str, args)], cwd=ROOT,
                          env=env if env is not None else ansible_env(), capture_output=True, text=True,
                          timeout=timeout)


def local_host_vars(base: Path) -> dict[str, str]:
    """Inventory variables of hosts on this machine: each under base/<host>, the checkout's ntpd_py."""
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ntp_root": f"{base}/{{{{ inventory_hostname }}}}",
        "ntpd_py_venv": str(ROOT / ".venv"),
    }


def role_play(name: str, hosts: str, role: str) -> str:
    """A play that imports one of the collection's roles, with the reload handler the roles notify."""
    return f"""- name: {name}
  hosts: {hosts}
  gather_facts: false
  tasks:
    - name: {name}
      ansible.builtin.import_role:
        name: autokey.ntp.{role}
{RELOAD_HANDLER}"""
