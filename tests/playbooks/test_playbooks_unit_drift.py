"""The systemd unit's writable paths with `enable ntp`: the driftfile's own directory, never the state directory.

The state directory holds the key hand-over script that systemd runs as root (ExecStartPre=+, ExecReload=+): a
daemon user that could write there could replace it. Before, the unit made the state directory writable, where the
daemon's user still could not create ntp.drift (the directory is root's), so a disciplined daemon never kept its
frequency. The role's template is rendered for real with the role's defaults and vars; molecule/fleet checks the
directory's owner and that the daemon's user can write there and not in the state directory, on systemd hosts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_playbook

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
ROLE = ROOT / "roles" / "ntpd_py"


def render_unit(tmp_path: Path, **extra: object) -> list[str]:
    out = tmp_path / "ntpd-py.service"
    playbook = tmp_path / "render.yml"
    playbook.write_text(json.dumps([{
        "name": "Render the unit", "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        "tasks": [{"name": "Render", "ansible.builtin.copy": {
            "content": "{{ lookup('ansible.builtin.template', '%s') }}" % (ROLE / "templates" / "ntpd-py.service.j2"),
            "dest": str(out), "mode": "0644"}}],
    }]))
    extra_vars = {"ansible_python_interpreter": str(VENV_BIN / "python"), **extra}
    result = ansible_playbook("-i", "localhost,", "-c", "local", "-e", json.dumps(extra_vars), playbook, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return out.read_text().splitlines()


@pytest.mark.parametrize("discipline", [True, False])
def test_playbooks_unit_writes_only_the_drift_directory(tmp_path: Path, discipline: bool) -> None:
    lines = render_unit(tmp_path, ntpd_py_discipline_clock=discipline)
    writable = [line for line in lines if line.startswith("ReadWritePaths=")]
    assert "ProtectSystem=strict" in lines
    assert "ReadWritePaths=-/var/lib/ntpd-py" not in lines, writable
    if discipline:
        assert "ReadWritePaths=-/var/lib/ntpd-py/drift" in lines, writable
        assert any("CAP_SYS_TIME" in line for line in lines if line.startswith("AmbientCapabilities="))
    else:
        assert writable == [], writable
        assert "ProtectClock=yes" in lines


def test_playbooks_ntp_config_puts_the_driftfile_in_that_directory() -> None:
    """ntp_config's default driftfile lies in ntpd_py's default drift directory (the two roles meet there)."""
    ntpd_py = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    ntp_config = yaml.safe_load((ROOT / "roles" / "ntp_config" / "defaults" / "main.yml").read_text())
    assert ntpd_py["ntpd_py_drift_dir"] == "{{ ntpd_py_state_dir }}/drift"
    assert ntpd_py["ntpd_py_state_dir"] == "{{ __ntpd_py_root }}/var/lib/ntpd-py"
    assert ntp_config["ntp_config_driftfile"] == "{{ __ntp_config_root }}/var/lib/ntpd-py/drift/ntp.drift"
