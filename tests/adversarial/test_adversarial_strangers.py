"""Strangers cost nothing expensive: the real engine with Autokey (keys from ntpd-py's keygen), fed the bytes
bench/abuse/flood.py sends, at a simulated time. Signatures are counted where they are made (the host's
`signed`), digests where the session keys are made; nothing is mocked away.

Before the fix, 20,000 spoofed ASSOC packets from `nopeer` sources made associations (each answered on
the next poll) and left a server unable to answer ntpq for 8.5 s; every IFF request from an unrestricted
source cost an RSA signature, however many came.
"""

from __future__ import annotations

import random

import pytest
from adversary import autokey_engine, make_group

import ntpd_py.autokey.authenticator as autokey_auth
from ntpd_py.autokey.authenticator import SIGNATURE_BURST, SIGNATURES_PER_SECOND
from ntpd_py.wire.extension import Opcode, decode_field
from ntpd_py.wire.packet import decode

SERVER, T0 = "10.20.0.1", 1_800_000_000.0


def flood_module():
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("flood", ROOT / "bench" / "abuse" / "flood.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def keysdir(tmp_path_factory):
    return make_group(tmp_path_factory.mktemp("strangers"), clients=())["alice"]


def engine(keysdir, extra: str):
    host = autokey_engine(keysdir, SERVER, T0, extra=extra)
    host.handle_timers(T0 + 1)  # the local clock: synchronized, so Autokey signs
    assert host.sys.peer is not None
    signatures = []
    signer = host.authenticator.host
    original = signer.signed

    def counting(*args, **kwargs):
        signatures.append(1)
        return original(*args, **kwargs)

    signer.signed = counting
    return host, signatures


def responses(out) -> list:
    fields = []
    for o in out:
        pkt = decode(o.data)
        fields += [decode_field(raw)[0] for raw in pkt.extensions]
    return fields


def test_restricted_strangers_cost_no_digest_no_signature_no_association(keysdir, monkeypatch):
    flood = flood_module()
    digests = []
    original = autokey_auth.session_key
    monkeypatch.setattr(autokey_auth, "session_key", lambda *a, **k: (digests.append(1), original(*a, **k))[1])
    rng = random.Random(1)
    for rule in ("nopeer", "notrust"):
        host, signatures = engine(keysdir, f"restrict default {rule}\nrestrict 127.0.0.0 mask 255.0.0.0\n")
        before = dict(host.counters)
        digests.clear()
        for i in range(2000):
            src = f"10.30.{i % 200}.{i // 200 + 2}"
            data = flood.packet("assoc", src, SERVER, rng, T0 + 2 + i / 1000)
            # the attack's packets are valid: their cookie-0 MAC verifies as any Autokey packet's would
            assert i or host.authenticator.check(decode(data), data, (src, 123), SERVER, None, T0 + 2).ok
            host.receive_datagram(data, (src, 123), SERVER, T0 + 2 + i / 1000)
        out = host.handle_timers(T0 + 10)
        assert len(host.associations) == 1, rule  # the local clock only
        assert host.counters["restricted"] - before["restricted"] == 2000, rule
        assert digests == [1], (rule, len(digests))  # the one check above: refused packets cost no digest
        assert signatures == [] and out == [], rule


def test_rate_limited_identity_requests_cost_no_signature(keysdir):
    """`limited`: a client asking faster than `discard` allows gets no answer, so no signature."""
    flood = flood_module()
    host, signatures = engine(keysdir, "restrict default limited kod\n")
    rng = random.Random(2)
    answered = 0
    for i in range(1000):  # 1000 IFF challenges in 10 s from one source
        now = T0 + 2 + i / 100
        data = flood.packet("iff", "10.40.0.9", SERVER, rng, now)
        out = host.receive_datagram(data, ("10.40.0.9", 40000), SERVER, now)
        answered += any(f.code == Opcode.IFF and not f.error for f in responses(out))
    assert host.counters["limited"] >= 900, host.counters
    assert len(signatures) == answered <= 20, (len(signatures), answered)


def test_signatures_for_unrestricted_strangers_are_budgeted(keysdir):
    """No restriction at all: 10,000 IFF challenges in one second from 1,000 sources cost at most the
    signature budget; the rest get an error response (no signature), as a busy server should answer."""
    flood = flood_module()
    host, signatures = engine(keysdir, "restrict default\n")
    rng = random.Random(3)
    errors = 0
    for i in range(10000):
        now = T0 + 2 + i / 10000
        src = f"10.50.{i % 250}.{(i // 250) % 4 + 2}"
        data = flood.packet("iff", src, SERVER, rng, now)
        for f in responses(host.receive_datagram(data, (src, 123), SERVER, now)):
            errors += f.error
    assert len(signatures) <= SIGNATURE_BURST + SIGNATURES_PER_SECOND * 1.0 + 1, len(signatures)
    assert len(signatures) >= SIGNATURE_BURST  # the budget is spent on answers first (the attack reached it)
    assert errors >= 9000, errors
    # and the operator sees it: every refusal is counted, in `rv 0` as autokey_signatures_refused
    assert dict(host.authenticator.counter_variables())["autokey_signatures_refused"] == str(errors)
    # a second later the budget has refilled: an honest client's challenge is signed again
    later = T0 + 4
    data = flood.packet("iff", "10.60.0.2", SERVER, rng, later)
    fields = responses(host.receive_datagram(data, ("10.60.0.2", 123), SERVER, later))
    assert fields and not fields[0].error and fields[0].signature
