"""Identity distribution through Ansible: ntp_identity_export on the authority, the ntp_identity lookup on the
controller, ntp_key_install on a member; plus the leap-seconds file, and ansible-doc for every plugin."""

from __future__ import annotations

import json
import os
import stat

import pytest
from plugins_harness import ROOT, ansible  # noqa: F401  (the shared fixture)

PASSWORD = "Gr2-Server-Pw"


@pytest.fixture(scope="module")
def authority(ansible, tmp_path_factory):
    keysdir = tmp_path_factory.mktemp("authority") / "keys"
    out = ansible.module("ntp_keygen", {"keysdir": str(keysdir), "host": "carol", "group": "GR2", "trusted": True,
                                        "identity": ["iff", "gq"], "password": PASSWORD, "modulus": 1024})
    assert not out.failed, out.output
    return keysdir, out.result


@pytest.fixture(scope="module")
def exports(ansible, authority):
    """The IFF export (in check mode: it only reads) and an export of a scheme the group lacks."""
    keysdir, _ = authority
    args = {"keysdir": str(keysdir), "host": "carol", "group": "GR2", "password": PASSWORD}
    return ansible.play([{"autokey.ntp.ntp_identity_export": dict(args, scheme="iff"), "check_mode": True},
                         {"autokey.ntp.ntp_identity_export": dict(args, scheme="mv")}])


@pytest.fixture(scope="module")
def iff_export(exports):
    out = exports[0]
    assert not out.failed, out.output
    return out.result


def test_export_returns_client_parameters_and_changes_nothing(authority, iff_export):
    keysdir, keygen = authority
    stamp = keygen["filestamp"]
    assert iff_export["changed"] is False
    assert iff_export["filename"] == f"ntpkey_iffpar_GR2.{stamp}"
    assert iff_export["link_name"] == "ntpkey_iffpar_GR2"
    assert iff_export["filestamp"] == stamp
    content = iff_export["content"]
    assert content.startswith(f"# ntpkey_iffpar_GR2.{stamp}\n")
    assert "BEGIN DSA PRIVATE KEY" in content and "ENCRYPTED" not in content
    assert not any(name.startswith("ntpkey_iffpar") for name in os.listdir(keysdir))


def test_export_with_a_missing_scheme_names_the_group_key(exports):
    out = exports[1]
    assert out.failed
    assert "ntpkey_mvta_GR2" in out.msg and "identity=mv" in out.msg


def test_lookup_then_install_on_a_member_is_idempotent(ansible, iff_export, tmp_path):
    publish = tmp_path / "publish" / "carol"
    publish.mkdir(parents=True)
    (publish / iff_export["filename"]).write_text(iff_export["content"])
    (publish / "ntpkey_iffpar_GR2.100").write_text("# ntpkey_iffpar_GR2.100\n# old\n\n-----BEGIN X-----\n-----END X-----\n")
    expression = "{{ lookup('autokey.ntp.ntp_identity', 'GR2', publish_dir='%s', scheme='iff') | to_json }}" % (
        tmp_path / "publish")
    keysdir = tmp_path / "member" / "keys"
    args = {"keysdir": str(keysdir), "content": iff_export["content"], "kind": "identity"}
    looked_up, first, second = ansible.play([{"ansible.builtin.debug": {"msg": expression}},
                                             {"autokey.ntp.ntp_key_install": args, "diff": True},
                                             {"autokey.ntp.ntp_key_install": args}])
    assert not looked_up.failed, looked_up.output
    found = looked_up.result["msg"]
    found = json.loads(found) if isinstance(found, str) else found
    assert found["filename"] == iff_export["filename"]  # the newest filestamp wins
    assert found["content"] == iff_export["content"] and found["group"] == "GR2" and found["scheme"] == "iff"

    assert not first.failed, first.output
    assert first.changed
    assert first.result["filename"] == iff_export["filename"] and first.result["link_name"] == "ntpkey_iffpar_GR2"
    assert os.readlink(keysdir / "ntpkey_iffpar_GR2") == iff_export["filename"]
    assert (keysdir / iff_export["filename"]).read_text() == iff_export["content"]
    assert stat.S_IMODE((keysdir / iff_export["filename"]).stat().st_mode) == 0o600
    assert iff_export["content"] not in first.output  # no_log content never printed, not even in the diff
    assert not second.failed and not second.changed, second.output


