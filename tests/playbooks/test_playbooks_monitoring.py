"""The ntpd_py_monitoring role: a metrics script, systemd service and timer, and a logrotate snippet that work.

The role runs for real into tmp_path (timer not enabled: this machine's systemd is not touched). The units are
checked with `systemd-analyze verify`; the script is run against an address where no daemon answers and must
still leave a complete textfile (ntpd_py_up 0) and no temporary file; the logrotate snippet names the log file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_playbook

from conftest import free_loopback

VENV_BIN = Path(sys.executable).parent

PLAYBOOK = """
- name: Monitoring role
  hosts: all
  gather_facts: false
  roles:
    - role: autokey.ntp.ntpd_py_monitoring
"""


@pytest.mark.slow
def test_playbooks_monitoring_role_writes_a_working_timer_script_and_logrotate(tmp_path: Path) -> None:
    address = free_loopback()
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ntp_root": str(tmp_path / "root"),
        "ntp_address": address,
        "ntpd_py_monitoring_venv": str(tmp_path / "venv"),
        "ntpd_py_monitoring_textfile_dir": str(tmp_path / "textfile"),
        "ntpd_py_monitoring_systemd_dir": str(tmp_path / "systemd"),
        "ntpd_py_monitoring_logrotate_dir": str(tmp_path / "logrotate"),
        "ntpd_py_monitoring_enable_timer": False,
    }
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "ntpd-py-q").symlink_to(VENV_BIN / "ntpd-py-q")
    (tmp_path / "systemd").mkdir()
    (tmp_path / "logrotate").mkdir()
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"mon": host}}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    script = tmp_path / "venv" / "bin" / "ntpd-py-textfile"
    proc = ansible_playbook("-i", inventory, playbook, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    again = ansible_playbook("-i", inventory, playbook, timeout=120)
    assert "changed=0" in again.stdout, again.stdout[-3000:]

    service = tmp_path / "systemd" / "ntpd-py-textfile.service"
    timer = tmp_path / "systemd" / "ntpd-py-textfile.timer"
    assert f"ExecStart={script}" in service.read_text()
    assert "OnUnitActiveSec=60s" in timer.read_text()
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(service), str(timer)],
                                capture_output=True, text=True, timeout=60)
        problems = [line for line in (verify.stdout + verify.stderr).splitlines()
                    if "ntpd-py-textfile" in line and "ntpd-py.service" not in line]
        assert not problems, verify.stdout + verify.stderr

    run = subprocess.run([str(script)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1, run.stderr  # nothing answers at the address: reported in the file
    written = sorted(os.listdir(tmp_path / "textfile"))
    assert written == ["ntpd_py.prom"], written
    text = (tmp_path / "textfile" / "ntpd_py.prom").read_text()
    assert f'ntpd_py_up{{server="{address}"}} 0' in text

    snippet = (tmp_path / "logrotate" / "ntpd-py").read_text()
    assert f"{tmp_path}/root/var/log/ntpd-py/ntpd.log " in snippet
    assert "copytruncate" in snippet and "weekly" in snippet
