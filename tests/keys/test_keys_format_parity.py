"""What ntpd-py-keygen writes has the shape of what ntp-keygen 4.2.8p15 wrote in ../shared/vectors."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509

from ntpd_py.keys.files import read_key_file
from ntpd_py.keys.keygen import KeygenOptions, generate

T0 = 1_795_334_681.0


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Path:
    keysdir = tmp_path_factory.mktemp("parity")
    generate(KeygenOptions(host="alice", trusted=True, gq=True, mv_keys=5, iff=True, password="serverpw", modulus=1024), keysdir, T0)
    export_dir = keysdir / "export"
    export_dir.mkdir()
    generate(KeygenOptions(host="alice", export=True, password="serverpw", export_dir=export_dir, write_certificate=False), keysdir, T0)
    return keysdir


def _pbes2_shape(path: Path) -> tuple:
    info = asn1_keys.EncryptedPrivateKeyInfo.load(read_key_file(path).blocks[0].der)
    params = info["encryption_algorithm"]["parameters"]
    kdf = params["key_derivation_func"]["parameters"]
    return (
        info["encryption_algorithm"]["algorithm"].native,
        params["key_derivation_func"]["algorithm"].native,
        len(kdf["salt"].native),
        kdf["iteration_count"].native,
        kdf["prf"]["algorithm"].native,
        params["encryption_scheme"]["algorithm"].native,
        len(params["encryption_scheme"]["parameters"].native),
    )


def test_host_key_encryption_matches_ntp_keygen(vectors, ours):
    reference = _pbes2_shape(vectors / "gq" / "alice" / "keys" / "ntpkey_RSAhost_alice.4004323909")
    assert _pbes2_shape(ours / "ntpkey_host_alice") == reference
    assert reference == ("pbes2", "pbkdf2", 8, 2048, "sha256", "tripledes_3key", 8)


def _extension_shape(path: Path) -> list[tuple]:
    cert = x509.Certificate.load(read_key_file(path).blocks[0].der)
    tbs = cert["tbs_certificate"]
    shape = [(e["extn_id"].dotted, e["critical"].native) for e in tbs["extensions"]]
    names = (tbs["issuer"].dump(), tbs["subject"].dump())
    return [tbs["version"].native, cert["signature_algorithm"]["algorithm"].native, names, *shape]


def test_certificate_shape_matches_ntp_keygen(vectors, ours):
    reference = vectors / "gq" / "alice" / "keys" / "ntpkey_RSA-MD5cert_alice.4004323909"
    assert _extension_shape(ours / "ntpkey_cert_alice") == _extension_shape(reference)


def test_identity_files_use_the_working_vectors_forms(vectors, ours):
    installed_mvkey = read_key_file(vectors / "mv" / "alice" / "keys" / "ntpkey_mvkey_alice.4004323955").blocks[0]
    our_mvkey = read_key_file(ours / "ntpkey_mvkey_alice").blocks[0]
    assert our_mvkey.label == installed_mvkey.label == "DSA PRIVATE KEY"
    assert our_mvkey.headers["Proc-Type"] == installed_mvkey.headers["Proc-Type"] == "4,ENCRYPTED"
    assert our_mvkey.headers["DEK-Info"].split(",")[0] == installed_mvkey.headers["DEK-Info"].split(",")[0]
    for name, variant in (("iffpar", "iff"), ("mvpar", "mv")):
        reference = read_key_file(next((vectors / variant / "bob" / "keys").glob(f"ntpkey_{name}_alice.*"))).blocks[0]
        ours_block = read_key_file(ours / "export" / f"ntpkey_{name}_alice").blocks[0]
        assert (ours_block.label, ours_block.headers) == (reference.label, reference.headers) == ("DSA PRIVATE KEY", {})


def test_headers_match_ntp_keygen(vectors, ours):
    reference = (vectors / "iff" / "alice" / "keys" / "ntpkey_IFFkey_alice.4004323481").read_text().split("\n")
    mine = (ours / "ntpkey_iffkey_alice").read_text().split("\n")
    assert mine[0] == f"# {(ours / 'ntpkey_iffkey_alice').resolve().name}"
    assert len(mine[1]) == len(reference[1]) and mine[1].startswith("# ") and mine[2] == reference[2] == ""
    assert mine[3].startswith("-----BEGIN")
