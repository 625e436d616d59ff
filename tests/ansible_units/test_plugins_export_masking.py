"""A short password that occurs in the exported PEM text must not corrupt the transfer to a member.

Ansible masks every no_log value wherever it occurs in a module's returned strings. ntp_identity_export therefore
refuses to return such an export (without dest) or withholds it (with dest), and the file written to dest travels
to the member by find + fetch + ntp_key_install, byte for byte.
"""

from __future__ import annotations

import stat

import pytest
from plugins_harness import ansible  # noqa: F401  (the shared fixture)
from cryptography.hazmat.primitives import serialization

from ntpd_py.keys import files as key_files

PASSWORD = "Gr3-Authority-Pw"


@pytest.fixture(scope="module")
def keysdir(ansible, tmp_path_factory):
    keysdir = tmp_path_factory.mktemp("authority") / "keys"
    out = ansible.module("ntp_keygen", {"keysdir": str(keysdir), "host": "carol", "group": "GR3", "trusted": True,
                                        "identity": ["iff"], "password": PASSWORD, "modulus": 1024})
    assert not out.failed, out.output
    return keysdir


def short_password_in(text: str) -> str:
    """Three characters of the PEM's base64 body: a password that certainly occurs in the export."""
    body = [line for line in text.splitlines() if line and not line.startswith(("#", "-----"))]
    return body[1][20:23]


@pytest.mark.slow
def test_short_password_in_the_pem_still_gives_the_member_a_byte_exact_copy(ansible, keysdir, tmp_path):
    args = {"keysdir": str(keysdir), "host": "carol", "group": "GR3", "scheme": "iff", "password": PASSWORD}
    first = ansible.module("ntp_identity_export", dict(args, dest=str(tmp_path / "first")))
    assert not first.failed, first.output
    short = short_password_in(first.result["content"])
    assert len(short) == 3 and short in first.result["content"]

    exports, publish, member = tmp_path / "exports", tmp_path / "publish", tmp_path / "member" / "keys"
    with_short = dict(args, export_password=short)
    lookup = "lookup('autokey.ntp.ntp_identity', 'GR3', publish_dir='%s', scheme='iff')" % publish
    no_dest, written, again, _found, fetched, installed, empty = ansible.play([
        {"autokey.ntp.ntp_identity_export": with_short},
        {"autokey.ntp.ntp_identity_export": dict(with_short, dest=str(exports))},
        {"autokey.ntp.ntp_identity_export": dict(with_short, dest=str(exports))},
        {"ansible.builtin.find": {"paths": str(exports), "patterns": "ntpkey_iffpar_GR3.*"}, "register": "found"},
        {"ansible.builtin.fetch": {"src": "{{ item.path }}", "dest": f"{publish}/", "flat": True},
         "loop": "{{ found.files }}"},
        {"autokey.ntp.ntp_key_install": {"keysdir": str(member), "kind": "identity",
                                         "content": "{{ %s.content }}" % lookup,
                                         "filename": "{{ %s.filename }}" % lookup}},
        {"autokey.ntp.ntp_identity_export": dict(args, export_password="")},
    ])

    # Without dest the export would come back masked: a clear failure instead of a corrupt key.
    assert no_dest.failed and "password occurs" in no_dest.msg and "dest" in no_dest.msg, no_dest.output
    # With dest the files are written; the masked return values are left out, never corrupted.
    assert not written.failed and written.changed, written.output
    assert "content" in written.result["withheld"] and "content" not in written.result
    assert "********" not in written.output
    assert not again.failed and not again.changed, again.output  # same keys: nothing rewritten

    exported = sorted(exports.glob("ntpkey_iffpar_GR3.*"))
    assert len(exported) == 1 and stat.S_IMODE(exported[0].stat().st_mode) == 0o600
    data = exported[0].read_bytes()
    assert short.encode() in data and b"********" not in data
    assert not fetched.failed and not installed.failed and installed.changed, installed.output
    assert (publish / exported[0].name).read_bytes() == data
    assert (member / exported[0].name).read_bytes() == data  # the member's copy is byte-exact
    assert (member / "ntpkey_iffpar_GR3").resolve() == (member / exported[0].name).resolve()

    # The server key, encrypted with the short password, is complete and decrypts with it.
    server_key_path = next(p for p in exports.iterdir() if p.name.lower().startswith("ntpkey_iffkey_gr3."))
    assert stat.S_IMODE(server_key_path.stat().st_mode) == 0o600
    server_key = key_files.read_key_file(server_key_path)
    block = server_key.blocks[0]
    pem = key_files.pem_text(block.label, block.der, block.headers).encode()
    assert serialization.load_pem_private_key(pem, short.encode()) is not None

    assert empty.failed and "export_password is empty" in empty.msg
