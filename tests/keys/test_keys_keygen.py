"""keygen.generate: the files a trusted authority and a client get, update mode, exports, failures."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ntpd_py.keys.cert import CERT_PRIV
from ntpd_py.keys.files import parse_key_text, read_key_file
from ntpd_py.keys.identity import gq, iff, mv
from ntpd_py.keys.keygen import KeygenError, KeygenOptions, generate
from ntpd_py.keys.pem import raw_key
from ntpd_py.keys.store import KeyStore, load_mv_authority

T0 = 1_795_334_681.0  # 2026-11-22 08:04:41 UTC, filestamp 4004323481
NTP = 2_208_988_800


def snapshot(directory: Path) -> dict[str, tuple[str, bytes]]:
    result = {}
    for entry in sorted(directory.iterdir()):
        if entry.is_symlink():
            result[entry.name] = ("link", os.readlink(entry).encode())
        else:
            result[entry.name] = (oct(stat.S_IMODE(entry.stat().st_mode)), entry.read_bytes())
    return result


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Path:
    keysdir = tmp_path_factory.mktemp("alice")
    options = KeygenOptions(host="alice", trusted=True, iff=True, gq=True, mv_keys=5, password="serverpw", modulus=1024)
    result = generate(options, keysdir, T0)
    assert result.filestamp == int(T0) + NTP
    assert result.cert_not_after == int(T0) + 365 * 86400
    return keysdir


def test_authority_files_links_and_modes(authority):
    stamp = int(T0) + NTP
    files = {p.name: p for p in authority.iterdir()}
    expected_links = {
        "ntpkey_host_alice": f"ntpkey_RSAhost_alice.{stamp}",
        "ntpkey_cert_alice": f"ntpkey_RSA-MD5cert_alice.{stamp}",
        "ntpkey_iffkey_alice": f"ntpkey_IFFkey_alice.{stamp}",
        "ntpkey_gqkey_alice": f"ntpkey_GQkey_alice.{stamp}",
        "ntpkey_mvta_alice": f"ntpkey_MVta_alice.{stamp}",
        "ntpkey_mvkey_alice": f"ntpkey_mvkey_alice.{stamp}",
    }
    for link, target in expected_links.items():
        assert os.readlink(files[link]) == target
        mode = stat.S_IMODE(files[target].stat().st_mode)
        assert mode == (0o644 if "cert" in target else 0o600)
        text = files[target].read_text()
        assert text.startswith(f"# {target}\n# ") and text.split("\n")[2] == ""
    assert len(files) == 12


def test_authority_keystore_loads_everything(authority):
    store = KeyStore(authority, "alice", "serverpw")
    cert = store.certificate().value
    assert cert.trusted and cert.subject == cert.issuer == "alice" and cert.serial == int(T0) + NTP
    assert cert.signature_nid == 8 and cert.verify(store.host_key().value.public_key())
    assert store.host_key().value.key_size == 1024
    gq_params = store.server_identity("gq").value
    assert cert.gq_public == gq_params.v
    iff_params = store.server_identity("iff").value
    iff_params.check()
    assert iff_params.p.bit_length() == 512
    server = store.server_identity("mv").value
    ta = load_mv_authority(authority / "ntpkey_mvta_alice", "serverpw").value
    assert ta.server == server and ta.revoked() == [5]
    # identity files are traditional PEM, encrypted with the password
    iff_text = read_key_file(authority / "ntpkey_iffkey_alice")
    assert iff_text.blocks[0].label == "DSA PRIVATE KEY" and iff_text.blocks[0].encrypted


def test_export_client_parameters(authority, tmp_path):
    result = generate(KeygenOptions(host="alice", export=True, password="serverpw"), authority, T0 + 10)
    exports = parse_key_text(result.exports, "stdout")
    labels = [c for c in exports.comments if c.startswith("ntpkey_")]
    stamp = int(T0) + NTP
    assert labels == [f"ntpkey_gqpar_alice.{stamp}", f"ntpkey_iffpar_alice.{stamp}", f"ntpkey_mvpar_alice.{stamp}"]
    store = KeyStore(authority, "alice", "serverpw")
    gq_client = gq.from_raw(raw_key(exports.blocks[0], None, "x"), server=False)
    iff_client = iff.from_raw(raw_key(exports.blocks[1], None, "x"), server=False)
    mv_client = mv.client_from_raw(raw_key(exports.blocks[2], None, "x"))
    assert not any(block.encrypted for block in exports.blocks)
    assert gq_client.b == store.server_identity("gq").value.b and gq_client.u is None
    assert iff_client.v == store.server_identity("iff").value.v and iff_client.b is None
    assert mv_client.works_with(store.server_identity("mv").value)
    # the same export as files with links, for a client's keys directory
    generate(KeygenOptions(host="alice", export=True, password="serverpw", export_dir=tmp_path), authority, T0 + 11)
    client_store = KeyStore(tmp_path, "bob", "clientpw")
    assert client_store.client_identity("iff", "alice").value == iff_client
    assert client_store.client_identity("mv", "alice").value == mv_client
    assert stat.S_IMODE((tmp_path / f"ntpkey_iffpar_alice.{stamp}").stat().st_mode) == 0o644


def test_export_server_keys_with_export_password(authority):
    result = generate(KeygenOptions(host="alice", password="serverpw", export_password="otherpw"), authority, T0 + 12)
    exports = parse_key_text(result.exports, "stdout")
    assert len(exports.blocks) == 3 and all(block.encrypted for block in exports.blocks)
    server = iff.from_raw(raw_key(exports.blocks[1], "otherpw", "x"), server=True)
    assert server == KeyStore(authority, "alice", "serverpw").server_identity("iff").value


def test_client_host_key_and_certificate(tmp_path):
    result = generate(KeygenOptions(host="bob", host_key=True, password="clientpw", modulus=1024), tmp_path, T0)
    assert sorted(p.name for p in result.files_written) == [
        f"ntpkey_RSA-MD5cert_bob.{int(T0) + NTP}",
        f"ntpkey_RSAhost_bob.{int(T0) + NTP}",
    ]
    cert = KeyStore(tmp_path, "bob", "clientpw").certificate().value
    assert not cert.trusted and not cert.private and cert.gq_public is None and cert.cert_flags == 0


def test_update_mode_renews_certificate_with_existing_keys(tmp_path):
    generate(KeygenOptions(host="alice", trusted=True, gq=True, password="serverpw", modulus=1024), tmp_path, T0)
    before = KeyStore(tmp_path, "alice", "serverpw")
    host_before = before.host_key().path
    gq_before = before.server_identity("gq").value
    # the guides' monthly renewal: `ntp-keygen -q PW` (no scheme option, -q meaning the key password)
    result = generate(KeygenOptions(host="alice", export_password="serverpw"), tmp_path, T0 + 30 * 86400)
    assert any("older guides" in note for note in result.notes)
    assert result.exports == ""
    after = KeyStore(tmp_path, "alice", "serverpw")
    cert = after.certificate().value
    assert after.host_key().path == host_before
    assert cert.trusted and cert.gq_public == gq_before.v and cert.serial == int(T0) + 30 * 86400 + NTP
    assert [p.name for p in result.files_written] == [f"ntpkey_RSA-MD5cert_alice.{int(T0) + 30 * 86400 + NTP}"]


def test_failed_runs_write_nothing(tmp_path):
    generate(KeygenOptions(host="alice", trusted=True, iff=True, password="serverpw", modulus=1024), tmp_path, T0)
    before = snapshot(tmp_path)
    failures = [
        (KeygenOptions(host="alice", password="wrongpw"), "ntpkey_host_alice"),
        (KeygenOptions(host="alice", password="serverpw", scheme="RSA-FOO"), "RSA-FOO"),
        (KeygenOptions(host="alice", host_key=True, password="serverpw", modulus=512), "1024"),
        (KeygenOptions(host="alice", iff=True, password="serverpw", identity_bits=128), "256"),
        (KeygenOptions(host="alice", host_key=True, password="serverpw", modulus=1024), "already exists"),
        (KeygenOptions(host="alice", export=True, password="serverpw", export_dir=tmp_path / "no"), "export directory"),
        (KeygenOptions(host="alice", mv_client=2, export=True, password="serverpw"), "-v 2"),
    ]
    for options, needle in failures:
        with pytest.raises(KeygenError, match=needle):
            generate(options, tmp_path, T0)
        assert snapshot(tmp_path) == before


def test_corrupt_key_fails_cleanly_and_names_file(tmp_path):
    generate(KeygenOptions(host="alice", iff=True, password="serverpw", modulus=1024), tmp_path, T0)
    target = tmp_path / os.readlink(tmp_path / "ntpkey_iffkey_alice")
    target.write_text(target.read_text()[:200])
    before = snapshot(tmp_path)
    with pytest.raises(KeygenError, match="ntpkey_iffkey_alice"):
        generate(KeygenOptions(host="alice", password="serverpw"), tmp_path, T0 + 5)
    assert snapshot(tmp_path) == before


def test_guide_export_form_is_understood(tmp_path):
    generate(KeygenOptions(host="alice", trusted=True, iff=True, password="serverpw", modulus=1024), tmp_path, T0)
    result = generate(
        KeygenOptions(host="alice", export=True, export_password="serverpw", password="clientpw"), tmp_path, T0 + 5
    )
    assert any("-e -q serverpw -p clientpw" in note for note in result.notes)
    exports = parse_key_text(result.exports, "stdout")
    assert len(exports.blocks) == 1 and not exports.blocks[0].encrypted
    iff.from_raw(raw_key(exports.blocks[0], None, "x"), server=False).check()


def test_private_certificate_group_and_sha256(tmp_path):
    options = KeygenOptions(host="carol", group="GR1", private_cert=True, iff=True, scheme="RSA-SHA256", password="pw", modulus=1024)
    generate(options, tmp_path, T0)
    stamp = int(T0) + NTP
    assert os.readlink(tmp_path / "ntpkey_cert_carol") == f"ntpkey_RSA-SHA256cert_carol.{stamp}"
    assert os.readlink(tmp_path / "ntpkey_iffkey_carol") == f"ntpkey_IFFkey_GR1.{stamp}"
    assert os.readlink(tmp_path / "ntpkey_iffkey_GR1") == f"ntpkey_IFFkey_GR1.{stamp}"
    cert = KeyStore(tmp_path, "carol", "pw").certificate().value
    assert cert.private and not cert.trusted and cert.cert_flags == CERT_PRIV
    assert cert.signature_nid == 668 and cert.subject == "carol@GR1"
    assert KeyStore(tmp_path, "carol", "pw", group="GR1").server_identity("iff").value.b is not None


def test_md5_keys_file(tmp_path):
    result = generate(KeygenOptions(host="alice", md5=True), tmp_path, T0)
    path = result.files_written[0]
    assert path.name == f"ntpkey_MD5key_alice.{int(T0) + NTP}" and os.readlink(tmp_path / "ntp.keys") == path.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 20
    for number, line in enumerate(lines, 1):
        keyid, kind, key, comment = line.split(None, 3)
        assert int(keyid) == number and comment.startswith("#")
        if number <= 10:
            assert kind == "MD5" and len(key) == 20 and "#" not in key
        else:
            assert kind == "SHA1" and len(bytes.fromhex(key)) == 20
    keyfile = pytest.importorskip("ntpd_py.symkeys.keyfile")
    parsed = keyfile.parse_keys(path.read_text(), str(path))
    assert sorted(parsed) == list(range(1, 21))


def test_regular_file_in_place_of_a_link_is_not_replaced(tmp_path):
    (tmp_path / "ntpkey_host_alice").write_text("a copied key, not a link")
    before = snapshot(tmp_path)
    with pytest.raises(KeygenError, match="regular file where a link belongs"):
        generate(KeygenOptions(host="alice", host_key=True, password="pw", modulus=1024), tmp_path, T0)
    assert snapshot(tmp_path) == before


def test_dsa_sign_key_gets_a_dsa_certificate(tmp_path):
    generate(KeygenOptions(host="dave", sign_key="DSA", password="pw", modulus=1024), tmp_path, T0)
    store = KeyStore(tmp_path, "dave", "pw")
    cert = store.certificate().value
    assert cert.signature_name == "dsaWithSHA1" and cert.verify(store.sign_key().value.public_key())
    assert os.readlink(tmp_path / "ntpkey_sign_dave").startswith("ntpkey_DSAsign_dave.")


def test_mv_client_key_choice(authority):
    ta = load_mv_authority(authority / "ntpkey_mvta_alice", "serverpw").value
    result = generate(KeygenOptions(host="alice", export=True, mv_client=3, password="serverpw"), authority, T0 + 20)
    exported = parse_key_text(result.exports, "stdout")
    client = mv.client_from_raw(raw_key(exported.blocks[-1], None, "x"))
    assert client == ta.clients[2] and client.works_with(ta.server)
    with pytest.raises(KeygenError, match="revoked"):
        generate(KeygenOptions(host="alice", export=True, mv_client=5, password="serverpw"), authority, T0 + 21)


def test_export_only_api_run_touches_no_host_key(authority, tmp_path):
    before = snapshot(authority)
    options = KeygenOptions(host="alice", export=True, password="serverpw", export_dir=tmp_path, write_certificate=False)
    result = generate(options, authority, T0 + 40)
    assert snapshot(authority) == before and result.certificate is None
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink()) == [
        f"ntpkey_{kind}par_alice.{int(T0) + NTP}" for kind in ("gq", "iff", "mv")
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    # nothing to export is an error naming the group (ntp-keygen exits 0 with an empty export), and writes nothing
    with pytest.raises(KeygenError, match="no identity keys of group 'zed'.*-s HOST@GROUP"):
        generate(KeygenOptions(host="zed", export=True, write_certificate=False), empty, T0)
    assert list(empty.iterdir()) == []
