"""The ntp_config role's ntp.conf: every directive the issue lists, rendered for real and checked by ntpd-py.

One ansible-playbook run renders the role for four hosts (authority, client, GQ symmetric peer, broadcast
server with notrust) into tmp_path; the role's own `validate` runs `ntpd-py --check` on each file, and the test
parses each with ntpd_py's config parser as well.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from playbook_runs import ansible_playbook

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

PLAYBOOK = """
- name: Render ntp.conf (the ntp_config role alone, with its own handler)
  hosts: all
  gather_facts: false
  tasks:
    - name: Render
      ansible.builtin.import_role:
        name: autokey.ntp.ntp_config
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ntpconf")
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ntp_root": f"{base}/{{{{ inventory_hostname }}}}",
        "ntpd_py_venv": str(ROOT / ".venv"),
        "autokey_group": "GRT",
        "autokey_server_password": "server-pw",
        "autokey_client_password": "client-pw",
    }
    hosts = {
        "ta": {"autokey_role": "authority", "ntp_address": "127.0.0.1", "ntp_local_stratum": 3},
        "client": {"autokey_role": "client", "ntp_address": "127.0.0.2", "ntp_port": 10123,
                   # a dict, and strings as geerlingguy.ntp's ntp_servers takes them (an inventory host, an address)
                   "ntp_servers": ["ta iburst", {"address": "192.0.2.1", "autokey": False, "prefer": True},
                                   "0.pool.ntp.org iburst noautokey minpoll 4"],
                   "ntp_poll": {"minpoll": 3, "maxpoll": 4}, "ntp_orphan_stratum": 10},
        "peer": {"autokey_role": "server", "ntp_address": "127.0.0.3",
                 "ntp_peers": [{"host": "ta", "ident": "ta"}], "ntp_config_crypto_ident": "peer",
                 "ntp_config_crypto_digest": "sha1", "ntp_config_autokey_logsec": 12,
                 "ntp_config_revoke_logsec": 17},
        "bcast": {"autokey_role": "server", "ntp_address": "127.0.0.4", "ntp_config_authenticated_only": True,
                  "ntp_config_broadcast": [{"address": "127.255.255.255", "ttl": 1}],
                  "ntp_config_restrict": [{"address": "127.0.0.0", "mask": "255.0.0.0", "flags": ["nomodify"]}]},
    }
    inventory = base / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": common, "hosts": hosts}}))
    playbook = base / "render.yml"
    playbook.write_text(PLAYBOOK)
    result = ansible_playbook("-i", inventory, playbook, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return base


def conf(base: Path, host: str) -> list[str]:
    text = (base / host / "etc" / "ntpd-py" / "ntp.conf").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.slow
def test_playbooks_authority_conf_is_an_isolated_root_with_crypto(rendered: Path) -> None:
    lines = conf(rendered, "ta")
    assert "server 127.127.1.0" in lines
    assert "fudge 127.127.1.0 stratum 3" in lines
    assert "crypto host ta pw server-pw ident GRT" in lines
    assert f"keysdir {rendered}/ta/etc/ntpd-py/keys" in lines
    assert f"leapfile {rendered}/ta/etc/ntpd-py/leap-seconds.list" in lines
    assert "interface listen 127.0.0.1" in lines
    assert "disable ntp" in lines and "enable ntp" not in lines
    assert not any(line.startswith("port ") for line in lines)
    assert f"statsdir {rendered}/ta/var/log/ntpd-py/stats/" in lines
    assert "filegen cryptostats file cryptostats type week enable" in lines
    assert (rendered / "ta" / "etc" / "ntpd-py" / "ntp.conf").stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_playbooks_client_conf_has_autokey_servers_and_lab_port(rendered: Path) -> None:
    lines = conf(rendered, "client")
    assert "server 127.0.0.1 iburst minpoll 3 maxpoll 4 autokey ident GRT" in lines
    assert "server 192.0.2.1 iburst minpoll 3 maxpoll 4 prefer" in lines
    assert "server 0.pool.ntp.org iburst minpoll 4 maxpoll 4" in lines
    assert "crypto host client pw client-pw ident GRT" in lines
    assert "port 10123" in lines
    assert "tos orphan 10" in lines
    assert not any(line.startswith("leapfile") for line in lines)


@pytest.mark.slow
def test_playbooks_peer_conf_follows_the_gq_peer_recipe(rendered: Path) -> None:
    lines = conf(rendered, "peer")
    assert "peer 127.0.0.1 autokey ident ta" in lines
    assert "crypto host peer pw server-pw ident peer digest sha1" in lines
    assert "autokey 12" in lines and "revoke 17" in lines


@pytest.mark.slow
def test_playbooks_broadcast_conf_serves_authenticated_clients_only(rendered: Path) -> None:
    lines = conf(rendered, "bcast")
    assert "broadcast 127.255.255.255 autokey ttl 1" in lines
    assert "restrict default kod limited nomodify notrap nopeer noquery notrust" in lines
    assert "restrict 127.0.0.0 mask 255.0.0.0 nomodify" in lines


@pytest.mark.slow
def test_playbooks_every_rendered_conf_parses_cleanly(rendered: Path) -> None:
    parser = pytest.importorskip("ntpd_py.config.parser")
    for host in ("ta", "client", "peer", "bcast"):
        path = rendered / host / "etc" / "ntpd-py" / "ntp.conf"
        result = subprocess.run([str(VENV_BIN / "ntpd-py"), "--check", "-c", str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (host, result.stdout, result.stderr)
    assert parser is not None
