"""auth/keyfile.py and auth/mac.py: ntpd's keys file and MAC."""

from __future__ import annotations

import hashlib

import pytest

from ntpd_py.symkeys.keyfile import KeyFileError, SymmetricKey, format_keys_file, parse_keys, read_keys_file
from ntpd_py.symkeys.mac import compute_mac, verify_mac


def test_parse_ascii_hex_and_comments():
    text = "# header\n 1 MD5 L\";Nw<`.I<f4U0)247\"i  # MD5 key\n11 SHA1 " + "0a" * 20 + "  # SHA1 key\n3 M plain\n"
    keys = parse_keys(text, "k")
    assert keys[1] == SymmetricKey(1, "MD5", b'L";Nw<`.I<f4U0)247"i')
    assert keys[11].algorithm == "SHA1" and keys[11].secret == b"\n" * 20
    assert keys[3].algorithm == "MD5"


@pytest.mark.parametrize("line, message", [
    ("0 MD5 abc", "outside"),
    ("70000 MD5 abc", "outside"),
    ("x MD5 abc", "not a number"),
    ("1 NOPE abc", "unknown key type"),
    ("1 MD5", "expected"),
    ("1 SHA1 " + "zz" * 20, "invalid hex"),
])
def test_errors_name_file_and_line(line, message):
    with pytest.raises(KeyFileError) as info:
        parse_keys("# c\n" + line + "\n", "/etc/ntp.keys")
    assert str(info.value).startswith("/etc/ntp.keys:2: ")
    assert message in str(info.value)


def test_format_round_trip(tmp_path):
    keys = [SymmetricKey(1, "MD5", b"abcdefghij"), SymmetricKey(12, "SHA1", bytes(range(20)))]
    text = format_keys_file(keys, ["ntpkey_MD5key_alice.1", "Sun Nov 22 2026"])
    assert text.startswith("# ntpkey_MD5key_alice.1\n")
    assert " 1 MD5 abcdefghij  # MD5 key" in text
    path = tmp_path / "keys"
    path.write_text(text)
    assert list(read_keys_file(path).values()) == keys


def test_mac_is_digest_of_key_then_packet():
    data = bytes(range(48))
    assert compute_mac("MD5", b"k", data) == hashlib.md5(b"k" + data).digest()
    assert compute_mac("SHA1", b"k", data) == hashlib.sha1(b"k" + data).digest()
    assert len(compute_mac("SHA256", b"k", data)) == 20
    assert verify_mac("MD5", b"k", data, hashlib.md5(b"k" + data).digest())
    assert not verify_mac("MD5", b"k", data, b"\0" * 16)
