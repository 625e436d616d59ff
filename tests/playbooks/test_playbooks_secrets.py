"""Secrets never shown: the lab's site.yml under --diff -vvv prints no password, before or after a password change.

The lab inventory itself (inventories/lab: two trust groups, a group server, a client with its own password) is
run, with an overlay inventory that moves every host to a random loopback address and a root under tmp_path, so
the test neither touches `make lab`'s state nor needs its fixed addresses. Run 1 stands the lab up from nothing;
run 2 changes every password with the *_password_previous variables (docs/roles.md): the keys are re-encrypted,
not regenerated (same host keys and group keys), ntp.conf changes, and the flags are verified again. The whole
output of both runs (stdout and stderr, -vvv) is searched for every old and new password; a third run with the
new passwords alone must report changed=0. Finally an export with an export password, under --diff -vvv too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_env

from conftest import free_loopback

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LAB = ROOT / "inventories" / "lab"
GROUP_OF = {"gr1-ta": "GR1", "gr1-srv": "GR1", "gr1-c1": "GR1", "gr1-c2": "GR1", "gr2-ta": "GR2", "gr2-c1": "GR2"}


def lab_passwords() -> dict[str, dict]:
    """The lab's passwords per trust group, read from its group_vars (so the test follows the inventory)."""
    found = {}
    for group in ("GR1", "GR2"):
        data = yaml.safe_load((LAB / "group_vars" / f"{group}.yml").read_text())
        found[group] = {key: data[key] for key in data if "password" in key}
    return found


def every_password(passwords: dict) -> list[str]:
    values = []
    for data in passwords.values():
        for value in data.values():
            values.extend(value.values() if isinstance(value, dict) else [value])
    return values


def run(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = ansible_env(ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def assert_no_secret(proc: subprocess.CompletedProcess, secrets: list[str], what: str) -> None:
    output = proc.stdout + proc.stderr
    for secret in secrets:
        assert secret not in output, f"{what}: password {secret!r} printed:\n" + "\n".join(
            line for line in output.splitlines() if secret in line)[:3000]


@pytest.mark.slow
def test_playbooks_lab_under_diff_vvv_prints_no_password_before_or_after_a_password_change(tmp_path: Path) -> None:
    old = lab_passwords()
    new = {group: {key: ({host: pw + "-NEW2" for host, pw in value.items()} if isinstance(value, dict)
                         else value + "-NEW2") for key, value in data.items()} for group, data in old.items()}
    overlay_hosts = {}
    for host in GROUP_OF:
        overlay_hosts[host] = {
            "ntp_address": free_loopback(),
            "ntp_root": f"{tmp_path}/hosts/{host}",
            "ntpd_py_venv": f"{tmp_path}/venv",
            "autokey_publish_dir": f"{tmp_path}/publish",
        }
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(yaml.safe_dump({"all": {"hosts": overlay_hosts}}))
    change = tmp_path / "change.yml"
    change.write_text(yaml.safe_dump({"all": {"hosts": {
        host: {**{key: value for key, value in new[group].items()},
               **{key + "_previous" if key != "autokey_client_passwords" else "autokey_client_passwords_previous": value
                  for key, value in old[group].items()}}
        for host, group in GROUP_OF.items()}}}))
    settled = tmp_path / "settled.yml"
    settled.write_text(yaml.safe_dump({"all": {"hosts": {host: dict(new[group]) for host, group in GROUP_OF.items()}}}))
    base = [str(VENV_BIN / "ansible-playbook"), "-i", str(LAB), "-i", str(overlay)]
    secrets = every_password(old) + every_password(new)
    assert len(set(secrets)) == 10, secrets
    try:
        first = run(base + ["site.yml", "--diff", "-vvv"], tmp_path)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        assert "--- before" in first.stdout, "no diff printed at all: the test would prove nothing"
        assert_no_secret(first, secrets, "site.yml --diff -vvv")
        host_key = (tmp_path / "hosts/gr1-c2/etc/ntpd-py/keys/ntpkey_host_gr1-c2").resolve()
        group_key = (tmp_path / "hosts/gr1-ta/etc/ntpd-py/keys/ntpkey_iffkey_GR1").resolve()

        second = run(base + ["-i", str(change), "site.yml", "--diff", "-vvv"], tmp_path)
        assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
        assert_no_secret(second, secrets, "password change with --diff -vvv")
        assert "reencrypted" in second.stdout
        # Same identity: the same files behind the links, now opening with the new password only.
        assert (tmp_path / "hosts/gr1-c2/etc/ntpd-py/keys/ntpkey_host_gr1-c2").resolve() == host_key
        assert (tmp_path / "hosts/gr1-ta/etc/ntpd-py/keys/ntpkey_iffkey_GR1").resolve() == group_key
        from ntpd_py.keys import store as key_store
        key_store.load_key_file(host_key, old["GR1"]["autokey_client_passwords"]["gr1-c2"] + "-NEW2")
        conf = (tmp_path / "hosts/gr1-c2/etc/ntpd-py/ntp.conf").read_text()
        assert re.search(r"^crypto .* pw gr1-c2-lab-NEW2\b", conf, re.MULTILINE), conf

        third = run(base + ["-i", str(settled), "site.yml"], tmp_path)
        assert third.returncode == 0, third.stdout[-6000:] + third.stderr[-3000:]
        recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", third.stdout, re.MULTILINE)
        assert recap and all(changed == "0" for _, changed in recap), third.stdout[-4000:]

        export = tmp_path / "export.yml"
        export.write_text(yaml.safe_dump([{
            "name": "An export with an export password, under --diff -vvv",
            "hosts": "gr1-ta", "gather_facts": False,
            "vars": {"ansible_python_interpreter": f"{tmp_path}/venv/bin/python"},
            "tasks": [
                {"name": "Export GR1's IFF parameters and server key", "no_log": True,
                 "autokey.ntp.ntp_identity_export": {
                     "keysdir": f"{tmp_path}/hosts/gr1-ta/etc/ntpd-py/keys", "host": "gr1-ta", "group": "GR1",
                     "scheme": "iff", "password": new["GR1"]["autokey_server_password"],
                     "export_password": "Export-Pw-Q3", "dest": f"{tmp_path}/export"}},
                {"name": "Install the server key elsewhere (diff shows hashes only)",
                 "autokey.ntp.ntp_key_install": {"keysdir": f"{tmp_path}/other-keys", "validate": False,
                                                 "src": f"{tmp_path}/export/{{{{ item }}}}"},
                 "loop": "{{ query('ansible.builtin.fileglob', '" + f"{tmp_path}/export/ntpkey_*" + "') | map('basename') }}"},
            ]}]))
        fourth = run(base + ["-i", str(settled), str(export), "--diff", "-vvv"], tmp_path)
        assert fourth.returncode == 0, fourth.stdout[-6000:] + fourth.stderr[-3000:]
        assert_no_secret(fourth, secrets + ["Export-Pw-Q3"], "export with --diff -vvv")
    finally:
        for script in (tmp_path / "hosts").glob("*/var/lib/ntpd-py/ntpd-py-service"):
            subprocess.run([str(script), "stop"], capture_output=True, timeout=60)
