"""Run the collection's modules the way Ansible does: `ansible localhost -m autokey.ntp.X`, a real subprocess.

The collection is found through a temporary `ansible_collections/autokey/ntp` link to this checkout (so the tests
do not depend on bootstrap having made `.collections`), with the repository's ansible.cfg otherwise in force.
Modules run under this test's Python, which has ntpd_py installed, as `ansible_python_interpreter`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
RESULT_LINE = re.compile(r"^localhost \| (?P<status>[A-Z]+!?) => ", re.MULTILINE)


@dataclass
class Outcome:
    """One module run: its status word, result dict, and the text before the result (the diff)."""

    status: str
    result: dict
    output: str
    diff_text: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status.startswith("FAILED") or bool(self.result.get("failed"))

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))


class Ansible:
    """ansible and ansible-doc with this checkout as the collection autokey.ntp."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        collections = tmp / "collections"
        link = collections / "ansible_collections" / "autokey" / "ntp"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(ROOT)
        self.env = dict(os.environ)
        if (ROOT / "ansible.cfg").exists():
            self.env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=str(collections),
            ANSIBLE_CALLBACK_RESULT_FORMAT="json",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
            ANSIBLE_REMOTE_TEMP=str(tmp / "ansible-remote"),
            ANSIBLE_HOME=str(tmp / "ansible-home"),
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
        )
        self.env.pop("ANSIBLE_STDOUT_CALLBACK", None)

    def module(self, name: str, args: dict, *, check: bool = False, diff: bool = False,
               python: str | None = None, timeout: float = 120) -> Outcome:
        """Run autokey.ntp.<name> (or a full FQCN) on localhost with args given as JSON."""
        fqcn = name if "." in name else f"autokey.ntp.{name}"
        argv = [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                "-e", f"ansible_python_interpreter={python or sys.executable}",
                "-m", fqcn, "-a", json.dumps(args)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=timeout)
        text = proc.stdout
        match = RESULT_LINE.search(text)
        if match is None:
            raise AssertionError(f"no result from ansible (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        result, _ = json.JSONDecoder().raw_decode(text[match.end():])
        return Outcome(match["status"], result, text + proc.stderr, diff_text=text[:match.start()])

    def play(self, tasks: list[dict], *, timeout: float = 300) -> list[Outcome]:
        """Run tasks (each a task dict; errors ignored) in one ansible-playbook run on localhost.

        One process start for many module calls: each task's result comes back in order, through the test
        callback plugin (callback_plugins/plugins_result_dump.py). Tasks set their own check_mode and diff.
        """
        workdir = Path(tempfile.mkdtemp(prefix="play-", dir=self.tmp))
        playbook = [{"name": "plugins tests", "hosts": "localhost", "connection": "local", "gather_facts": False,
                     "vars": {"ansible_python_interpreter": sys.executable},
                     "tasks": [dict(task, ignore_errors=True) for task in tasks]}]
        (workdir / "play.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
        dump = workdir / "results.jsonl"
        env = dict(self.env, PLUGINS_RESULT_DUMP=str(dump), ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="plugins_result_dump")
        proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(workdir / "play.yml")],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
        records = [json.loads(line) for line in dump.read_text().splitlines()] if dump.exists() else []
        if len(records) != len(tasks):
            raise AssertionError(f"{len(records)} results for {len(tasks)} tasks (rc={proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return [Outcome("FAILED!" if r["status"] == "failed" else r["status"].upper(), r["result"],
                        json.dumps(r["result"], indent=1)) for r in records]

    def doc(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "ansible-doc"), *args], capture_output=True, text=True,
                              env=self.env, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def ansible(tmp_path_factory) -> Ansible:
    """One Ansible runner (its own config and temp dir) per test module; test modules import this fixture."""
    return Ansible(tmp_path_factory.mktemp("ansible"))
