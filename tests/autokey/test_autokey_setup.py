"""Autokey from ntp.conf: keys found by their 4.2.8p15 names, errors that name the file and the crypto line."""

from __future__ import annotations

import shutil
import time

import pytest
from autokey_daemons import make_keys

from ntpd_py.autokey.flags import CryptoFlag
from ntpd_py.daemon.autokey_wiring import AutokeySetupError, credentials_from_config
from ntpd_py.config.parser import parse_file


def _config(tmp_path, text):
    conf = tmp_path / "ntp.conf"
    conf.write_text(text)
    return parse_file(conf).config


def test_trusted_authority_keys_and_leap_file(tmp_path, vectors):
    dirs = make_keys(tmp_path, "iff", ["bob"], time.time() - 60)
    config = _config(tmp_path, f"keysdir {dirs['alice']}\ncrypto host alice pw serverpw leap {vectors / 'leap-seconds.list'}\n")
    lines = []
    creds = credentials_from_config(config, lambda src, line: lines.append(line))
    assert creds.certificate.subject == "alice" and creds.certificate.trusted
    assert creds.identity.iff is not None and creds.identity.iff.b is not None and creds.identity.iff_fstamp
    assert creds.leap is not None and creds.leap.entries[-1][1] == 37
    assert any(line.startswith("ntpkey_RSAhost_alice.") for line in lines)
    from ntpd_py.autokey.local_host import AutokeyHost

    assert AutokeyHost(creds).flags == 0x80000 | CryptoFlag.ENAB | CryptoFlag.TAI | CryptoFlag.IFF


def test_client_finds_group_parameters_by_ident(tmp_path):
    dirs = make_keys(tmp_path, "gq", ["bob"], time.time() - 60)
    config = _config(tmp_path, f"keysdir {dirs['bob']}\ncrypto host bob pw clientpw\n")
    creds = credentials_from_config(config)
    found = creds.identity.client_params("gq", "alice")
    assert found is not None and found[0].u is None and found[1] > 0
    assert creds.identity.client_params("gq", "nobody") is None


def test_missing_host_key_names_file_and_line(tmp_path):
    empty = tmp_path / "keys"
    empty.mkdir()
    config = _config(tmp_path, f"# comment\nkeysdir {empty}\ncrypto host alice pw x\n")
    with pytest.raises(AutokeySetupError) as exc:
        credentials_from_config(config)
    text = str(exc.value)
    assert "ntp.conf:3" in text and "ntpkey_host_alice" in text


def test_wrong_password_names_file(tmp_path):
    dirs = make_keys(tmp_path, None, [], time.time() - 60)
    config = _config(tmp_path, f"keysdir {dirs['alice']}\ncrypto host alice pw wrong\n")
    with pytest.raises(AutokeySetupError, match="ntpkey_host_alice"):
        credentials_from_config(config)


def test_bad_leap_file_names_it(tmp_path, vectors):
    dirs = make_keys(tmp_path, None, [], time.time() - 60)
    bad = tmp_path / "leap"
    shutil.copy(vectors / "leap-seconds.list", bad)
    bad.write_text(bad.read_text().replace("37", "38"))
    config = _config(tmp_path, f"keysdir {dirs['alice']}\ncrypto host alice pw serverpw leap {bad}\n")
    with pytest.raises(AutokeySetupError, match=f"{bad}.*hash"):
        credentials_from_config(config)


def test_unsupported_digest_is_refused(tmp_path):
    dirs = make_keys(tmp_path, None, [], time.time() - 60)
    config = _config(tmp_path, f"keysdir {dirs['alice']}\ncrypto host alice pw serverpw digest whirlpool\n")
    with pytest.raises(AutokeySetupError, match="digest"):
        credentials_from_config(config)


def test_client_parameters_are_read_at_start_not_during_the_exchange(tmp_path):
    """The shell reads every client identity file up front: removing the keys afterwards changes nothing."""
    dirs = make_keys(tmp_path, "iff", ["bob"], time.time() - 60)
    config = _config(tmp_path, f"keysdir {dirs['bob']}\ncrypto host bob pw clientpw\n")
    lines = []
    creds = credentials_from_config(config, lambda src, line: lines.append(line))
    assert any("loaded for group alice" in line for line in lines), lines
    shutil.rmtree(dirs["bob"])
    found = creds.identity.client_params("iff", "alice")
    assert found is not None and found[0].b is None


def test_unusable_client_parameters_are_noted_at_start_naming_the_file(tmp_path):
    dirs = make_keys(tmp_path, "iff", ["bob"], time.time() - 60)
    link = dirs["bob"] / "ntpkey_iffpar_alice"
    target = link.resolve()
    link.unlink()
    link.symlink_to(target.with_name("missing"))  # a broken link: named, not silently skipped
    config = _config(tmp_path, f"keysdir {dirs['bob']}\ncrypto host bob pw clientpw\n")
    lines = []
    creds = credentials_from_config(config, lambda src, line: lines.append(line))
    assert creds.identity.client_params("iff", "alice") is None
    assert any(line.startswith("identity parameters for group alice:") and "ntpkey_iffpar_alice" in line
               for line in lines), lines
