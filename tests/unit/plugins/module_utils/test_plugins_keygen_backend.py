"""The keygen backend's re-encryption (the password-change path), on real key files (ansible-test units, pytest).

A host key and IFF group key made by ntpd_py's key generator are re-encrypted from one password to another:
the same key material must come back under the new password only, header lines kept; a file that opens with
neither password is refused by name and left byte for byte as it was.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
if _ROOT not in sys.path and os.path.isdir(os.path.join(_ROOT, "ntpd_py")):
    sys.path.append(_ROOT)  # ansible-test: ntpd_py travels inside the collection tree
try:
    from ansible_collections.autokey.ntp.plugins.module_utils.module_backends import keygen as backend
except ImportError:  # the main pytest run: make this checkout importable as autokey.ntp
    _TOP = os.path.join(_ROOT, ".collections")  # scripts/bootstrap.sh links the checkout there (ansible.cfg)
    if not os.path.lexists(os.path.join(_TOP, "ansible_collections", "autokey", "ntp")):
        os.makedirs(os.path.join(_TOP, "ansible_collections", "autokey"), exist_ok=True)
        os.symlink("../../..", os.path.join(_TOP, "ansible_collections", "autokey", "ntp"))
    sys.path.insert(0, _TOP)
    from ansible_collections.autokey.ntp.plugins.module_utils.module_backends import keygen as backend

from ntpd_py.keys import files as key_files
from ntpd_py.keys import keygen, store

OLD, NEW = "old-pw-1", "new-pw-2"


@pytest.fixture(scope="module")
def keysdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys")
    keygen.generate(keygen.KeygenOptions(host_key=True, host="alice", group="GR1", trusted=True, iff=True,
                                         password=OLD, modulus=1024), path, time.time())
    return path


@pytest.mark.parametrize("link", ["ntpkey_host_alice", "ntpkey_iffkey_GR1"])
def test_reencrypted_keeps_the_keys_and_changes_the_password(keysdir, link):
    path = os.path.realpath(os.path.join(str(keysdir), link))
    before = open(path, "rb").read()
    data = backend.reencrypted(path, OLD, NEW)
    assert data != before
    text = key_files.parse_key_text(data.decode("ascii"), path)
    old_text = key_files.read_key_file(path)
    assert text.comments == old_text.comments  # name and date header kept
    for block, old_block in zip(text.blocks, old_text.blocks):
        assert backend.ntpd.key_pem.decrypt_block(block, NEW, path) == backend.ntpd.key_pem.decrypt_block(
            old_block, OLD, path)
        with pytest.raises(key_files.WrongPassword):
            backend.ntpd.key_pem.decrypt_block(block, OLD, path)
    assert open(path, "rb").read() == before  # reencrypted() only computes; the backend writes


def test_a_file_that_opens_with_neither_password_is_named(keysdir):
    params = {"keysdir": str(keysdir), "host": "alice", "group": "GR1", "password": NEW,
              "previous_password": "neither-3", "identity": ["iff"], "symmetric_keys": False,
              "regenerate": "expiring", "renew_before_days": 30, "modulus": 1024, "identity_modulus": 512,
              "scheme": "RSA-MD5", "trusted": True, "private_certificate": False}
    with pytest.raises(backend.WrongPassword, match="ntpkey_host_alice"):
        backend.KeygenBackend(params, time.time()).needs_reencryption()
    params["previous_password"] = OLD
    found = backend.KeygenBackend(params, time.time()).needs_reencryption()
    assert sorted(os.path.basename(p) for p in found) == sorted(
        os.path.basename(os.path.realpath(os.path.join(str(keysdir), link)))
        for link in ("ntpkey_host_alice", "ntpkey_iffkey_GR1"))
    assert store.KeyStore(keysdir, host="alice", password=OLD, group="GR1").host_key()  # nothing written


@pytest.mark.parametrize("scheme", ["iff", "gq"])
def test_identity_parameters_of_another_size_are_a_mismatch(tmp_path, scheme):
    """identity_modulus is a policy: group parameters of another size are reported (and replaced on regenerate)."""
    keygen.generate(keygen.KeygenOptions(host_key=True, host="alice", group="GR1", trusted=True, password=OLD,
                                         modulus=1024, identity_bits=256, **{scheme: True}), tmp_path, time.time())
    params = {"keysdir": str(tmp_path), "host": "alice", "group": "GR1", "password": OLD,
              "previous_password": None, "identity": [scheme], "symmetric_keys": False, "regenerate": "expiring",
              "renew_before_days": 30, "modulus": 1024, "identity_modulus": 256, "scheme": "RSA-MD5",
              "trusted": True, "private_certificate": False}
    assert backend.KeysDirectory(params, time.time()).inspect(scheme).state == backend.plan_rules.OK
    params["identity_modulus"] = 384
    finding = backend.KeysDirectory(params, time.time()).inspect(scheme)
    assert finding.state == backend.plan_rules.MISMATCH and "have 256 bits, identity_modulus asks for 384" in finding.reason
