"""Bad inventories stop site.yml before anything changes, with a message that names the host and the variable.

Each case runs the real ansible-playbook on site.yml with a small temporary inventory whose hosts live under
tmp_path. Files "already in place" (an ntp.conf, a keys directory) must be byte-for-byte the same afterwards,
and nothing new may appear: the preflight play stops every host before the first change.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import yaml
from playbook_runs import ansible_playbook

ROOT = Path(__file__).resolve().parents[2]


def lab_inventory(tmp_path: Path) -> dict:
    """A valid one-group inventory (authority, server, client) with every path under tmp_path."""
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ntp_root": f"{tmp_path}/hosts/{{{{ inventory_hostname }}}}",
        "ntpd_py_venv": f"{tmp_path}/venv",
        "ntpd_py_wheel_cache": f"{tmp_path}/wheels",
        "ntpd_py_service_manager": "pidfile",
        "autokey_publish_dir": f"{tmp_path}/publish",
        "autokey_group": "GRT",
        "autokey_group_schemes": ["iff"],
        "autokey_server_password": "server-pw",
        "autokey_client_password": "client-pw",
    }
    return {
        "all": {
            "vars": common,
            "children": {
                "ntp": {
                    "children": {
                        "ntp_authorities": {"hosts": {"t-ta": {"ntp_address": "127.77.0.11"}},
                                            "vars": {"autokey_role": "authority"}},
                        "ntp_group_servers": {"hosts": {"t-srv": {"ntp_address": "127.77.0.12",
                                                                  "ntp_servers": [{"host": "t-ta"}]}},
                                              "vars": {"autokey_role": "server"}},
                        "ntp_clients": {"hosts": {"t-c1": {"ntp_address": "127.77.0.13",
                                                           "ntp_servers": [{"host": "t-srv"}]}},
                                        "vars": {"autokey_role": "client"}},
                    }
                }
            },
        }
    }


def place_existing_files(tmp_path: Path) -> None:
    """What a previous deployment left: these must survive untouched."""
    for host in ("t-ta", "t-srv", "t-c1"):
        etc = tmp_path / "hosts" / host / "etc" / "ntpd-py"
        (etc / "keys").mkdir(parents=True)
        (etc / "ntp.conf").write_text(f"# {host}: deployed earlier\nserver 127.0.0.1\n")
        (etc / "keys" / f"ntpkey_host_{host}").write_text("previous key\n")


def snapshot(tmp_path: Path) -> dict[str, str]:
    """Every file and directory under hosts/ and the controller-side dirs, with a content hash."""
    state = {}
    for path in sorted(tmp_path.rglob("*")):
        rel = str(path.relative_to(tmp_path))
        if rel.startswith("inventory"):
            continue
        state[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return state


def run_site(tmp_path: Path, inventory: dict) -> subprocess.CompletedProcess:
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory))
    return ansible_playbook("-i", inv, ROOT / "site.yml", timeout=120)


def expect_stop(tmp_path: Path, inventory: dict, *fragments: str) -> str:
    place_existing_files(tmp_path)
    before = snapshot(tmp_path)
    result = run_site(tmp_path, inventory)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in output:\n{output}"
    assert "PLAY [Install ntpd-py" not in output, output
    assert snapshot(tmp_path) == before, "files changed although the play stopped"
    return output


def hosts_of(inventory: dict, group: str) -> dict:
    return inventory["all"]["children"]["ntp"]["children"][group]["hosts"]


def test_playbooks_missing_client_password_names_host_and_variable(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    del inventory["all"]["vars"]["autokey_client_password"]
    expect_stop(tmp_path, inventory, "t-c1: autokey_client_password: missing")


def test_playbooks_missing_server_password_names_host_and_variable(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    inventory["all"]["vars"]["autokey_server_password"] = ""
    output = expect_stop(tmp_path, inventory, "t-ta: autokey_server_password: missing",
                         "t-srv: autokey_server_password: missing")
    assert "server-pw" not in output


def test_playbooks_unknown_scheme_names_host_and_variable(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    inventory["all"]["vars"]["autokey_group_schemes"] = ["iff", "rsa-magic"]
    expect_stop(tmp_path, inventory, "t-ta: autokey_group_schemes: unknown scheme \"rsa-magic\"")


def test_playbooks_group_without_authority_names_host_and_variable(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    hosts_of(inventory, "ntp_clients")["t-c1"]["autokey_group"] = "GRX"
    expect_stop(tmp_path, inventory, "t-c1: autokey_group: trust group GRX has no trusted authority")


def test_playbooks_role_outside_its_group_names_host_and_variable(tmp_path: Path) -> None:
    """site.yml sets each part up in a play over its inventory group: a client in ntp_group_servers would be set up
    by the servers' play with the client's password, so the preflight stops it."""
    inventory = lab_inventory(tmp_path)
    hosts_of(inventory, "ntp_group_servers")["t-srv"]["autokey_role"] = "client"
    expect_stop(tmp_path, inventory, "t-srv: autokey_role: client, but the host is not in the group ntp_clients")


def test_playbooks_unreachable_host_names_host_and_variable(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    hosts_of(inventory, "ntp_clients")["t-c1"].update(
        {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
         "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes"})
    expect_stop(tmp_path, inventory, "t-c1: unreachable (check ansible_host")


def test_playbooks_valid_inventory_passes_preflight(tmp_path: Path) -> None:
    """The same inventory without a fault gets past the checks (run only the first play: --check, --limit)."""
    inventory = lab_inventory(tmp_path)
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory))
    result = ansible_playbook("-i", inv, ROOT / "playbooks" / "preflight.yml", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_playbooks_renamed_groups_fail_with_the_groups_named(tmp_path: Path) -> None:
    """ntp and ntp_clients renamed: a play over a group without hosts is skipped silently; preflight says so."""
    inventory = lab_inventory(tmp_path)
    children = inventory["all"]["children"]
    groups = children.pop("ntp")["children"]
    groups["clients"] = groups.pop("ntp_clients")
    children["timeservers"] = {"children": groups}
    output = expect_stop(tmp_path, inventory, "group ntp matches no host", "group ntp_clients matches no host",
                         "this inventory has the groups clients, ntp_authorities, ntp_group_servers, timeservers")
    assert "Summary" not in output


def test_playbooks_authority_without_address_names_host_and_variable(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    del hosts_of(inventory, "ntp_authorities")["t-ta"]["ntp_address"]
    expect_stop(tmp_path, inventory, "t-ta: ntp_address: missing")


def test_playbooks_server_strings_with_an_unknown_option_name_it(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    hosts_of(inventory, "ntp_clients")["t-c1"]["ntp_servers"] = ["t-srv iburst", "0.pool.ntp.org iburts"]
    expect_stop(tmp_path, inventory, 't-c1: ntp_servers: "0.pool.ntp.org iburts": unknown option "iburts"')


def test_playbooks_geerlingguy_style_server_strings_pass_preflight(tmp_path: Path) -> None:
    inventory = lab_inventory(tmp_path)
    hosts_of(inventory, "ntp_clients")["t-c1"]["ntp_servers"] = ["t-srv iburst", "0.pool.ntp.org iburst noautokey"]
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory))
    result = ansible_playbook("-i", inv, ROOT / "playbooks" / "preflight.yml", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_playbooks_check_mode_on_fresh_hosts_reports_and_changes_nothing(tmp_path: Path) -> None:
    """--check on hosts that have nothing yet: rc 0, a summary that says why nothing was verified, no file."""
    inventory = lab_inventory(tmp_path)
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory))
    before = snapshot(tmp_path)
    result = ansible_playbook("-i", inv, ROOT / "site.yml", "--check", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "check mode: ntpd-py not installed yet" in output, output[-5000:]
    assert snapshot(tmp_path) == before, "check mode changed files"
