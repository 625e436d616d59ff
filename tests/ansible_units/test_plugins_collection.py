"""The repository as the collection autokey.ntp: galaxy.yml, meta/runtime.yml, the built tarball, and the
installed collection working like the checkout."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest
import yaml
from plugins_harness import ROOT, VENV_BIN, Ansible

MODULES = ("ntp_keygen", "ntp_identity_export", "ntp_key_install", "ntp_autokey_status", "ntp_files")


def test_galaxy_and_runtime_metadata():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"], galaxy["version"]) == ("autokey", "ntp", "0.1.0")
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.16.0"


def test_checkout_link_when_bootstrapped():
    link = ROOT / ".collections" / "ansible_collections" / "autokey" / "ntp"
    if not link.is_symlink():
        pytest.skip("scripts/bootstrap.sh has not made .collections yet")
    assert link.resolve() == ROOT


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    proc = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("autokey-ntp-*.tar.gz")
    return path


def test_tarball_carries_the_daemon_source_and_no_tests_or_local_state(tarball):
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["namespace"] == "autokey"
    for module in MODULES:
        assert f"plugins/modules/{module}.py" in names
    assert {"plugins/lookup/ntp_identity.py", "plugins/doc_fragments/ntp.py", "meta/runtime.yml",
            "pyproject.toml", "ntpd_py/__init__.py", "ntpd_py/keys/keygen.py"} <= names
    top = {name.split("/")[0] for name in names}
    assert not top & {"bench", ".venv", ".deps", ".lab", ".collections", ".git", "build", "dist", "molecule", "scripts"}
    # Only what ansible-test needs on the installed collection (sanity ignores, unit tests); a new test directory
    # must be added to galaxy.yml's build_ignore.
    shipped_tests = {"/".join(name.split("/")[:2]) for name in names if name.startswith("tests/") and name != "tests"}
    assert shipped_tests <= {"tests/sanity", "tests/unit"}, shipped_tests
    # Nothing secret, nothing that points into the checkout.
    assert "inventories/example/vault-password.txt" not in names
    assert "ansible.cfg" not in names
    # The playbooks users run by FQCN (autokey.ntp.site, ...).
    assert {"playbooks/site.yml", "playbooks/renew.yml", "playbooks/rotate_identity.yml"} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".egg-info"))]


@pytest.mark.slow
def test_installed_collection_works_like_the_checkout(tarball, tmp_path):
    installed = tmp_path / "installed"
    proc = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(installed),
                           str(tarball)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ansible = Ansible(tmp_path / "ansible")
    ansible.env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    doc = ansible.doc("--json", *(f"autokey.ntp.{m}" for m in MODULES))
    assert doc.returncode == 0, doc.stderr
    assert str(installed) in json.dumps(json.loads(doc.stdout))
    keysdir = tmp_path / "keys"
    (out,) = ansible.play([{"autokey.ntp.ntp_key_install": {
        "keysdir": str(keysdir), "content": "# ntpkey_iffpar_G.1\n\n-----BEGIN DSA PRIVATE KEY-----\n"
                                            "-----END DSA PRIVATE KEY-----\n", "validate": False}}])
    assert not out.failed, out.output
    assert (keysdir / "ntpkey_iffpar_G").is_symlink()
