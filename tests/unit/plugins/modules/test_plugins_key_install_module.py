"""ntp_key_install's main() in process, on real files (run by `ansible-test units` and by the main pytest)."""

from __future__ import annotations

import json
import os
import sys

import pytest

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
if _ROOT not in sys.path and os.path.isdir(os.path.join(_ROOT, "ntpd_py")):
    sys.path.append(_ROOT)  # ansible-test: ntpd_py travels inside the collection tree; the module imports it
try:
    from ansible_collections.autokey.ntp.plugins.modules import ntp_key_install
except ImportError:  # the main pytest run: make this checkout importable as autokey.ntp
    _TOP = os.path.join(_ROOT, ".collections")  # scripts/bootstrap.sh links the checkout there (ansible.cfg)
    if not os.path.lexists(os.path.join(_TOP, "ansible_collections", "autokey", "ntp")):
        os.makedirs(os.path.join(_TOP, "ansible_collections", "autokey"), exist_ok=True)
        os.symlink("../../..", os.path.join(_TOP, "ansible_collections", "autokey", "ntp"))
    sys.path.insert(0, _TOP)
    from ansible_collections.autokey.ntp.plugins.modules import ntp_key_install

from ansible.module_utils import basic

# The shape of an export, not real values (validate=false: this tests the installing, ntpd_py checks values).
PARAMS = "# ntpkey_iffpar_GR1.4004323481\n# Sun Nov 22 08:04:41 2026\n\n-----BEGIN DSA PRIVATE KEY-----\nAAAA\n" \
         "-----END DSA PRIVATE KEY-----\n"


def run(capsys, args: dict) -> dict:
    """main() with args, as Ansible would call it; returns the result it printed."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core before 2.19
        patch_module_args = None
    if patch_module_args is not None:
        context = patch_module_args(args)
    else:
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        context = _nothing()
    with context, pytest.raises(SystemExit):
        ntp_key_install.main()
    return json.loads(capsys.readouterr().out)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_installs_under_the_header_name_with_its_link_then_changes_nothing(capsys, tmp_path):
    keysdir = tmp_path / "keys"
    first = run(capsys, {"keysdir": str(keysdir), "content": PARAMS, "validate": False})
    assert first["changed"] and first["filename"] == "ntpkey_iffpar_GR1.4004323481"
    assert first["filestamp"] == 4004323481
    assert os.readlink(keysdir / "ntpkey_iffpar_GR1") == "ntpkey_iffpar_GR1.4004323481"
    assert (keysdir / "ntpkey_iffpar_GR1.4004323481").read_text() == PARAMS
    assert PARAMS not in json.dumps(first)  # content is no_log
    second = run(capsys, {"keysdir": str(keysdir), "content": PARAMS, "validate": False})
    assert second["changed"] is False


def test_check_mode_writes_nothing(capsys, tmp_path):
    keysdir = tmp_path / "keys"
    result = run(capsys, {"keysdir": str(keysdir), "content": PARAMS, "validate": False, "_ansible_check_mode": True})
    assert result["changed"] and not keysdir.exists()


def test_a_newer_generation_moves_the_link_and_keeps_the_old_file(capsys, tmp_path):
    keysdir = tmp_path / "keys"
    run(capsys, {"keysdir": str(keysdir), "content": PARAMS, "validate": False})
    newer = PARAMS.replace("4004323481", "4004400000")
    result = run(capsys, {"keysdir": str(keysdir), "content": newer, "validate": False})
    assert result["changed"]
    assert os.readlink(keysdir / "ntpkey_iffpar_GR1") == "ntpkey_iffpar_GR1.4004400000"
    assert (keysdir / "ntpkey_iffpar_GR1.4004323481").exists()


def test_shapes_that_are_refused():
    assert "no PEM block" in ntp_key_install.check_shape("identity", b"hello", "content")
    assert "empty" in ntp_key_install.check_shape("identity", b"  \n", "content")
    assert "expiry line" in ntp_key_install.check_shape("leap", b"3692217600 37 # 1 Jan 2017\n", "f")
    assert ntp_key_install.check_shape("leap", b"#@ 3912710400\n3692217600 37\n", "f") is None
