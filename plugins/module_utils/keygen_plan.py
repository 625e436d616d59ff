# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""What ntp_keygen must do, decided from what the keys directory holds and the `regenerate` option.

Pure: findings in, actions or failures out, so that the rules are tested without files or keys. The rules are
community.crypto openssl_privatekey's `regenerate`, applied to each piece of an Autokey key set.
"""

from __future__ import annotations

# Pieces of a key set, in the order they are reported.
HOST = "host"
CERT = "cert"
SYMMETRIC = "md5"
IDENTITY_SCHEMES = ("iff", "gq", "mv")
PIECES = (HOST, CERT) + IDENTITY_SCHEMES + (SYMMETRIC,)

# What a piece looks like on disk.
OK = "ok"
MISSING = "missing"
INVALID = "invalid"  # unreadable, wrong password, wrong kind of key
MISMATCH = "mismatch"  # readable, but not what the options ask for (modulus, scheme, trust, subject...)
EXPIRING = "expiring"  # certificate only: expired, not yet valid, or within renew_before_days of expiry

# What to do with it.
KEEP = "keep"
CREATE = "create"
REPLACE = "replace"  # new key material
RENEW = "renew"  # certificate only: a new certificate for the existing keys (ntp-keygen's update mode)

REGENERATE_CHOICES = ("never", "fail", "expiring", "always")
STATE_WORDS = {INVALID: "unreadable", MISMATCH: "not what the options ask for", EXPIRING: "due for renewal"}


class Finding:
    """One piece as found: its state, the file behind its link, and why it is not OK."""

    def __init__(self, piece: str, state: str, path: str | None = None, reason: str = "") -> None:
        self.piece = piece
        self.state = state
        self.path = path
        self.reason = reason

    def __repr__(self) -> str:
        return "Finding(%r, %r, %r, %r)" % (self.piece, self.state, self.path, self.reason)


class Plan:
    """Actions per piece, and the messages that stop the run (regenerate=fail)."""

    def __init__(self) -> None:
        self.actions: dict[str, str] = {}
        self.failures: list[str] = []
        self.reasons: dict[str, str] = {}

    @property
    def changes(self) -> dict[str, str]:
        """The pieces that will be written, with their action."""
        return {piece: action for piece, action in self.actions.items() if action != KEEP}

    @property
    def new_keys(self) -> bool:
        """True when key material (not only a certificate) is written."""
        return any(action in (CREATE, REPLACE) for piece, action in self.actions.items() if piece != CERT)


def decide(findings: list[Finding], regenerate: str) -> Plan:
    """Apply the regenerate rules to each finding, then the dependencies between pieces."""
    if regenerate not in REGENERATE_CHOICES:
        raise ValueError("regenerate must be one of %s" % ", ".join(REGENERATE_CHOICES))
    plan = Plan()
    for finding in findings:
        plan.actions[finding.piece] = _action(finding, regenerate, plan)
        if finding.reason:
            plan.reasons[finding.piece] = finding.reason
    # A certificate carries the host's public key (and GQ's public value): new keys need a new certificate.
    # ntp-keygen also writes a new certificate on every run that makes key material other than MD5 keys.
    writes_keys = any(
        plan.actions.get(piece) in (CREATE, REPLACE) for piece in (HOST,) + IDENTITY_SCHEMES
    )
    if CERT in plan.actions and writes_keys and plan.actions[CERT] == KEEP:
        plan.actions[CERT] = RENEW
        plan.reasons.setdefault(CERT, "new key material needs a new certificate")
    return plan


def _action(finding: Finding, regenerate: str, plan: Plan) -> str:
    if finding.state == MISSING:
        return CREATE
    if finding.state == OK:
        return REPLACE if regenerate == "always" and finding.piece != CERT else (
            RENEW if regenerate == "always" else KEEP)
    # invalid, mismatch or expiring
    if regenerate == "never":
        return KEEP
    if regenerate == "fail":
        plan.failures.append(
            "%s (%s) is %s: %s; regenerate=fail leaves it in place: fix it, or run with regenerate=expiring"
            % (finding.piece, finding.path or "no file", STATE_WORDS.get(finding.state, finding.state),
               finding.reason or "no reason given")
        )
        return KEEP
    if finding.piece == CERT:
        return RENEW
    return REPLACE
