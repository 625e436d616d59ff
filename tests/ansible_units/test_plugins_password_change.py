"""The password-change path of ntp_keygen: previous_password re-encrypts the same keys, never new ones.

A host key and a group key (IFF) are made with one password; then the module runs with a new `password` and the
old one as `previous_password`. The keys must be the same (same files, same public numbers, same certificate),
must open with the new password only, and a second run must change nothing. Without previous_password a new
password fails, naming the file, and writes nothing.
"""

from __future__ import annotations

import os

from plugins_harness import ansible  # noqa: F401  (the shared fixture)

from ntpd_py.keys import files as key_files
from ntpd_py.keys import store as key_store

OLD = "Old-Gr1-Pw-7"
NEW = "New-Gr1-Pw-9"


def snapshot(keysdir):
    return {name: (keysdir / name).read_bytes() for name in sorted(os.listdir(keysdir))}


def test_previous_password_reencrypts_the_same_keys(ansible, tmp_path):
    keysdir = tmp_path / "keys"
    base = {"keysdir": str(keysdir), "host": "alice", "group": "GR1", "trusted": True, "identity": ["iff"],
            "modulus": 1024}
    (made,) = ansible.play([{"autokey.ntp.ntp_keygen": dict(base, password=OLD)}])
    assert not made.failed, made.output
    old_store = key_store.KeyStore(keysdir, host="alice", password=OLD, group="GR1")
    host_numbers = old_store.host_key().value.private_numbers()
    iff_b = old_store.server_identity("iff").value.b
    cert_before = (keysdir / "ntpkey_cert_alice").read_bytes()
    files_before = snapshot(keysdir)

    wrong, check = ansible.play([
        {"autokey.ntp.ntp_keygen": dict(base, password=NEW)},
        {"autokey.ntp.ntp_keygen": dict(base, password=NEW, previous_password=OLD), "check_mode": True,
         "diff": True},
    ])

    # A new password without previous_password: a clear failure naming the file, nothing written.
    assert wrong.failed and "ntpkey_" in wrong.msg and "check password" in wrong.msg, wrong.output
    # Check mode predicts the re-encryption and writes nothing.
    assert not check.failed, check.output
    assert check.changed and check.result["reencrypted"], check.output
    assert set(check.result["actions"].values()) == {"keep"}, check.output
    assert snapshot(keysdir) == files_before

    change, again = ansible.play([
        {"autokey.ntp.ntp_keygen": dict(base, password=NEW, previous_password=OLD), "diff": True},
        {"autokey.ntp.ntp_keygen": dict(base, password=NEW, previous_password=OLD)},
    ])
    assert not change.failed, change.output
    assert change.changed
    assert sorted(change.result["reencrypted"]) == sorted(
        os.path.basename(os.path.realpath(keysdir / link)) for link in ("ntpkey_host_alice", "ntpkey_iffkey_GR1"))
    assert set(change.result["actions"].values()) == {"keep"}, "a password change must not make new keys"
    assert OLD not in str(change.result) and NEW not in str(change.result)

    new_store = key_store.KeyStore(keysdir, host="alice", password=NEW, group="GR1")
    assert new_store.host_key().value.private_numbers() == host_numbers
    assert new_store.server_identity("iff").value.b == iff_b
    assert (keysdir / "ntpkey_cert_alice").read_bytes() == cert_before
    try:
        old_store.host_key()
    except key_files.WrongPassword:
        pass
    else:
        raise AssertionError("the host key still opens with the previous password")

    assert not again.failed, again.output
    assert again.changed is False and "reencrypted" not in again.result


def test_previous_password_that_is_wrong_too_changes_nothing(ansible, tmp_path):
    keysdir = tmp_path / "keys"
    base = {"keysdir": str(keysdir), "host": "bob", "modulus": 1024}
    made, both_wrong = ansible.play([
        {"autokey.ntp.ntp_keygen": dict(base, password=OLD)},
        {"autokey.ntp.ntp_keygen": dict(base, password=NEW, previous_password="Not-It-3")},
    ])
    assert not made.failed, made.output
    before = snapshot(keysdir)
    assert both_wrong.failed
    assert "ntpkey_RSAhost_bob" in both_wrong.msg and "previous_password" in both_wrong.msg, both_wrong.output
    assert snapshot(keysdir) == before
