"""autokey.ntp.ntp_keygen run by Ansible: files, links, modes, idempotence, check and diff modes, renewal, errors."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from plugins_harness import ansible  # noqa: F401  (the shared fixture)

PASSWORD = "Gr1-Server-Pw"  # unusual enough that Ansible's no_log masking cannot hit ordinary words
AUTHORITY = {"host": "alice", "group": "GR1", "trusted": True, "identity": ["iff"], "password": PASSWORD,
             "modulus": 1024}


@pytest.fixture(scope="module")
def authority(ansible, tmp_path_factory):
    """A trusted authority's keys directory, made by the module once: (keysdir, first result, second result)."""
    keysdir = tmp_path_factory.mktemp("authority") / "keys"
    args = dict(AUTHORITY, keysdir=str(keysdir))
    first, second = ansible.play([{"autokey.ntp.ntp_keygen": args, "diff": True}, {"autokey.ntp.ntp_keygen": args}])
    return keysdir, first, second


def test_keygen_writes_the_key_set_with_ntp_keygen_names_and_links(authority):
    keysdir, first, _ = authority
    assert not first.failed, first.output
    assert first.changed
    result = first.result
    assert result["actions"] == {"host": "create", "cert": "create", "iff": "create"}
    stamp = result["filestamp"]
    assert result["links"] == {
        "ntpkey_host_alice": f"ntpkey_RSAhost_alice.{stamp}",
        "ntpkey_cert_alice": f"ntpkey_RSA-MD5cert_alice.{stamp}",
        "ntpkey_iffkey_GR1": f"ntpkey_IFFkey_GR1.{stamp}",
    }
    for link, target in result["links"].items():
        assert os.readlink(keysdir / link) == target
        assert (keysdir / target).read_text().startswith(f"# {target}\n")
    assert result["certificate_subject"] == "alice@GR1"
    assert result["certificate_issuer"] == "alice@GR1"
    assert result["certificate_not_after"].endswith("Z")
    assert stat.S_IMODE((keysdir / f"ntpkey_RSAhost_alice.{stamp}").stat().st_mode) == 0o600
    assert stat.S_IMODE((keysdir / f"ntpkey_RSA-MD5cert_alice.{stamp}").stat().st_mode) == 0o644
    assert sorted(result["files"]) == sorted(str(keysdir / t) for t in result["links"].values())


def test_keygen_diff_shows_the_new_links(authority):
    _, first, _ = authority
    assert first.result["diff"]["before"] == {}
    assert first.result["diff"]["after"] == first.result["links"]


def test_keygen_second_run_changes_nothing(authority):
    keysdir, first, second = authority
    assert not second.failed, second.output
    assert second.changed is False
    assert set(second.result["actions"].values()) == {"keep"}
    assert second.result["links"] == first.result["links"]
    assert second.result["certificate_not_after"] == first.result["certificate_not_after"]


def test_keygen_check_mode_predicts_and_writes_nothing(ansible, tmp_path):
    keysdir = tmp_path / "keys"
    out = ansible.module("ntp_keygen", dict(AUTHORITY, keysdir=str(keysdir)), check=True, diff=True)
    assert not out.failed, out.output
    assert out.changed
    assert out.result["actions"]["host"] == "create"
    assert "(new file)" in out.diff_text
    assert not keysdir.exists()


def test_keygen_renews_an_expiring_certificate_with_the_existing_keys(ansible, authority, tmp_path):
    source, first, _ = authority
    keysdir = tmp_path / "keys"
    shutil.copytree(source, keysdir, symlinks=True)
    host_key_before = os.readlink(keysdir / "ntpkey_host_alice")
    args = dict(AUTHORITY, keysdir=str(keysdir), renew_before_days=400)

    predicted, renewed = ansible.play([{"autokey.ntp.ntp_keygen": args, "check_mode": True},
                                       {"autokey.ntp.ntp_keygen": args}])
    assert predicted.changed and predicted.result["actions"] == {"host": "keep", "cert": "renew", "iff": "keep"}
    assert "renew_before_days=400" in predicted.result["reasons"]["cert"]

    assert not renewed.failed, renewed.output
    assert renewed.changed
    assert os.readlink(keysdir / "ntpkey_host_alice") == host_key_before
    assert renewed.result["links"]["ntpkey_iffkey_GR1"] == first.result["links"]["ntpkey_iffkey_GR1"]
    assert renewed.result["certificate_not_after"] >= first.result["certificate_not_after"]


@pytest.mark.slow
def test_keygen_regenerate_fail_and_never_leave_a_mismatch_alone(ansible, authority, tmp_path):
    source, first, _ = authority
    keysdir = tmp_path / "keys"
    shutil.copytree(source, keysdir, symlinks=True)
    args = dict(AUTHORITY, keysdir=str(keysdir), scheme="RSA-SHA256")

    failed, kept, replaced = ansible.play([{"autokey.ntp.ntp_keygen": dict(args, regenerate=mode)}
                                           for mode in ("fail", "never", "expiring")])
    assert failed.failed
    assert "ntpkey_RSA-MD5cert_alice" in failed.msg and "RSA-SHA256" in failed.msg and "regenerate=fail" in failed.msg

    assert not kept.failed and not kept.changed
    assert kept.result["links"] == first.result["links"]

    assert replaced.changed and replaced.result["actions"]["cert"] == "renew"
    assert "RSA-SHA256cert" in replaced.result["links"]["ntpkey_cert_alice"]


