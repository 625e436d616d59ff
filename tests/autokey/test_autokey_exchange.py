"""The Autokey state machine pair-wise in memory: client ⇄ server with the vectors' keys and a fake clock."""

from __future__ import annotations

import pytest
from autokey_pair import make_pair

from ntpd_py.autokey.flags import CryptoFlag
from ntpd_py.engine.authenticator import Verdict


@pytest.mark.parametrize("scheme, final", [("iff", 0x87F23), ("gq", 0x87F43), ("mv", 0x87F83)])
def test_client_reaches_reference_flags(vectors, scheme, final):
    pair = make_pair(vectors, scheme)
    for _ in range(7):
        v, cv = pair.step()
        assert v.verdict is Verdict.OK and cv.verdict is Verdict.OK, (v, cv, pair.log[-3:])
    assert pair.flags == final, hex(pair.flags)
    # then plain packets keep authenticating with the cookie
    for _ in range(3):
        v, cv = pair.step()
        assert cv.verdict is Verdict.OK and v.verdict is Verdict.OK
    assert pair.flags == final


def test_without_leap_table_flags_end_at_guides_value(vectors):
    pair = make_pair(vectors, "iff", leap=False)
    assert pair.run(8) == 0x87F21


def test_without_ident_the_trusted_certificate_alone_verifies(vectors):
    pair = make_pair(vectors, "iff", ident=None)
    assert pair.run(8) == 0x87F23
    assert not any(" iff " in line for line in pair.log)


def test_unsynchronized_client_stops_before_sign_and_leap(vectors):
    pair = make_pair(vectors, "iff", synchronized=False)
    flags = pair.run(8)
    assert flags & 0xFFF == 0xF23 and not flags & (CryptoFlag.SIGN | CryptoFlag.LEAP)
    pair.client.set_synchronized(True, pair.now)
    assert pair.run(3) == 0x87F23


def test_step_order_matches_reference(vectors):
    pair = make_pair(vectors, "gq")
    order = []
    for _ in range(7):
        pair.step()
        req = getattr(pair.assoc.auth_state, "last_request", None)
        order.append(req.name if req is not None else None)
    assert order == ["ASSOC", "CERT", "GQ", "COOK", "SIGN", "LEAP", None]


def test_cryptostats_lines_like_reference(vectors):
    pair = make_pair(vectors, "iff")
    pair.run(7)
    text = "\n".join(pair.log)
    for needle in ["assoc 38363 38363 host alice md5WithRSAEncryption", "cert alice alice 0x5 md5WithRSAEncryption (8)",
                   "iff alice fs 4004323481", "cook ", "sign bob alice 0x4 md5WithRSAEncryption (8)",
                   "leap TAI offset 37 at 3692217600 expire 3694377600 fs 4004323481", "signature update ts"]:
        assert needle in text, needle


def test_mode6_variables(vectors):
    pair = make_pair(vectors, "iff")
    pair.run(7)
    peer = dict(pair.client.peer_variables(pair.assoc))
    assert peer["flags"] == "0x87f23" and peer["host"] == '"alice"'
    assert peer["signature"] == '"md5WithRSAEncryption"' and peer["ident"] == '"alice"'
    system = pair.client.system_variables()
    names = [n for n, _ in system]
    assert names.count("cert") == 3 and ("host", '"bob"') in system and ("flags", "0x80001") in system
    certs = [v for n, v in system if n == "cert"]
    assert '"bob alice 0x4"' in certs and '"alice alice 0x5"' in certs and '"bob bob 0x0"' in certs
    assert certs == ['"bob alice 0x4"', '"alice alice 0x5"', '"bob bob 0x0"']  # as the reference's rv 0 shows
    server = dict(pair.server.system_variables())
    assert server["flags"] == "0x80023" and server["cert"] == '"alice alice 0x1"'


def test_server_system_variables_show_leap_table_like_reference(vectors):
    pair = make_pair(vectors, "iff")
    pair.run(2)
    server = dict(pair.server.system_variables())
    # reference alice: tai=37, leapsec=201701010000, expire=202712280000
    assert server["tai"] == "37" and server["leapsec"] == "201701010000" and server["expire"] == "202712280000"
    assert server["update"].startswith("2026112208")
    assert server["until"] == "202711220805"


def test_sha1_session_digest(vectors):
    """`crypto digest sha1`: session keys and MACs with SHA-1 (20-byte MACs) on both sides."""
    from autokey_pair import load_creds

    from dataclasses import replace

    s = replace(load_creds(vectors, "iff", "alice"), digest="sha1")
    c = replace(load_creds(vectors, "iff", "bob"), digest="sha1")
    pair = make_pair(vectors, "iff", server_creds=s, client_creds=c)
    assert pair.run(8) == 0x87F23


