"""The fleet scenario's root file system is built from this machine's own apt source, never a mirror named in the
repository: scripts/fleet-rootfs.sh picks the first Debian source that is not security/updates/backports, from
deb822 .sources files or one-line sources.list entries (APT_ETC points it at a fixture here)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fleet-rootfs.sh"


def print_source(apt_etc: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), "--print-source"], env={"APT_ETC": str(apt_etc), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)


def test_deb822_skips_security_and_takes_uri_suite_keyring(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a-security.sources").write_text(
        "Types: deb\nURIs: http://security.example.invalid/debian-security\nSuites: trixie-security\nComponents: main\n")
    (tmp_path / "sources.list.d" / "b-debian.sources").write_text(
        "# comment\nTypes: deb-src deb\nURIs: http://mirror.example.invalid/debian\nSuites: trixie trixie-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://other.example.invalid/debian\nSuites: sid\n")
    out = print_source(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["http://mirror.example.invalid/debian", "trixie",
                                  "/usr/share/keyrings/debian-archive-keyring.gpg"]


def test_one_line_sources_list_with_options(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb http://sec.example.invalid/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example.invalid/debian bookworm main contrib\n")
    out = print_source(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["http://mirror.example.invalid/debian", "bookworm", "-"]


@pytest.mark.parametrize("content", ["", "deb-src http://mirror.example.invalid/debian bookworm main\n"])
def test_no_usable_source_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "sources.list").write_text(content)
    out = print_source(tmp_path)
    assert out.returncode == 1
    assert f"no Debian source found in {tmp_path}" in out.stderr


def test_no_mirror_host_is_named_in_the_scenario() -> None:
    """A workplace rule: the mirror comes from the machine's apt configuration at run time."""
    for path in [SCRIPT, ROOT / "scripts" / "fleet.py", *sorted((ROOT / "molecule" / "fleet").rglob("*.yml"))]:
        text = path.read_text()
        assert "deb.debian.org" not in text and "http://" not in text.replace("http://%s", ""), path
