"""pem.py and identity/: what we write reads back (by us and by `cryptography`), and bad values are caught."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from ntpd_py.keys.files import KeyFileError, WrongPassword, parse_key_text
from ntpd_py.keys.identity import IdentityError, gq, iff, mv
from ntpd_py.keys.pem import dsa_private_der, load_private_key, private_key_pem, raw_key, traditional_pem


def block(text: str):
    return parse_key_text(text, "mem").blocks[0]


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(65537, 1024)


def test_pkcs8_roundtrip_and_independent_reader(rsa_key):
    text = private_key_pem(rsa_key, "s3cret")
    assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    other = serialization.load_pem_private_key(text.encode(), b"s3cret")  # OpenSSL inside cryptography
    assert other.private_numbers() == rsa_key.private_numbers()
    ours = load_private_key(block(text), "s3cret", "mem")
    assert ours.private_numbers() == rsa_key.private_numbers()
    with pytest.raises(KeyFileError, match="mem: wrong password"):
        load_private_key(block(text), "other", "mem")
    with pytest.raises(KeyFileError, match="no password"):
        load_private_key(block(text), None, "mem")
    plain = private_key_pem(rsa_key, None)
    assert load_private_key(block(plain), None, "mem").private_numbers() == rsa_key.private_numbers()


def test_traditional_encryption_matches_openssl_legacy_kdf():
    key = dsa.generate_private_key(1024)
    numbers = key.private_numbers()
    params = numbers.public_numbers.parameter_numbers
    der = dsa_private_der(params.p, params.q, params.g, numbers.public_numbers.y, numbers.x)
    text = traditional_pem("dsa", der, "pw")
    assert "Proc-Type: 4,ENCRYPTED" in text and "DEK-Info: DES-EDE3-CBC," in text
    other = serialization.load_pem_private_key(text.encode(), b"pw")
    assert other.private_numbers() == numbers
    raw = raw_key(block(text), "pw", "mem")
    assert raw.form == "traditional" and raw["pub"] == numbers.public_numbers.y and raw["priv"] == numbers.x
    with pytest.raises(KeyFileError, match="wrong password"):
        raw_key(block(text), "nope", "mem")


def test_pkcs8_dsa_has_no_public_value():
    key = dsa.generate_private_key(1024)
    text = private_key_pem(key, "pw")
    raw = raw_key(block(text), "pw", "mem")
    assert raw.form == "pkcs8" and raw["pub"] is None and raw["priv"] == key.private_numbers().x


@pytest.mark.parametrize("bits", [256, 512])
def test_iff_generate_dump_load(bits):
    params = iff.generate(bits)
    assert params.p.bit_length() == bits and params.v == pow(params.g, params.q - params.b, params.p)
    server = iff.from_raw(raw_key(block(params.dump("pw")), "pw", "mem"), server=True)
    assert server == params
    client = iff.from_raw(raw_key(block(params.client().dump()), None, "mem"), server=False)
    assert client == params.client() and client.b is None
    with pytest.raises(IdentityError, match="client parameter file"):
        iff.from_raw(raw_key(block(params.client().dump()), None, "mem"), server=True)
    with pytest.raises(IdentityError, match=r"v != g\^\(q-b\)"):
        dataclasses.replace(params, v=params.g * params.g % params.p).check()


@pytest.mark.parametrize("bits", [256, 512])
def test_gq_generate_dump_load(bits):
    params = gq.generate(bits)
    assert params.n.bit_length() == bits
    assert pow(params.u, params.b, params.n) * params.v % params.n == 1
    raw = raw_key(block(params.dump("pw")), "pw", "mem")
    assert (raw["n"], raw["e"], raw["d"], raw["p"], raw["q"]) == (params.n, params.b, 1, params.u, params.v)
    assert gq.from_raw(raw, server=True) == params
    client_raw = raw_key(block(params.client().dump()), None, "mem")
    assert (client_raw["p"], client_raw["q"]) == (1, 1)
    assert gq.from_raw(client_raw, server=False) == params.client()
    with pytest.raises(IdentityError, match="u\\^b \\* v"):
        dataclasses.replace(params, v=params.v + 1).check()
    renewed = params.with_new_key()
    renewed.check()
    assert renewed.u != params.u and renewed.n == params.n


def test_mv_generate_dump_load():
    authority = mv.generate(5, 512)
    authority.check()
    assert authority.revoked() == [5]
    assert all(client.works_with(authority.server) for client in authority.clients[:4])
    blocks = parse_key_text(authority.dump("pw"), "mem").blocks
    assert len(blocks) == 7
    loaded = mv.authority_from_raw([raw_key(b, "pw", "mem") for b in blocks])
    assert loaded == authority
    server = mv.server_from_raw(raw_key(block(authority.server.dump("pw")), "pw", "mem"))
    client = mv.client_from_raw(raw_key(block(authority.clients[1].dump()), None, "mem"))
    assert client.works_with(server)
    with pytest.raises(IdentityError, match="client key"):
        mv.server_from_raw(raw_key(block(authority.clients[0].dump()), None, "mem"))
    with pytest.raises(IdentityError, match="between 2"):
        mv.generate(1, 512)


def test_reads_aes_pkcs8_written_by_openssl_defaults(rsa_key):
    text = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    assert load_private_key(block(text), "pw", "mem").private_numbers() == rsa_key.private_numbers()


def test_every_wrong_password_is_named_as_such_for_traditional_pem():
    """A wrong key passes the CBC padding check about one time in 256; the error must still say "wrong password"
    (it used to say "corrupt dsa key structure", about 11 times in 3,000)."""
    key = dsa.generate_private_key(1024)
    numbers = key.private_numbers()
    params = numbers.public_numbers.parameter_numbers
    text = traditional_pem("dsa", dsa_private_der(params.p, params.q, params.g, numbers.public_numbers.y, numbers.x),
                           "pw")
    for attempt in range(2000):
        with pytest.raises(WrongPassword):
            raw_key(block(text), f"nope{attempt}", "mem")