def test_private_certificate_scheme(vectors):
    """PC: both hosts share one private certificate and key; no CERT/identity/SIGN exchange."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ntpd_py.autokey.local_host import HostCredentials
    from ntpd_py.keys.cert import build_certificate, ntp_extensions
    from ntpd_py.ntptime import NTP_UNIX_OFFSET
    from autokey_pair import VECTOR_NOW

    key = rsa.generate_private_key(65537, 1024)
    cert = build_certificate(subject="pcgroup", public_key=key.public_key(), issuer="pcgroup", signing_key=key,
                             digest="md5", serial=1, not_before=int(VECTOR_NOW) - 600, not_after=int(VECTOR_NOW) + 86400,
                             extensions=ntp_extensions("private"))
    assert cert.private
    fstamp = int(VECTOR_NOW) - 600 + NTP_UNIX_OFFSET

    def creds():
        return HostCredentials(host_key=key, host_fstamp=fstamp, certificate=cert, cert_fstamp=fstamp)

    pair = make_pair(vectors, "iff", server_creds=creds(), client_creds=creds(), ident=None)
    order = []
    for _ in range(5):
        pair.step()
        order.append(pair.assoc.auth_state.last_request.name if pair.assoc.auth_state.last_request else None)
    assert pair.flags == 0x87F11, hex(pair.flags)
    assert order[:3] == ["ASSOC", "COOK", None]  # no leap table on the server: LEAP preset, nothing left


def test_poll_hint_steps_fast_while_progressing_and_backs_off_when_stuck(vectors):
    pair = make_pair(vectors, "iff")
    hints = []
    for _ in range(3):
        pair.step()
        hints.append(pair.client.poll_hint(pair.assoc, pair.now))
    assert hints == [0.5, 0.5, 0.5]
    stuck = make_pair(vectors, "iff", ident="nogroup")  # no identity parameters: never progresses past CERT
    for _ in range(3):
        stuck.step()
    backoff = []
    for _ in range(8):
        stuck.step()
        backoff.append(stuck.client.poll_hint(stuck.assoc, stuck.now))
    assert backoff[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0] and backoff[6] is None
    pair.run(6)
    assert pair.client.poll_hint(pair.assoc, pair.now) is None  # done: normal polling


def test_ipv6_pair_reaches_full_flags(vectors):
    """Session keys over 16-byte addresses (session_key()'s AF_INET6 branch)."""
    pair = make_pair(vectors, "gq")
    pair.client_addr, pair.server_addr = "fd00::2", "fd00::1"
    pair.assoc.srcadr, pair.assoc.dstadr = ("fd00::1", 123), "fd00::2"
    assert pair.run(8) == 0x87F43


def test_reload_restarts_only_associations_whose_keys_changed(vectors):
    from autokey_pair import FakeAssoc, Pair, load_creds

    pair = make_pair(vectors, "iff")
    other = Pair(pair.client, pair.server, FakeAssoc(4242, ("10.99.0.1", 123), "10.99.0.2", 3, ident=None))
    assert pair.run(8) == 0x87F23 and other.run(8) == 0x87F23
    # new group parameters for "alice" (a later filestamp), same host key and certificate
    from dataclasses import replace

    creds = load_creds(vectors, "iff", "bob")
    params, fstamp = creds.identity.client_params("iff", "alice")
    creds = replace(creds, identity=replace(creds.identity, clients={("iff", "alice"): (params, fstamp + 60)}))
    restarted = pair.client.replace_credentials(creds, pair.now, [pair.assoc, other.assoc])
    assert restarted == [38363]
    assert pair.flags == 0 and other.flags == 0x87F23
    # received certificates survive a reload (the signed one too: our key did not change)
    assert [(e.subject, e.issuer) for e in pair.client.host.certs] == [("bob", "alice"), ("alice", "alice"), ("bob", "bob")]


def test_full_flags_table_is_the_reference_ntpds():
    """The one home of the full-flags table (ntpd_py.autokey.flags.full_flags) against the figures the reference
    ntpd 4.2.8p15 shows at full handshake with a leap file (../shared/ref-ntpd/README.md)."""
    from ntpd_py.autokey.flags import full_flags

    reference = {"iff": 0x87F23, "gq": 0x87F43, "mv": 0x87F83, "tc": 0x87F03, "pc": 0x87F13}
    assert {s: full_flags(s, tai=True) for s in reference} == reference
    assert full_flags("iff") == 0x87F21 and full_flags(None) == 0x87F01
