"""Keys that others may replace or read are reported, each message naming the path (issue 10, finding 7)."""

from __future__ import annotations

import os

from ntpd_py.keys.permissions import permission_problems


def _keysdir(tmp_path, dir_mode: int, key_mode: int):
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("ntpkey_RSAhost_alice.1", "ntpkey_RSA-MD5cert_alice.1", "ntpkey_iffpar_grp.1"):
        (keys / name).write_text("x")
        os.chmod(keys / name, key_mode)
    os.chmod(keys, dir_mode)
    return keys


def test_private_and_tight_directory_has_no_problem(tmp_path):
    keys = _keysdir(tmp_path, 0o755, 0o600)
    os.chmod(keys / "ntpkey_RSA-MD5cert_alice.1", 0o644)
    assert permission_problems(keys) == []


def test_world_writable_directory_is_named(tmp_path):
    keys = _keysdir(tmp_path, 0o777, 0o600)
    problems = permission_problems(keys)
    assert len(problems) == 1 and str(keys) in problems[0] and "world-writable" in problems[0]


def test_sticky_world_writable_directory_is_still_a_problem(tmp_path):
    keys = _keysdir(tmp_path, 0o1777, 0o600)
    assert any("world-writable" in p for p in permission_problems(keys))


def test_private_key_readable_by_others_is_named_but_public_files_are_not(tmp_path):
    keys = _keysdir(tmp_path, 0o755, 0o644)
    problems = permission_problems(keys)
    assert problems == [f"{keys / 'ntpkey_RSAhost_alice.1'}: private key is readable or writable by others (mode 0644): "
                        f"chmod 600 {keys / 'ntpkey_RSAhost_alice.1'}"]