def test_lookup_of_an_unknown_group_says_where_it_looked(ansible, tmp_path):
    (tmp_path / "publish").mkdir()
    out = ansible.module("ansible.builtin.debug", {
        "msg": "{{ lookup('autokey.ntp.ntp_identity', 'GR7', publish_dir='%s') }}" % (tmp_path / "publish")})
    assert out.failed
    assert "GR7" in out.msg and str(tmp_path / "publish") in out.msg


def test_install_check_mode_and_bad_content(ansible, tmp_path):
    keysdir = tmp_path / "keys"
    pem = "# ntpkey_gqpar_G.1\n\n-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"
    predicted, bad, not_leap = ansible.play([
        {"autokey.ntp.ntp_key_install": {"keysdir": str(keysdir), "content": pem, "validate": False},
         "check_mode": True},
        {"autokey.ntp.ntp_key_install": {"keysdir": str(keysdir), "content": "hello", "filename": "ntpkey_iffpar_G.1"}},
        {"autokey.ntp.ntp_key_install": {"keysdir": str(keysdir), "kind": "leap", "src": str(ROOT / "pyproject.toml")}},
    ])
    assert predicted.changed and predicted.result["filename"] == "ntpkey_gqpar_G.1"
    assert bad.failed and "no PEM block" in bad.msg
    assert not_leap.failed and "leap-second" in not_leap.msg and "pyproject.toml" in not_leap.msg
    assert not keysdir.exists()


def test_install_leap_seconds_file_with_its_link(ansible, vectors, tmp_path):
    keysdir = tmp_path / "keys"
    args = {"keysdir": str(keysdir), "kind": "leap", "src": str(vectors / "leap-seconds.list")}
    out, again = ansible.play([{"autokey.ntp.ntp_key_install": args}, {"autokey.ntp.ntp_key_install": args}])
    assert not out.failed, out.output
    assert os.readlink(keysdir / "ntpkey_leap") == "leap-seconds.list"
    assert stat.S_IMODE((keysdir / "leap-seconds.list").stat().st_mode) == 0o644
    assert not again.changed


@pytest.mark.parametrize("args", [
    ("autokey.ntp.ntp_keygen", "autokey.ntp.ntp_identity_export", "autokey.ntp.ntp_key_install",
     "autokey.ntp.ntp_autokey_status"),
    ("-t", "lookup", "autokey.ntp.ntp_identity"),
    ("-M", str(ROOT / "plugins" / "modules"), "ntp_keygen"),
], ids=["modules", "lookup", "module-path"])
def test_ansible_doc_renders(ansible, args):
    out = ansible.doc(*args)
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr
    text = out.stdout
    names = [arg.split(".")[-1] for arg in args if not arg.startswith("-") and "/" not in arg and arg != "lookup"]
    for name in names:
        assert name in text
    assert text.count("EXAMPLES") == len(names) and text.count("ntpd-py developers") == len(names)
    assert "RETURN" in text


def test_install_refuses_stock_pkcs8_parameters_that_never_verify(ansible, vectors, tmp_path):
    stock = next((vectors / "iff-stock-pkcs8-fail" / "bob" / "keys").glob("ntpkey_iffpar_alice.*"))
    keysdir = tmp_path / "keys"
    refused, forced = ansible.play([
        {"autokey.ntp.ntp_key_install": {"keysdir": str(keysdir), "src": str(stock)}},
        {"autokey.ntp.ntp_key_install": {"keysdir": str(keysdir), "src": str(stock), "validate": False},
         "check_mode": True},
    ])
    assert refused.failed
    assert stock.name in refused.msg and "lost the public value" in refused.msg and "-e" in refused.msg
    assert not keysdir.exists()
    assert not forced.failed and forced.changed
