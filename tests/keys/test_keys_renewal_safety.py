"""ntpd-py-keygen never loses or replaces an identity by accident (issue 10 finding 6, issue 11 finding 3).

Each test first sets up the situation that used to go wrong, then checks the run refuses, names the culprit and
writes nothing:
- `-q PW` (the monthly renewal "with the same keys") made a new host key when the host-key link dangled or
  looped, or when there was no host key at all;
- a killed run left `.ntpkey_*.tmp` files behind for ever;
- a world-writable keys directory was written to without a word;
- `-e -p serverpw > file` without `-s` exported nothing, exited 0 and made a host key for this machine's name.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ntpd_py.keys.files import clean_stale_temporaries
from ntpd_py.keys.keygen import KeygenError, KeygenOptions, generate

T0 = 1795334681.0


def keygen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.run([sys.executable, "-m", "ntpd_py.keys.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120)


def listing(directory: Path) -> dict[str, str]:
    """Every entry with what it is: file contents' size and mode, or a link's target."""
    out = {}
    for path in sorted(directory.iterdir()):
        out[path.name] = f"-> {os.readlink(path)}" if path.is_symlink() else \
            f"{path.stat().st_size} {stat.S_IMODE(path.stat().st_mode):o} {path.stat().st_mtime_ns}"
    return out


@pytest.fixture
def server(tmp_path: Path) -> Path:
    """A group server alice@grp: host key, certificate, IFF group key."""
    generate(KeygenOptions(host="alice@grp", trusted=True, iff=True, modulus=1024, password="serverpw"), tmp_path, T0)
    return tmp_path


def renew(keysdir: Path, now: float = T0 + 86400) -> None:
    generate(KeygenOptions(host="alice@grp", export_password="serverpw"), keysdir, now)  # `-q serverpw -s alice@grp`


def test_renewal_keeps_the_host_key(server: Path) -> None:
    host_key = os.readlink(server / "ntpkey_host_alice")
    renew(server)
    assert os.readlink(server / "ntpkey_host_alice") == host_key
    assert os.readlink(server / "ntpkey_cert_alice") != "ntpkey_RSA-MD5cert_alice.%d" % (int(T0) + 2208988800)


def test_renewal_with_a_dangling_host_link_is_an_error_naming_it(server: Path) -> None:
    target = server / os.readlink(server / "ntpkey_host_alice")
    target.rename(server / "moved-away")  # the host key file is lost; its link now dangles
    before = listing(server)
    with pytest.raises(KeygenError, match=r"ntpkey_host_alice: broken link \(points at 'ntpkey_RSAhost_alice\.\d+', "
                                          r"which does not exist\)"):
        renew(server)
    assert listing(server) == before  # no new host key, no new certificate


def test_renewal_with_a_looping_host_link_is_an_error_naming_it(server: Path) -> None:
    (server / "ntpkey_host_alice").unlink()
    (server / "ntpkey_host_alice").symlink_to("ntpkey_host_alice")
    before = listing(server)
    with pytest.raises(KeygenError, match=r"ntpkey_host_alice: broken link \(loops\)"):
        renew(server)
    assert listing(server) == before


def test_renewal_without_a_host_key_never_makes_one(tmp_path: Path) -> None:
    proc = keygen(tmp_path, "-q", "serverpw", "-s", "alice@grp")
    assert proc.returncode == 1 and "no host key to renew the certificate with" in proc.stderr
    assert "ntpkey_host_alice" in proc.stderr and list(tmp_path.iterdir()) == []


def test_a_broken_link_stops_an_ordinary_run_too(server: Path) -> None:
    (server / os.readlink(server / "ntpkey_host_alice")).unlink()
    before = listing(server)
    proc = keygen(server, "-p", "serverpw", "-s", "alice@grp")
    assert proc.returncode == 1 and "ntpkey_host_alice: broken link" in proc.stderr
    assert listing(server) == before


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_a_killed_run_are_cleaned_on_the_next_run(server: Path) -> None:
    dead = _dead_pid()
    leftovers = [server / f".ntpkey_RSAhost_alice.4004323481.{dead}.k3j2h1g0.tmp",
                 server / f".ntpkey_cert_alice.{dead}.0.lnk"]
    leftovers[0].write_bytes(b"half a key")
    leftovers[1].symlink_to("ntpkey_RSA-MD5cert_alice.4004323481")
    running = server / f".ntpkey_IFFkey_grp.4004323481.{os.getppid()}.a1b2c3d4.tmp"  # a run still writing
    running.write_bytes(b"in progress")
    proc = keygen(server, "-q", "serverpw", "-s", "alice@grp")
    assert proc.returncode == 0, proc.stderr
    assert not any(path.exists() or path.is_symlink() for path in leftovers)
    assert all(f"removed {path}" in proc.stderr for path in leftovers)
    assert running.exists()


def test_cleaning_keeps_other_files(tmp_path: Path) -> None:
    keep = [tmp_path / ".bashrc", tmp_path / "ntpkey_host_x", tmp_path / ".ntpkey_x.tmp.notours"]
    for path in keep:
        path.write_text("x")
    assert clean_stale_temporaries(tmp_path, T0) == []
    assert all(path.exists() for path in keep)


def test_world_writable_keys_directory_is_refused(tmp_path: Path) -> None:
    keysdir = tmp_path / "keys"
    keysdir.mkdir()
    keysdir.chmod(0o1777)  # like /tmp: anyone could swap a key or a link in
    proc = keygen(keysdir, "-H", "-p", "clientpw", "-s", "bob@grp", "-m", "1024")
    assert proc.returncode == 1
    assert f"{keysdir}: keys directory is world-writable (mode 1777)" in proc.stderr and "chmod o-w" in proc.stderr
    assert list(keysdir.iterdir()) == []


def test_private_key_readable_by_others_is_named(server: Path) -> None:
    host_key = server / os.readlink(server / "ntpkey_host_alice")
    host_key.chmod(0o644)
    proc = keygen(server, "-q", "serverpw", "-s", "alice@grp")
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {host_key.absolute()}: private key is readable or writable by others (mode 0644)" in proc.stderr


def test_export_without_the_group_takes_the_one_group_there(server: Path) -> None:
    """The old README step 2, `-e -p serverpw > ntpkey_iffpar_alice`, run without -s: it looked for this
    machine's name, exported nothing, exited 0 and wrote a host key and certificate for this machine.
    Now it exports the group whose keys the directory holds, and writes nothing."""
    before = listing(server)
    proc = keygen(server, "-e", "-p", "serverpw")
    assert proc.returncode == 0, proc.stderr
    assert "group 'grp' taken from the group keys in" in proc.stderr
    assert proc.stdout.startswith("# ntpkey_iffpar_grp.") and "BEGIN DSA PRIVATE KEY" in proc.stdout
    assert listing(server) == before


def test_export_without_a_group_to_take_is_an_error_and_makes_no_host_key(server: Path) -> None:
    other = server.parent / f"{server.name}-two-groups"  # a directory with two groups' keys: no default
    other.mkdir()
    for path in server.iterdir():
        if not path.is_symlink():
            (other / path.name).write_bytes(path.read_bytes())
    generate(KeygenOptions(host="carol@other", trusted=True, iff=True, modulus=1024, password="serverpw"), other,
             T0 + 5)
    for directory in (other, server.parent / f"{server.name}-empty"):
        directory.mkdir(exist_ok=True)
        before = listing(directory)
        proc = keygen(directory, "-e", "-p", "serverpw")
        assert proc.returncode == 1 and proc.stdout == ""
        assert f"no identity keys of group {socket.gethostname()!r}" in proc.stderr and "-s HOST@GROUP" in proc.stderr
        assert listing(directory) == before


def test_export_writes_no_key_or_certificate(server: Path) -> None:
    before = listing(server)
    proc = keygen(server, "-e", "-p", "serverpw", "-s", "alice@grp")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# ntpkey_iffpar_grp.") and "BEGIN DSA PRIVATE KEY" in proc.stdout
    assert listing(server) == before