def test_keygen_wrong_password_names_the_file_and_replaces_nothing(ansible, authority, tmp_path):
    source, first, _ = authority
    keysdir = tmp_path / "keys"
    shutil.copytree(source, keysdir, symlinks=True)
    before = sorted(os.listdir(keysdir))
    out = ansible.module("ntp_keygen", dict(AUTHORITY, keysdir=str(keysdir), password="Not-The-Pw-42",
                                            regenerate="always"))
    assert out.failed
    assert "ntpkey_host_alice" in out.msg and "password" in out.msg
    assert sorted(os.listdir(keysdir)) == before


def test_keygen_unknown_scheme_is_refused_with_the_choices(ansible, tmp_path):
    out = ansible.module("ntp_keygen", dict(AUTHORITY, keysdir=str(tmp_path / "keys"), scheme="RSA-MD4"))
    assert out.failed
    assert "scheme" in out.msg and "RSA-MD4" in out.msg and "RSA-SHA256" in out.msg
    assert not (tmp_path / "keys").exists()


def test_keygen_symmetric_keys_and_file_arguments(ansible, tmp_path):
    keysdir = tmp_path / "keys"
    args = {"keysdir": str(keysdir), "host": "bob", "password": "Client-Pw-7", "modulus": 1024,
            "symmetric_keys": True, "mode": "0640", "file_group": "root"}
    out, again = ansible.play([{"autokey.ntp.ntp_keygen": args}, {"autokey.ntp.ntp_keygen": args}])
    assert not out.failed, out.output
    assert out.result["links"]["ntp.keys"].startswith("ntpkey_MD5key_bob.")
    assert " MD5 " in (keysdir / "ntp.keys").read_text()
    for path in out.result["files"]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert not again.changed, again.result


def test_keygen_without_ntpd_py_says_which_role_to_run(ansible, tmp_path):
    bare = shutil.which("python3", path="/usr/bin:/bin")
    if bare is None:
        pytest.skip("no system python3 without ntpd_py")
    out = ansible.module("ntp_keygen", {"keysdir": str(tmp_path / "keys")}, python=bare)
    if not out.failed and "ntpd_py" not in out.msg:
        pytest.skip(f"{bare} has ntpd_py installed")
    assert out.failed
    assert "ntpd_py is not installed on this host" in out.msg
    assert "autokey.ntp.ntpd_py role" in out.msg and bare.split("/")[-1] in out.msg


def test_keygen_adopts_a_reference_ntp_keygen_key_set(ansible, vectors, tmp_path):
    """alice's keys from stock ntp-keygen 4.2.8p15 (512-bit host key): kept as they are when the options match."""
    keysdir = tmp_path / "keys"
    keysdir.mkdir()
    source = vectors / "iff" / "alice" / "keys"
    for path in source.iterdir():
        (keysdir / path.name).write_bytes(path.read_bytes())
    for line in (vectors / "iff" / "links.txt").read_text().splitlines():
        link, _, target = line.partition(" -> ")
        if link.startswith("alice/keys/"):
            (keysdir / link.split("/")[-1]).symlink_to(target.strip())
    args = {"keysdir": str(keysdir), "host": "alice", "trusted": True, "identity": ["iff"], "password": "serverpw"}
    matching, stronger = ansible.play([{"autokey.ntp.ntp_keygen": dict(args, modulus=512), "check_mode": True},
                                       {"autokey.ntp.ntp_keygen": args, "check_mode": True}])
    assert not matching.failed, matching.output
    assert matching.changed is False and set(matching.result["actions"].values()) == {"keep"}
    assert matching.result["certificate_subject"] == "alice" and matching.result["filestamp"] == 4004323481
    assert stronger.changed and stronger.result["actions"] == {"host": "replace", "cert": "renew", "iff": "keep"}
    assert "512 bits" in stronger.result["reasons"]["host"]


def test_keygen_makes_and_keeps_the_keys_directory_mode(ansible, tmp_path):
    """keysdir_mode: the roles' keys directory (0700) comes from the key generation itself, and is put back."""
    keysdir = tmp_path / "deep" / "keys"
    args = {"keysdir": str(keysdir), "keysdir_mode": "0700", "host": "carol", "password": PASSWORD, "modulus": 1024}
    first, again = ansible.play([{"autokey.ntp.ntp_keygen": args}, {"autokey.ntp.ntp_keygen": args}])
    assert first.changed and not first.failed, first.output
    assert stat.S_IMODE(keysdir.stat().st_mode) == 0o700
    assert not again.changed, again.output
    keysdir.chmod(0o755)
    checked, fixed, bad = ansible.play([{"autokey.ntp.ntp_keygen": args, "check_mode": True, "diff": True},
                                        {"autokey.ntp.ntp_keygen": args},
                                        {"autokey.ntp.ntp_keygen": dict(args, keysdir_mode="rwx")}])
    assert checked.changed and checked.result["diff"]["after"]["(keysdir mode)"] == "0700", checked.output
    assert fixed.changed and stat.S_IMODE(keysdir.stat().st_mode) == 0o700
    assert bad.failed and "keysdir_mode must be an octal string" in bad.msg
