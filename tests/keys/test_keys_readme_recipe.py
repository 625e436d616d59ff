"""The README's "Keys by hand" recipe, run verbatim, works with the reference ntpd 4.2.8p15 (issue 11, finding 3).

The shell block is taken from README.md as it stands and run with bash (`ntpd-py-keygen` from this checkout's
virtual environment first on PATH); the two-column ntp.conf block gives each host's lines. Then a reference
ntpd serves with alice's directory and ntpd-py is bob, each in its own network namespace: bob reaches full IFF
flags (0x87f21: no leap file) with alice@grp. The old recipe's subjects (`alice@alice`, `bob`) never got there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
from refntpd import ROOT, Lab, require_ref  # noqa: E402

from ntpd_py.keys.store import load_certificate_file  # noqa: E402

README = ROOT / "README.md"
FULL_IFF = 0x87F21


def recipe() -> tuple[str, str]:
    """(the shell block, the ntp.conf block) of README.md's "Keys by hand" section."""
    section = README.read_text().split("## Keys by hand", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    shell = next(text for lang, text in blocks if lang == "sh")
    conf = next(text for lang, text in blocks if lang == "" and "ntp.conf" in text)
    return shell, conf


def conf_columns(conf: str) -> tuple[str, str]:
    """alice's and bob's lines of the README's side-by-side ntp.conf block (comments dropped)."""
    lines = conf.splitlines()
    split = lines[0].index("# bob")
    left = [line[:split].strip() for line in lines[1:]]
    right = [line[split:].strip() for line in lines[1:]]
    return "\n".join(x for x in left if x), "\n".join(x for x in right if x)


def run_recipe(workdir: Path) -> subprocess.CompletedProcess[str]:
    shell, _ = recipe()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    return subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=workdir, capture_output=True, text=True,
                          env=env, timeout=300)


def test_recipe_runs_and_gives_host_at_group_subjects(tmp_path: Path) -> None:
    result = run_recipe(tmp_path)
    assert result.returncode == 0, result.stderr
    alice = load_certificate_file(tmp_path / "alice" / "ntpkey_cert_alice").value
    bob = load_certificate_file(tmp_path / "bob" / "ntpkey_cert_bob").value
    assert (alice.subject, alice.issuer, alice.trusted) == ("alice@grp", "alice@grp", True)
    assert bob.subject == "bob@grp"
    params = (tmp_path / "bob" / "ntpkey_iffpar_grp").read_text()
    assert params.startswith("# ntpkey_iffpar_grp.") and "BEGIN DSA PRIVATE KEY" in params


def test_client_default_takes_the_installed_group(tmp_path: Path) -> None:
    """`-H -s bob` in a directory holding the group's client parameters makes bob@grp (with a note)."""
    assert run_recipe(tmp_path).returncode == 0
    carol = tmp_path / "carol"
    carol.mkdir()
    (carol / "ntpkey_iffpar_grp").write_bytes((tmp_path / "bob" / "ntpkey_iffpar_grp").read_bytes())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "ntpd_py.keys.cli", "-H", "-p", "carolpw", "-s", "carol",
                             "-m", "1024"], cwd=carol, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "group 'grp' taken from the client parameters" in result.stderr
    assert load_certificate_file(carol / "ntpkey_cert_carol").value.subject == "carol@grp"


def daemon_dir(keys: Path, workdir: Path) -> Path:
    """A daemon directory for tests/refntpd.py (its keysdir is WORKDIR/keys) holding a copy of `keys`."""
    shutil.copytree(keys, workdir / "keys", symlinks=True)
    return workdir


@pytest.mark.interop
def test_recipe_against_the_reference_server(tmp_path: Path) -> None:
    require_ref()
    assert run_recipe(tmp_path).returncode == 0
    _, conf = recipe()
    alice_conf, bob_conf = conf_columns(conf)
    with Lab(2) as lab:
        server, client = lab.hosts
        alice_conf = alice_conf.replace("keysdir /etc/ntp/keys/", "")  # the launcher writes each host's keysdir
        bob_conf = bob_conf.replace("keysdir /etc/ntp/keys/", "").replace("server alice ", f"server {server.addr} ")
        alice = server.start_ref(daemon_dir(tmp_path / "alice", tmp_path / "run-alice"),
                                 f"tos orphan 5\ntos orphanwait 1\nrestrict default\n{alice_conf}\n")
        bob = client.start_py(daemon_dir(tmp_path / "bob", tmp_path / "run-bob"), f"restrict default\n{bob_conf}\n")
        wait = bob.wait_flags(server.addr, FULL_IFF, 90, selected=False)
        assert wait.ok, f"{wait}\n{bob.ntpq('as', 'rv &1')}\n{alice.log()}\n{bob.log()}"
