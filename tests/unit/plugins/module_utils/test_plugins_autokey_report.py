"""Mode-6 variables to the status report (pure; run by `ansible-test units` and by the main pytest)."""

from __future__ import annotations

import os
import sys

import pytest

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
try:
    from ansible_collections.autokey.ntp.plugins.module_utils import autokey_report as report
except ImportError:  # the main pytest run: make this checkout importable as autokey.ntp
    _TOP = os.path.join(_ROOT, ".collections")  # scripts/bootstrap.sh links the checkout there (ansible.cfg)
    if not os.path.lexists(os.path.join(_TOP, "ansible_collections", "autokey", "ntp")):
        os.makedirs(os.path.join(_TOP, "ansible_collections", "autokey"), exist_ok=True)
        os.symlink("../../..", os.path.join(_TOP, "ansible_collections", "autokey", "ntp"))
    sys.path.insert(0, _TOP)
    from ansible_collections.autokey.ntp.plugins.module_utils import autokey_report as report

if _ROOT not in sys.path and os.path.isdir(os.path.join(_ROOT, "ntpd_py")):
    sys.path.append(_ROOT)  # ansible-test: ntpd_py travels inside the collection tree
flags = pytest.importorskip("ntpd_py.autokey.flags")
errors = pytest.importorskip("ntpd_py.autokey.errors")
control = pytest.importorskip("ntpd_py.control.client")

# What reference ntpd 4.2.8p15 sent for bob in ../shared/vectors/iff/ntpq (bob_rv_assid.txt, bob_rv0_cert.txt).
BOB_PEER = [("srcadr", "10.99.0.1"), ("reach", "001"), ("host", '"alice"'), ("flags", "0x87f23"),
            ("signature", '"md5WithRSAEncryption"'), ("ident", '"alice"')]
BOB_SYSTEM = [("host", '"bob"'), ("flags", "0x80003"), ("cert", '"bob alice 0x4"'), ("until", "202711220814"),
              ("cert", '"alice alice 0x5"'), ("until", "202711220805"), ("cert", '"bob bob 0x0"'),
              ("until", "202711220805")]


def test_integers_read_in_both_forms_ntpq_prints():
    assert report.parse_int("0x87f23") == report.parse_int("556835") == 0x87F23
    assert report.parse_int('"0x10e"') == 0x10E


def test_peer_status_word_as_ntpq_shows_it():
    assert report.auth_and_condition(control.Association(1, 0xF61A)) == ("ok", "sys.peer")
    assert report.auth_and_condition(control.Association(1, 0xD414)) == ("bad", "candidate")
    assert report.auth_and_condition(control.Association(1, 0x9014)) == ("none", "reject")


def test_reference_association_is_complete_and_decoded():
    got = report.association_report(control.Association(38363, 0xF61A), BOB_PEER, 0x87F21, flags, errors)
    assert got["ok"] and got["missing"] == []
    assert got["flags"] == "0x87f23" and got["host"] == "alice" and got["ident"] == "alice"
    assert got["flags_decoded"]["scheme"] == "IFF"
    assert got["flags_decoded"]["signature"] == "md5WithRSAEncryption"
    assert got["flags_decoded"]["bits"]["TAI"] is True
    assert (got["auth"], got["condition"], got["reach"]) == ("ok", "sys.peer", "001")


def test_missing_steps_are_named_with_the_last_error_on_the_first():
    stuck = [("srcadr", "10.99.0.1"), ("flags", "0x81123"), ("crypto_event", '"0x10e bad or missing group key"')]
    got = report.association_report(control.Association(1, 0xF61A), stuck, 0x87F21, flags, errors)
    assert not got["ok"]
    assert got["missing"][0] == ("identity not verified: VRFY 0x200 missing; last error 0x10e bad or missing "
                                 "group key")
    assert any("COOK 0x800 missing" in message for message in got["missing"])
    assert all("last error" not in message for message in got["missing"][1:])


def test_tai_is_never_required_and_a_wrong_signature_is_named():
    assert report.missing_steps(0x87F21, 0x87F23, flags) == []
    (message,) = report.missing_steps(0x417F21, 0x87F21, flags)
    assert "md5WithRSAEncryption (NID 8) expected" in message and "NID 65" in message


def test_an_association_without_flags_is_not_autokey():
    got = report.association_report(control.Association(2, 0x9014), [("srcadr", "127.0.0.1")], 0x87F21, flags, errors)
    assert got["autokey"] is False and not got["ok"]


def test_certificates_with_their_expiry():
    certs = report.certificates(BOB_SYSTEM, flags)
    assert [(c["subject"], c["issuer"], c["flags"]) for c in certs] == [
        ("bob", "alice", "0x4"), ("alice", "alice", "0x5"), ("bob", "bob", "0x0")]
    assert certs[1]["flags_decoded"] == ["trust", "valid"]
    assert certs[0]["until"] == "2027-11-22T08:14:00Z"
