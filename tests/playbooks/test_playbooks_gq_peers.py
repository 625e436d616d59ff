"""The ntp mailing-list recipe for GQ between symmetric peers, as the autokey_member role carries it out.

Two peers, each its own GQ authority with the shared password, publish their GQ parameters on the controller and
install the other's under its file name and the standard link (the "cross-copy"). Real modules, real key files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_playbook, local_host_vars, role_play

PLAYBOOK = role_play("Join as a symmetric GQ peer", "all", "autokey_member")


@pytest.mark.slow
def test_playbooks_gq_peers_cross_copy_their_parameters(tmp_path: Path) -> None:
    common = dict(local_host_vars(tmp_path), autokey_publish_dir=f"{tmp_path}/publish", autokey_role="server",
                  autokey_gq_peer_password="common-pw", autokey_member_modulus=1024)
    hosts = {
        "peer1": {"autokey_group": "peer1", "autokey_gq_peers": ["peer2"]},
        "peer2": {"autokey_group": "peer2", "autokey_gq_peers": ["peer1"]},
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    playbook = tmp_path / "peers.yml"
    playbook.write_text(PLAYBOOK)
    first = ansible_playbook("-i", inventory, playbook)
    assert first.returncode == 0, first.stdout + first.stderr

    for me, other in (("peer1", "peer2"), ("peer2", "peer1")):
        keys = tmp_path / me / "etc" / "ntpd-py" / "keys"
        own = keys / f"ntpkey_gqkey_{me}"
        theirs = keys / f"ntpkey_gqpar_{other}"
        assert own.is_symlink() and own.resolve().is_file(), sorted(p.name for p in keys.iterdir())
        assert theirs.is_symlink() and theirs.resolve().is_file(), sorted(p.name for p in keys.iterdir())
        assert (keys / f"ntpkey_cert_{me}").is_symlink()

    second = ansible_playbook("-i", inventory, playbook)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed=0" in second.stdout and "changed=1" not in second.stdout, second.stdout
