"""`ntpd-py-keygen` as a real program, and OpenSSL (the `openssl` CLI) as an independent reader of its files."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ntpd_py.keys.files import parse_key_text
from ntpd_py.keys.store import KeyStore

_SCRIPT = Path(sys.executable).parent / "ntpd-py-keygen"  # the installed console script, when there is one
KEYGEN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ntpd_py.keys.cli"]


def keygen(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([*KEYGEN, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("openssl")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl CLI required in CI")
        pytest.skip("openssl CLI not installed")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def ta_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ta")
    proc = keygen(directory, "-s", "alice", "-T", "-I", "-G", "-V", "5", "-m", "1024", "-p", "serverpw", "--now", "1795334681")
    assert "ntpkey_host_alice->ntpkey_RSAhost_alice.4004323481" in proc.stderr
    assert proc.stdout == ""
    return directory


def test_trusted_authority_run(ta_dir):
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in ta_dir.iterdir() if not p.is_symlink()}
    assert modes == {
        "ntpkey_RSAhost_alice.4004323481": 0o600,
        "ntpkey_RSA-MD5cert_alice.4004323481": 0o644,
        "ntpkey_IFFkey_alice.4004323481": 0o600,
        "ntpkey_GQkey_alice.4004323481": 0o600,
        "ntpkey_MVta_alice.4004323481": 0o600,
        "ntpkey_mvkey_alice.4004323481": 0o600,
    }
    links = {p.name: os.readlink(p) for p in ta_dir.iterdir() if p.is_symlink()}
    assert links["ntpkey_cert_alice"] == "ntpkey_RSA-MD5cert_alice.4004323481"


def test_export_to_stdout_as_the_guides_redirect_it(ta_dir, tmp_path):
    proc = keygen(ta_dir, "-s", "alice", "-e", "-p", "serverpw", "--now", "1795334690")
    assert "Writing iffpar ntpkey_iffpar_alice.4004323481 to stdout" in proc.stderr
    exported = parse_key_text(proc.stdout, "stdout")
    assert [b.label for b in exported.blocks] == ["RSA PRIVATE KEY", "DSA PRIVATE KEY", "DSA PRIVATE KEY"]
    # a client installs the iffpar part under its file name
    text = proc.stdout[proc.stdout.index("# ntpkey_iffpar_alice") : proc.stdout.index("# ntpkey_mvpar_alice")]
    (tmp_path / "ntpkey_iffpar_alice.4004323481").write_text(text)
    os.symlink("ntpkey_iffpar_alice.4004323481", tmp_path / "ntpkey_iffpar_alice")
    client = KeyStore(tmp_path, "bob", "clientpw").client_identity("iff", "alice").value
    assert client.v == KeyStore(ta_dir, "alice", "serverpw").server_identity("iff").value.v


def test_guide_literal_export_prints_a_note(ta_dir):
    proc = keygen(ta_dir, "-s", "alice", "-e", "-q", "serverpw", "-p", "clientpw", "--now", "1795334700")
    assert "older guides" in proc.stderr and "-q" in proc.stderr
    assert "BEGIN DSA PRIVATE KEY" in proc.stdout


def test_errors_exit_nonzero_and_write_nothing(ta_dir):
    before = sorted(p.name for p in ta_dir.iterdir())
    proc = keygen(ta_dir, "-s", "alice", "-p", "wrong", "--now", "1795334710", check=False)
    assert proc.returncode == 1
    assert "ntpkey_host_alice" in proc.stderr and "wrong password" in proc.stderr and "nothing was written" in proc.stderr
    assert sorted(p.name for p in ta_dir.iterdir()) == before
    assert keygen(ta_dir, "-b", "100", check=False).returncode == 2


def test_client_run_in_keysdir(tmp_path):
    keygen(tmp_path, "-s", "bob", "-H", "-m", "1024", "-p", "clientpw", "--keysdir", str(tmp_path / "."))
    assert (tmp_path / "ntpkey_host_bob").exists() and (tmp_path / "ntpkey_cert_bob").exists()


def test_openssl_reads_host_key_and_certificate(ta_dir, tmp_path):
    key = openssl("pkey", "-in", str(ta_dir / "ntpkey_host_alice"), "-passin", "pass:serverpw", "-noout", "-text")
    assert key.returncode == 0, key.stderr
    assert "Private-Key: (1024 bit" in key.stdout
    wrong = openssl("pkey", "-in", str(ta_dir / "ntpkey_host_alice"), "-passin", "pass:nope", "-noout")
    assert wrong.returncode != 0
    cert = openssl("x509", "-in", str(ta_dir / "ntpkey_cert_alice"), "-noout", "-text")
    assert cert.returncode == 0, cert.stderr
    for needle in (
        "Signature Algorithm: md5WithRSAEncryption",
        "Issuer: CN = alice",
        "Subject: CN = alice",
        "Serial Number: 400432",  # NTP seconds of the latest run in this directory
        "CA:TRUE",
        "Digital Signature, Certificate Sign",
        "Trust Root",
        "X509v3 Subject Key Identifier",
    ):
        assert needle in cert.stdout, needle
    # the DES-EDE3-CBC PBES2 parameters ntpd's OpenSSL expects
    text = (ta_dir / "ntpkey_host_alice").read_text()
    (tmp_path / "bare.pem").write_text(text[text.index("-----BEGIN") :])  # asn1parse wants no header lines
    parse = openssl("asn1parse", "-in", str(tmp_path / "bare.pem"))
    assert "des-ede3-cbc" in parse.stdout and "PBES2" in parse.stdout and "hmacWithSHA256" in parse.stdout


def test_openssl_reads_identity_files_with_every_value(ta_dir, tmp_path):
    for link, kind in (("ntpkey_iffkey_alice", "dsa"), ("ntpkey_gqkey_alice", "rsa"), ("ntpkey_mvkey_alice", "dsa")):
        proc = openssl("pkey", "-in", str(ta_dir / link), "-passin", "pass:serverpw", "-noout", "-text")
        assert proc.returncode == 0, (link, proc.stderr)
        assert ("pub:" in proc.stdout) if kind == "dsa" else ("prime1:" in proc.stdout)
    keygen(ta_dir, "-s", "alice", "-e", "-p", "serverpw", "--export-dir", str(tmp_path), "--now", "1795334720")
    for name in ("ntpkey_iffpar_alice", "ntpkey_gqpar_alice", "ntpkey_mvpar_alice"):
        proc = openssl("pkey", "-in", str(tmp_path / name), "-noout", "-text")
        assert proc.returncode == 0, (name, proc.stderr)
