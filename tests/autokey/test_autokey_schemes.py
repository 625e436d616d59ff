"""Identity schemes and signatures against the reference captures and key files."""

from __future__ import annotations

import pytest
from autokey_vectors import captured_packets, gq_public_from_cert, host_cert, identity_groups

from ntpd_py.autokey import schemes
from ntpd_py.keys.identity.iff import IffParams
from ntpd_py.autokey.errors import AutokeyError, Xevnt
from ntpd_py.autokey.signature import verify
from ntpd_py.wire.extension import Opcode

WORKING = ["iff", "gq", "mv"]


def _exchange(packets, code):
    reqs = [p.fields[0] for p in packets if p.fields and p.fields[0].code == code and not p.fields[0].response]
    resps = [p.fields[0] for p in packets if p.fields and p.fields[0].code == code and p.fields[0].response]
    return list(zip(reqs, resps))


def _verify_response(scheme, client, r, value, vectors):
    if scheme.startswith("iff"):
        schemes.iff_verify(client, r, value)
    elif scheme.startswith("gq"):
        schemes.gq_verify(client, r, value, v=gq_public_from_cert(host_cert(vectors, scheme, "alice")))
    else:
        schemes.mv_verify(client, r, value)


@pytest.mark.parametrize("scheme", WORKING)
def test_captured_identity_response_verifies_with_client_params(vectors, scheme):
    server, client = identity_groups(vectors, scheme)
    code = {"iff": Opcode.IFF, "gq": Opcode.GQ, "mv": Opcode.MV}[scheme]
    pairs = _exchange(captured_packets(vectors, scheme), code)
    assert pairs
    for req, resp in pairs:
        r = schemes.parse_challenge(req.value)
        _verify_response(scheme, client, r, resp.value, vectors)
        with pytest.raises(AutokeyError) as exc:
            _verify_response(scheme, client, r + 1, resp.value, vectors)
        assert exc.value.code == Xevnt.ID


@pytest.mark.parametrize("scheme", WORKING)
def test_our_server_response_to_captured_challenge_verifies(vectors, scheme):
    server, client = identity_groups(vectors, scheme)
    code = {"iff": Opcode.IFF, "gq": Opcode.GQ, "mv": Opcode.MV}[scheme]
    req, _ = _exchange(captured_packets(vectors, scheme), code)[0]
    respond = {"iff": schemes.iff_response, "gq": schemes.gq_response, "mv": schemes.mv_response}[scheme]
    ours = respond(server, req.value)
    _verify_response(scheme, client, schemes.parse_challenge(req.value), ours, vectors)


def test_gq_server_key_slots_follow_rfc(vectors):
    server, _ = identity_groups(vectors, "gq")
    # u^b v == 1 mod n with u in the p slot, v in the q slot, b in e (ntp-keygen, RFC 5906)
    assert pow(server.u, server.b, server.n) * server.v % server.n == 1
    assert server.v == gq_public_from_cert(host_cert(vectors, "gq", "alice"))


@pytest.mark.parametrize("scheme", ["iff-stock-pkcs8-fail", "mv-stock-fail"])
def test_stock_fail_captures_do_not_verify(vectors, scheme):
    """The PKCS#8 client parameters lost the public value: the reference never verified, neither do we."""
    from ntpd_py.keys.identity.iff import IffParams as IffGroup
    from ntpd_py.keys.identity.mv import MvClientKey

    server, client = identity_groups(vectors, scheme)
    code = Opcode.IFF if scheme.startswith("iff") else Opcode.MV
    for req, resp in _exchange(captured_packets(vectors, scheme), code):
        r = schemes.parse_challenge(req.value)
        with pytest.raises(AutokeyError):
            if isinstance(client, IffGroup):
                pub = client.v if client.v is not None else client.g  # what OpenSSL recomputes: g^1
                schemes.iff_verify(IffGroup(client.p, client.q, client.g, v=pub), r, resp.value)
            else:
                assert isinstance(client, MvClientKey)
                xhat = client.xhat if client.xhat is not None else 1  # OpenSSL recomputes g^priv with g=1
                schemes.mv_verify(MvClientKey(client.p, client.xbar, xhat), r, resp.value)


SIGNED_BY_SERVER = {Opcode.CERT, Opcode.IFF, Opcode.GQ, Opcode.MV, Opcode.COOK, Opcode.SIGN, Opcode.LEAP}
SIGNED_BY_CLIENT = {Opcode.IFF, Opcode.GQ, Opcode.MV, Opcode.COOK, Opcode.SIGN}


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv", "iff-noident", "iff-stock-pkcs8-fail", "gq-stock-fail", "mv-stock-fail"])
def test_every_captured_signature_verifies(vectors, scheme):
    keys = {
        "10.99.0.1": host_cert(vectors, scheme, "alice").public_key(),
        "10.99.0.2": host_cert(vectors, scheme, "bob").public_key(),
    }
    checked = 0
    for p in captured_packets(vectors, scheme):
        for ext in p.fields:
            if ext.short or not ext.signature:
                assert ext.code in (Opcode.ASSOC, Opcode.CERT) or ext.short or not ext.tstamp
                continue
            expected = SIGNED_BY_SERVER if ext.response else SIGNED_BY_CLIENT
            assert ext.code in expected
            verify(keys[p.src], ext.signed_bytes(), ext.signature, "md5")
            forged = bytearray(ext.signed_bytes())
            forged[0] ^= 1
            with pytest.raises(AutokeyError) as exc:
                verify(keys[p.src], bytes(forged), ext.signature, "md5")
            assert exc.value.code == Xevnt.SIG
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_certificates_in_captures_verify(vectors, scheme):
    """The CERT response carries alice's self-signed certificate; SIGN returns bob's certificate signed by alice."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import padding

    alice = host_cert(vectors, scheme, "alice")
    packets = captured_packets(vectors, scheme)
    cert_resp = _exchange(packets, Opcode.CERT)[0][1]
    sign_req, sign_resp = _exchange(packets, Opcode.SIGN)[0]
    got = x509.load_der_x509_certificate(cert_resp.value)
    assert got == alice
    signed = x509.load_der_x509_certificate(sign_resp.value)
    assert signed.issuer.rfc4514_string() == "CN=alice" and signed.subject.rfc4514_string() == "CN=bob"
    assert signed.serial_number == sign_resp.tstamp  # ntpd uses the NTP seconds of signing as serial
    assert sign_resp.fstamp == sign_req.fstamp
    alice.public_key().verify(signed.signature, signed.tbs_certificate_bytes, padding.PKCS1v15(), signed.signature_hash_algorithm)
    assert x509.load_der_x509_certificate(sign_req.value) == host_cert(vectors, scheme, "bob")


def test_malformed_identity_responses_are_protocol_errors():
    group = IffParams(23, 11, 4, v=pow(4, 11 - 3, 23), b=3)
    for junk in [b"", b"\x30", b"\x30\x03\x02\x01", b"\x04\x00", b"\x30\x06\x02\x01\xff\x02\x01\x01"]:
        with pytest.raises(AutokeyError) as exc:
            schemes.iff_verify(group, 5, junk)
        assert exc.value.code in (Xevnt.ERR, Xevnt.ID)


def test_toy_iff_gq_mv_round_trip():
    g = IffParams(23, 11, 4, v=pow(4, 11 - 3, 23), b=3)
    r = schemes.iff_challenge(g)
    schemes.iff_verify(g, r, schemes.iff_response(g, schemes.challenge_value(r)))
