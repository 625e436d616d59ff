"""Every key file of ntpd/ntp-keygen 4.2.8p15 in ../shared/vectors loads, and its mathematics holds."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import json

from ntpd_py.keys.cert import CERT_PRIV, CERT_TRUST, build_certificate, ntp_extensions, parse_certificate, sign_request
from ntpd_py.keys.files import KeyFileError, parse_key_text, read_key_file
from ntpd_py.keys.identity import IdentityError, gq, iff, mv
from ntpd_py.keys.keygen import KeygenError, KeygenOptions, generate
from ntpd_py.keys.pem import load_private_key, raw_key
from ntpd_py.keys.store import KeyStore, load_identity_file, load_mv_authority

VARIANTS = ["iff", "gq", "mv", "iff-noident", "iff-stock-pkcs8-fail", "gq-stock-fail", "mv-stock-fail"]
PASSWORDS = {"alice": "serverpw", "bob": "clientpw"}


def keysdir_with_links(vectors: Path, variant: str, who: str, tmp_path: Path) -> Path:
    """A copy of a vector keys dir with the links of links.txt (the vectors hold plain files)."""
    target = tmp_path / variant / who
    target.mkdir(parents=True)
    for file in (vectors / variant / who / "keys").iterdir():
        shutil.copy(file, target / file.name)
    for line in (vectors / variant / "links.txt").read_text().splitlines():
        link, _, dest = line.partition(" -> ")
        if link.startswith(f"{who}/"):
            os.symlink(dest.strip(), target / link.rsplit("/", 1)[1])
    return target


def all_key_files(vectors: Path) -> list[Path]:
    return sorted(p for v in VARIANTS for who in ("alice", "bob") for p in (vectors / v / who / "keys").iterdir())


def test_every_vector_key_file_loads(vectors):
    count = 0
    for path in all_key_files(vectors):
        text = read_key_file(path)
        assert text.filestamp == int(path.name.rsplit(".", 1)[1])
        password = PASSWORDS["alice" if "/alice/" in str(path) else "bob"]
        for block in text.blocks:
            if block.label == "CERTIFICATE":
                cert = parse_certificate(block.der)
                assert cert.verify(cert.public_key) and len(cert.der) <= 1024
            else:
                raw = raw_key(block, password, path)
                assert raw.algorithm in ("rsa", "dsa")
            count += 1
    assert count >= 50


def test_host_keys_are_512_bit_rsa_and_sign(vectors):
    for path in all_key_files(vectors):
        if "RSAhost" not in path.name:
            continue
        who = "alice" if "/alice/" in str(path) else "bob"
        key = load_private_key(read_key_file(path).blocks[0], PASSWORDS[who], path)
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 512
        cert_path = next(path.parent.glob("ntpkey_RSA-MD5cert_*"))
        cert = parse_certificate(read_key_file(cert_path).blocks[0].der)
        assert cert.public_key.public_numbers() == key.public_key().public_numbers()


def test_wrong_password_names_the_file(vectors):
    path = vectors / "iff" / "alice" / "keys" / "ntpkey_RSAhost_alice.4004323481"
    with pytest.raises(KeyFileError) as info:
        raw_key(read_key_file(path).blocks[0], "clientpw", path)
    assert str(path) in str(info.value) and "password" in str(info.value)
    legacy = vectors / "mv" / "alice" / "keys" / "ntpkey_mvkey_alice.4004323955"  # DES-EDE3-CBC legacy PEM
    with pytest.raises(KeyFileError, match="wrong password"):
        raw_key(read_key_file(legacy).blocks[0], "nope", legacy)


def _ntpq_certs(text: str) -> list[tuple[str, str, int, str]]:
    return [
        (m[1], m[2], int(m[3], 16), m[4])
        for m in re.finditer(r'cert="(\S+) (\S+) (0x[0-9a-f]+)",\s*until=(\d+)', text)
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_certificates_match_ntpq(vectors, variant):
    for who in ("alice", "bob"):
        cert_path = next((vectors / variant / who / "keys").glob("ntpkey_RSA-MD5cert_*"))
        cert = parse_certificate(read_key_file(cert_path).blocks[0].der)
        assert (cert.subject, cert.issuer) == (who, who)
        assert cert.serial == cert.not_before + 2208988800
        assert cert.not_after - cert.not_before == 365 * 86400
        assert cert.signature_nid == 8 and cert.signature_name == "md5WithRSAEncryption" and cert.digest_name == "md5"
        assert cert.trusted == (who == "alice") and not cert.private
        assert (cert.gq_public is not None) == (variant.startswith("gq") and who == "alice")
        ntpq_file = vectors / variant / "ntpq" / f"{who}_rv0_cert.txt"
        if not ntpq_file.exists():  # iff-stock-pkcs8-fail has no ntpq cert output
            continue
        seen = _ntpq_certs(ntpq_file.read_text())
        own = [entry for entry in seen if entry[0] == who and entry[1] == who]
        assert own, f"ntpq shows no {who} {who} certificate"
        for _, _, flags, until in own:
            assert flags & (CERT_TRUST | CERT_PRIV) == cert.cert_flags
            assert until == cert.until


def test_rebuilt_certificate_is_byte_identical(vectors):
    """Our builder writes exactly what ntp-keygen wrote (RSA PKCS#1 v1.5 signatures are deterministic)."""
    for variant, stamp in (("gq", 4004323909), ("iff", 4004323481)):
        keys = vectors / variant / "alice" / "keys"
        cert = parse_certificate(read_key_file(next(keys.glob("ntpkey_RSA-MD5cert_*"))).blocks[0].der)
        host = keys / f"ntpkey_RSAhost_alice.{stamp}"
        key = load_private_key(read_key_file(host).blocks[0], "serverpw", host)
        rebuilt = build_certificate(
            subject="alice",
            public_key=key.public_key(),
            issuer="alice",
            signing_key=key,
            digest="md5",
            serial=cert.serial,
            not_before=cert.not_before,
            not_after=cert.not_after,
            extensions=ntp_extensions("trust", cert.gq_public),
        )
        assert rebuilt.der == cert.der


def test_client_certificate_signed_by_server_matches_cert_sign(vectors):
    """The builder covers ntpd's cert_sign(): client subject and key, server's name, extensions copied."""
    alice = vectors / "iff" / "alice" / "keys"
    host = alice / "ntpkey_RSAhost_alice.4004323481"
    alice_key = load_private_key(read_key_file(host).blocks[0], "serverpw", host)
    bob_cert = parse_certificate(read_key_file(next((vectors / "iff" / "bob" / "keys").glob("*cert*"))).blocks[0].der)
    now = bob_cert.not_before + 100
    signed = build_certificate(
        subject=bob_cert.subject,
        public_key=bob_cert.public_key,
        issuer="alice",
        signing_key=alice_key,
        digest="md5",
        serial=now + 2208988800,
        not_before=now,
        not_after=now + 365 * 86400,
        extensions=bob_cert.extensions,
        version=bob_cert.version,
    )
    assert (signed.subject, signed.issuer, signed.extensions) == ("bob", "alice", bob_cert.extensions)
    assert signed.verify(alice_key.public_key()) and not signed.verify(bob_cert.public_key)


@pytest.mark.parametrize("variant", ["iff", "iff-noident"])
def test_iff_relations(vectors, variant, tmp_path):
    alice = KeyStore(keysdir_with_links(vectors, variant, "alice", tmp_path), "alice", "serverpw")
    bob = KeyStore(keysdir_with_links(vectors, variant, "bob", tmp_path), "bob", "clientpw")
    server = alice.server_identity("iff").value
    client = bob.client_identity("iff", "alice").value
    assert server.v == pow(server.g, server.q - server.b, server.p)
    assert client.b is None and client.v == server.v and (client.p, client.q, client.g) == (server.p, server.q, server.g)
    assert server.p.bit_length() == 512 and server.q.bit_length() == 160
    server.check()
    client.check()


def test_iff_math_check_group_key(vectors, tmp_path):
    """iff_math_check.txt names alice's group key b; ours is the same number."""
    alice = KeyStore(keysdir_with_links(vectors, "iff", "alice", tmp_path), "alice", "serverpw")
    b = int(re.search(r"\bb 0x([0-9a-f]+)", (vectors / "iff" / "iff_math_check.txt").read_text())[1], 16)
    assert alice.server_identity("iff").value.b == b


@pytest.mark.parametrize("variant", ["gq", "gq-stock-fail"])
def test_gq_relations(vectors, variant, tmp_path):
    alice = KeyStore(keysdir_with_links(vectors, variant, "alice", tmp_path), "alice", "serverpw")
    bob = KeyStore(keysdir_with_links(vectors, variant, "bob", tmp_path), "bob", "clientpw")
    server = alice.server_identity("gq").value
    client = bob.client_identity("gq", "alice").value
    assert pow(server.u, server.b, server.n) * server.v % server.n == 1
    assert (client.n, client.b, client.u, client.v) == (server.n, server.b, None, None)
    assert alice.certificate().value.gq_public == server.v


def test_mv_installed_keys_work_together(vectors, tmp_path):
    alice = KeyStore(keysdir_with_links(vectors, "mv", "alice", tmp_path), "alice", "serverpw")
    bob = KeyStore(keysdir_with_links(vectors, "mv", "bob", tmp_path), "bob", "clientpw")
    server = alice.server_identity("mv").value
    client = bob.client_identity("mv", "alice").value
    assert client.works_with(server)


def _mv_debug_keys(text: str) -> list[dict[str, int]]:
    """The DSA dumps of `ntp-keygen -V 5 -d` (TA, server, 5 clients)."""
    section = text[text.index("Generating MV trusted-authority keys") :]
    keys = []
    for chunk in section.split("Private-Key:")[1:]:
        values: dict[str, int] = {}
        for name, label in (("priv", "priv"), ("pub", "pub"), ("p", "prime P"), ("g", "generator G"), ("q", "subgroup order Q")):
            match = re.search(rf"{label}:\s*(\d+) \(0x[0-9a-f]+\)|{label}:\s*\n((?:\s+[0-9a-f:]+\n)+)", chunk)
            if match[1] is not None:
                values[name] = int(match[1])
            else:
                values[name] = int(re.sub(r"[\s:]", "", match[2]), 16)
        keys.append(values)
    return keys


def test_mv_relations_from_generation_dump(vectors, tmp_path):
    keys = _mv_debug_keys((vectors / "mv" / "keygen" / "alice_T_V5_d.stderr").read_text())
    assert len(keys) == 7
    ta, server_values, clients = keys[0], keys[1], keys[2:]
    server = mv.MvServerKey(ta["p"], ta["q"], server_values["g"], server_values["priv"], server_values["pub"])
    authority = mv.MvTrustedAuthority(
        ta["p"], ta["q"], ta["g"], ta["priv"], ta["pub"], server,
        tuple(mv.MvClientKey(c["p"], c["priv"], c["pub"]) for c in clients),
    )
    authority.check()
    assert authority.revoked() == [5]  # ntp-keygen always revokes the last key ("Revoke key 5")
    alice = KeyStore(keysdir_with_links(vectors, "mv", "alice", tmp_path), "alice", "serverpw")
    bob = KeyStore(keysdir_with_links(vectors, "mv", "bob", tmp_path), "bob", "clientpw")
    assert alice.server_identity("mv").value == server
    assert bob.client_identity("mv", "alice").value == authority.clients[0]


def test_stock_pkcs8_iff_client_file_refused(vectors, tmp_path):
    bob = KeyStore(keysdir_with_links(vectors, "iff-stock-pkcs8-fail", "bob", tmp_path), "bob", "clientpw")
    with pytest.raises(KeyFileError) as info:
        bob.client_identity("iff", "alice")
    message = str(info.value)
    assert "ntpkey_iffpar_alice" in message and "lost the public value" in message and "ntpd-py-keygen -e" in message
    export = vectors / "iff" / "keygen" / "alice_e_p-serverpw.stdout"  # the stock export itself
    with pytest.raises(KeyFileError, match="lost the public value"):
        load_identity_file(export, "iff", False, None)


def test_stock_mv_files_refused(vectors, tmp_path):
    alice = KeyStore(keysdir_with_links(vectors, "mv-stock-fail", "alice", tmp_path), "alice", "serverpw")
    bob = KeyStore(keysdir_with_links(vectors, "mv-stock-fail", "bob", tmp_path), "bob", "clientpw")
    with pytest.raises(KeyFileError, match="lost ghat"):
        alice.server_identity("mv")
    with pytest.raises(KeyFileError, match="lost xhat"):
        bob.client_identity("mv", "alice")
    with pytest.raises(KeyFileError, match="lost the group key b"):
        load_mv_authority(vectors / "mv" / "alice" / "keys" / "ntpkey_MVta_alice.4004323955", "serverpw")


def test_stock_mv_client_message_says_what_repairs_it(vectors, tmp_path):
    """`-e` cannot repair a stock MV authority (its MVta file lost b): the client's error must not send the
    user there alone, and the authority's own -e run says to make a new MV group (issue 11, finding 6)."""
    bob = KeyStore(keysdir_with_links(vectors, "mv-stock-fail", "bob", tmp_path / "bob"), "bob", "clientpw")
    with pytest.raises(KeyFileError) as info:
        bob.client_identity("mv", "alice")
    message = str(info.value)
    assert "if stock ntp-keygen wrote it" in message and "nothing can repair it" in message
    assert "ntpd-py-keygen -V N" in message and "ntpkey_mvkey" in message
    alice = keysdir_with_links(vectors, "mv-stock-fail", "alice", tmp_path / "alice")
    with pytest.raises(KeygenError, match=r"lost the group key b.*ntpd-py-keygen -V N"):
        generate(KeygenOptions(host="alice", export=True, password="serverpw"), alice, 1795334681.0)


def test_keygen_stdout_exports_load(vectors):
    """What ntp-keygen printed with -e / -q: parameters and keys re-encrypted with the export password."""
    iff_exports = parse_key_text(
        (vectors / "iff" / "keygen" / "alice_e_q-clientpw_p-serverpw.stdout").read_text(), "iff-export"
    )
    assert len(iff_exports.blocks) == 2 and iff_exports.filestamp == 4004323481
    exported_key = raw_key(iff_exports.blocks[1], "clientpw", "iff-export")
    # 4.2.8p15 blanks b to 1 in memory for the iffpar export, then exports that same key as iffkey: b is gone
    assert exported_key["priv"] == 1
    with pytest.raises(IdentityError, match="not the server IFF key"):
        iff.from_raw(exported_key, server=True)
    with pytest.raises(IdentityError, match="lost the public value"):
        iff.from_raw(raw_key(iff_exports.blocks[0], None, "iff-export"), server=False)
    gq_export = parse_key_text((vectors / "gq" / "keygen" / "alice_e_p-serverpw.stdout").read_text(), "gq-export")
    client = gq.from_raw(raw_key(gq_export.blocks[0], None, "gq-export"), server=False)
    assert client.u is None and client.n.bit_length() == 512
    mv_export = parse_key_text((vectors / "mv" / "keygen" / "alice_q-serverpw_p-serverpw.stdout").read_text(), "mv")
    with pytest.raises(IdentityError, match="lost ghat"):
        mv.server_from_raw(raw_key(mv_export.blocks[0], "serverpw", "mv"))


def test_keystore_paths_and_overrides(vectors, tmp_path):
    keysdir = keysdir_with_links(vectors, "iff", "bob", tmp_path)
    store = KeyStore(keysdir, "bob", "clientpw")
    assert store.sign_key().path == store.host_key().path  # no ntpkey_sign_bob: the host key signs
    assert store.host_key().filestamp == 4004323522
    assert store.certificate().value.subject == "bob"
    (keysdir / "ntpkey_iffpar_alice").rename(keysdir / "ntpkey_iff_alice")  # the older guides' name
    assert store.client_identity("iff", "alice").value.b is None
    override = KeyStore(keysdir, "bob", "clientpw", overrides={"iffpar": "ntpkey_iffpar_alice.4004323481"})
    assert override.client_identity("iff", "alice").path.name == "ntpkey_iffpar_alice.4004323481"
    with pytest.raises(KeyFileError, match="ntpkey_gqpar_alice"):
        store.client_identity("gq", "alice")
    with pytest.raises(KeyFileError, match="ntpkey_host_carol"):
        KeyStore(keysdir, "carol", "x").host_key()


@pytest.mark.parametrize("variant", ["iff", "gq", "mv"])
def test_sign_request_reproduces_captured_sign_response(vectors, variant):
    """alice's SIGN response in the capture is byte-for-byte what sign_request() builds from bob's request."""
    packets = json.loads((vectors / variant / "capture.decoded.json").read_text())
    fields = [e for p in packets for e in p["exts"] if e["name"] == "SIGN"]
    request = parse_certificate(bytes.fromhex(next(e for e in fields if not e["resp"])["value"]))
    response_field = next(e for e in fields if e["resp"])
    response = parse_certificate(bytes.fromhex(response_field["value"]))
    keys = vectors / variant / "alice" / "keys"
    host = next(keys.glob("ntpkey_RSAhost_alice.*"))
    alice_key = load_private_key(read_key_file(host).blocks[0], "serverpw", host)
    rebuilt = sign_request(request, "alice", alice_key, "md5", response_field["tstamp"] - 2208988800)
    assert rebuilt.der == response.der
    assert (response.subject, response.issuer) == ("bob", "alice") and response.verify(alice_key.public_key())
