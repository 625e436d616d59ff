"""The regenerate rules of ntp_keygen (pure; run by `ansible-test units` and by the main pytest)."""

from __future__ import annotations

import os
import sys

import pytest

try:
    from ansible_collections.autokey.ntp.plugins.module_utils import keygen_plan as plan
except ImportError:  # the main pytest run: make this checkout importable as autokey.ntp
    _ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    _TOP = os.path.join(_ROOT, ".collections")  # scripts/bootstrap.sh links the checkout there (ansible.cfg)
    if not os.path.lexists(os.path.join(_TOP, "ansible_collections", "autokey", "ntp")):
        os.makedirs(os.path.join(_TOP, "ansible_collections", "autokey"), exist_ok=True)
        os.symlink("../../..", os.path.join(_TOP, "ansible_collections", "autokey", "ntp"))
    sys.path.insert(0, _TOP)
    from ansible_collections.autokey.ntp.plugins.module_utils import keygen_plan as plan

F = plan.Finding


def pieces(**states):
    return [F(piece, state, "/k/%s" % piece, "" if state == plan.OK else "because") for piece, state in states.items()]


def test_missing_pieces_are_created_whatever_regenerate_says():
    for mode in plan.REGENERATE_CHOICES:
        decided = plan.decide(pieces(host=plan.MISSING, cert=plan.MISSING, iff=plan.MISSING), mode)
        assert decided.actions == {"host": "create", "cert": "create", "iff": "create"}
        assert not decided.failures


def test_everything_in_order_is_kept_except_with_always():
    found = pieces(host=plan.OK, cert=plan.OK, gq=plan.OK)
    assert set(plan.decide(found, "expiring").actions.values()) == {"keep"}
    assert plan.decide(found, "expiring").changes == {}
    assert plan.decide(found, "always").actions == {"host": "replace", "cert": "renew", "gq": "replace"}


def test_an_expiring_certificate_is_renewed_with_the_existing_keys():
    decided = plan.decide(pieces(host=plan.OK, cert=plan.EXPIRING, iff=plan.OK), "expiring")
    assert decided.changes == {"cert": "renew"}
    assert not decided.new_keys


def test_never_keeps_even_what_is_broken():
    decided = plan.decide(pieces(host=plan.INVALID, cert=plan.EXPIRING, mv=plan.MISMATCH), "never")
    assert decided.changes == {}


def test_fail_stops_with_a_message_that_names_each_file():
    decided = plan.decide(pieces(host=plan.OK, cert=plan.MISMATCH, iff=plan.INVALID), "fail")
    assert len(decided.failures) == 2
    assert "/k/cert" in decided.failures[0] and "not what the options ask for" in decided.failures[0]
    assert "/k/iff" in decided.failures[1] and "unreadable" in decided.failures[1]
    assert all("regenerate=fail" in message for message in decided.failures)


def test_new_key_material_brings_a_new_certificate():
    decided = plan.decide(pieces(host=plan.MISMATCH, cert=plan.OK), "expiring")
    assert decided.actions == {"host": "replace", "cert": "renew"}
    assert "new key material" in decided.reasons["cert"]
    decided = plan.decide(pieces(host=plan.OK, cert=plan.OK, gq=plan.MISSING), "expiring")
    assert decided.actions["cert"] == "renew" and decided.new_keys


def test_symmetric_keys_alone_leave_the_certificate_alone():
    decided = plan.decide(pieces(host=plan.OK, cert=plan.OK, md5=plan.MISSING), "expiring")
    assert decided.changes == {"md5": "create"}


def test_unknown_regenerate_is_refused():
    with pytest.raises(ValueError):
        plan.decide([], "sometimes")
