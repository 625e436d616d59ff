"""Session keys, key lists and cookies against the reference captures: every MAC is recomputed."""

from __future__ import annotations

import pytest
from autokey_vectors import SCHEMES, captured_packets, host_key
from cryptography.hazmat.primitives.asymmetric import rsa

from ntpd_py.autokey.errors import AutokeyError, Xevnt
from ntpd_py.autokey.session import (
    NTP_MAXKEY,
    KeyList,
    PrivateValue,
    decrypt_cookie,
    encrypt_cookie,
    mac,
    next_keyid,
    server_cookie,
    session_key,
    symmetric_cookie,
    verify_keyid_chain,
)


def _cookie_from_capture(vectors, scheme, packets):
    cook = [p for p in packets if p.fields and p.fields[0].name == "COOK" and p.fields[0].response]
    if not cook:
        return None
    return decrypt_cookie(cook[0].fields[0].value, host_key(vectors, scheme, "bob"))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_capture_mac_recomputes(vectors, scheme):
    packets = captured_packets(vectors, scheme)
    cookie = _cookie_from_capture(vectors, scheme, packets)
    checked = 0
    for p in packets:
        if p.fields:
            private = 0  # extension fields: cookie zero both ways
        elif cookie is not None:
            private = cookie
        else:
            continue
        key = session_key(p.src, p.dst, p.keyid, private)
        assert mac(key, p.keyid, p.authenticated_part)[4:] == p.mac, (scheme, p.time)
        checked += 1
    assert checked >= len(packets) - 1


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_cookie_decrypts_to_logged_value(vectors, scheme):
    packets = captured_packets(vectors, scheme)
    cookie = _cookie_from_capture(vectors, scheme, packets)
    log = (vectors / scheme / "logs" / "bob_cryptostats").read_text()
    assert f"cook {cookie:x} " in log


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_client_key_ids_chain_backwards(vectors, scheme):
    packets = captured_packets(vectors, scheme)
    cookie = _cookie_from_capture(vectors, scheme, packets)
    client = [p for p in packets if p.src.endswith(".2")]
    # before COOK the key list was made with cookie 0, after it with the cookie
    cook_index = next(i for i, p in enumerate(client) if p.fields and p.fields[0].name == "COOK")
    for a, b in zip(client[1:cook_index], client[2:cook_index]):
        assert verify_keyid_chain(a.src, a.dst, b.keyid, a.keyid, 0)
    for a, b in zip(client[cook_index + 1 :], client[cook_index + 2 :]):
        assert verify_keyid_chain(a.src, a.dst, b.keyid, a.keyid, cookie)


def test_keylist_is_used_in_reverse_and_chains():
    kl = KeyList.generate("10.0.0.2", "10.0.0.1", 0x1234, poll_log2=6, seed=0x12345678)
    assert len(kl.keys) == 65  # 4096 s / 64 s, plus the entry whose lifetime reaches 0 (make_keylist)
    assert all(k > NTP_MAXKEY for k in kl.keys)
    first, second = kl.next(), kl.next()
    assert next_keyid("10.0.0.2", "10.0.0.1", second, 0x1234) == first
    assert next_keyid("10.0.0.2", "10.0.0.1", first, 0x1234) == kl.final
    assert kl.seq == 64


def test_keylist_unsynchronized_has_one_key():
    assert len(KeyList.generate("::1", "::2", 0, synchronized=False).keys) == 1


def test_ipv6_session_key_hashes_sixteen_byte_addresses():
    import hashlib
    import ipaddress
    import struct

    expected = hashlib.md5(
        ipaddress.ip_address("fe80::1").packed + ipaddress.ip_address("2001:db8::2").packed + struct.pack("!II", 70000, 5)
    ).digest()
    assert session_key("fe80::1", "2001:db8::2", 70000, 5) == expected


def test_cookie_encryption_round_trip_and_errors():
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    blob = encrypt_cookie(0xDEADBEEF, key.public_key())
    assert len(blob) == 128
    assert decrypt_cookie(blob, key) == 0xDEADBEEF
    with pytest.raises(AutokeyError) as exc:
        decrypt_cookie(blob[:-1], key)
    assert exc.value.code == Xevnt.CKY
    with pytest.raises(AutokeyError):
        decrypt_cookie(bytes(128), key)


def test_server_cookie_is_stateless():
    c = server_cookie("10.0.0.2", "10.0.0.1", 0x12345678)
    assert c == server_cookie("10.0.0.2", "10.0.0.1", 0x12345678)
    assert c != server_cookie("10.0.0.3", "10.0.0.1", 0x12345678)
    assert c != server_cookie("10.0.0.2", "10.0.0.1", 0x12345679)
    assert symmetric_cookie(0xFF00FF00, 0x0F0F0F0F) == 0xF00FF00F


def test_private_value_renews_every_revoke_interval():
    """`revoke 4`: the value lasts exactly 16 s from its first use, then a new one lasts 16 s from then."""
    private = PrivateValue(revoke_log2=4, value=0x11111111)
    assert private.current(1000.0) == 0x11111111
    assert private.current(1015.999) == 0x11111111
    renewed = private.current(1016.0)
    assert renewed != 0x11111111  # a fresh random value (a 2**-32 chance of a repeat)
    assert private.current(1031.999) == renewed
    assert private.current(1032.0) not in (renewed, 0x11111111)
    assert server_cookie("10.0.0.2", "10.0.0.1", renewed) != server_cookie("10.0.0.2", "10.0.0.1", 0x11111111)


def test_revoke_ends_old_cookies_at_the_server(vectors):
    """After 2**revoke seconds the server's cookie changes: packets MAC'd with the old cookie are refused."""
    from autokey_pair import make_pair

    from ntpd_py.engine.authenticator import Verdict

    pair = make_pair(vectors, "iff")
    pair.server.host.private.revoke_log2 = 5
    assert pair.run(10) == 0x87F23
    private = pair.server.host.private
    first, renew_at = private.value, private.renewed_at + 32
    while pair.now < renew_at:
        server_verdict, client_verdict = pair.step()
        assert server_verdict.verdict is Verdict.OK and client_verdict.ok
    server_verdict, client_verdict = pair.step()
    assert private.value != first
    assert server_verdict.verdict is not Verdict.OK and client_verdict.verdict is Verdict.CRYPTO_NAK
