"""A client's own short password that occurs in the PEM text of its export: the roles still deliver it intact.

Ansible masks no_log values in module results; the autokey_authority role therefore moves exports by
find + fetch from the authority's export directory, never through a result. Real modules, real key files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_playbook, local_host_vars, role_play

PLAYBOOK = role_play("Authority", "t-ta", "autokey_authority") + role_play("Client", "t-c2", "autokey_member")


def run_playbook(tmp_path: Path, client_password: str, *limit: str) -> subprocess.CompletedProcess:
    common = dict(local_host_vars(tmp_path), autokey_publish_dir=f"{tmp_path}/publish", autokey_group="GRS",
                  autokey_group_schemes=["iff"], autokey_server_password="server-pw",
                  autokey_client_passwords={"t-c2": client_password}, autokey_authority_modulus=1024,
                  autokey_member_modulus=1024)
    hosts = {"t-ta": {"autokey_role": "authority"}, "t-c2": {"autokey_role": "client"}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    return ansible_playbook("-i", inventory, playbook, *limit)


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
