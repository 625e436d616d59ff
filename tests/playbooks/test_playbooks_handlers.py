"""One restart per ntp.conf change, and one reload (SIGHUP) per leap-seconds file change alone (renew.yml's
`leapfile` entry point: the daemon re-reads the file and keeps its Autokey associations), whichever roles are in
the play.

ntp_config owns a handler for when it is used alone, and the ntpd_py role's `Restart ntpd-py` listens to the same
topic: with both in the play (renew.yml imports ntpd_py's `start` after its tasks' handlers ran), exactly one may
act. ntp_config's handler stands aside when the play has the ntpd_py role (its role names), not when a fact of that
role happens to be set by the handlers that ran before it. The daemon's control script is replaced by one that
records each call, so the restarts are counted (a handler that always acts fails this test).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playbook_runs import ansible_playbook

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def run_play(tmp_path: Path, with_ntpd_py: bool, tasks_from: str = "main") -> list[str]:
    root = tmp_path / "host"
    state = root / "var" / "lib" / "ntpd-py"
    state.mkdir(parents=True)
    if tasks_from == "leapfile":  # an existing deployment, as renew.yml finds it
        (root / "etc" / "ntpd-py").mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    script = state / "ntpd-py-service"
    script.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\necho restarted reloaded\n")
    script.chmod(0o755)
    play = {"name": "ntp_config", "hosts": "all", "gather_facts": False,
            "tasks": [{"name": "Write ntp.conf", "ansible.builtin.import_role": {"name": "autokey.ntp.ntp_config",
                                                                                 "tasks_from": tasks_from}}]}
    if with_ntpd_py:  # as renew.yml: ntpd_py's start in post_tasks, after the tasks' handlers ran
        play["post_tasks"] = [{"name": "Start", "ansible.builtin.import_role": {"name": "autokey.ntp.ntpd_py",
                                                                                "tasks_from": "start"}}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([play]))
    extra = {"ansible_python_interpreter": str(VENV_BIN / "python"), "ntp_root": str(root), "ntp_address": "127.0.0.1",
             "ntpd_py_venv": str(ROOT / ".venv"), "ntpd_py_service_manager": "pidfile", "ntp_config_validate": False,
             "ntp_config_leapfile": str(root / "etc" / "ntpd-py" / "leap-seconds.list")}
    result = ansible_playbook("-i", "h1,", "-c", "local", "-e", json.dumps(extra), playbook, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    written = "ntp.conf" if tasks_from == "main" else "leap-seconds.list"
    assert (root / "etc" / "ntpd-py" / written).exists(), result.stdout[-2000:]
    return calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize("with_ntpd_py", [False, True], ids=["ntp_config alone", "with ntpd_py's start"])
def test_playbooks_a_changed_ntp_conf_restarts_the_daemon_once(tmp_path: Path, with_ntpd_py: bool) -> None:
    assert run_play(tmp_path, with_ntpd_py) == ["try-restart"] + (["start"] if with_ntpd_py else [])


@pytest.mark.parametrize("with_ntpd_py", [False, True], ids=["ntp_config alone", "with ntpd_py's start"])
def test_playbooks_a_new_leap_file_alone_reloads_the_daemon(tmp_path: Path, with_ntpd_py: bool) -> None:
    assert run_play(tmp_path, with_ntpd_py, tasks_from="leapfile") == ["reload"] + (["start"] if with_ntpd_py else [])
