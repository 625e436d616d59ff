"""files.py: names, headers, PEM splitting, atomic writes and links."""

from __future__ import annotations

import os
import stat
import time

import pytest

from ntpd_py.keys.files import (
    KeyFileError,
    KeySetWriter,
    atomic_symlink,
    atomic_write,
    header,
    key_file_name,
    link_name,
    parse_file_name,
    parse_key_text,
    pem_text,
    read_key_file,
)


def test_names_follow_ntp_keygen():
    assert key_file_name("RSAhost", "alice", 4004323481) == "ntpkey_RSAhost_alice.4004323481"
    assert key_file_name("RSA-MD5cert", "alice", 4004323481) == "ntpkey_RSA-MD5cert_alice.4004323481"
    assert link_name("iffpar", "alice") == "ntpkey_iffpar_alice"
    assert parse_file_name("ntpkey_RSA-MD5cert_alice.example.org.4004323481") == (
        "RSA-MD5cert",
        "alice.example.org",
        4004323481,
    )
    assert parse_file_name("ntpkey_host_alice") is None


def test_header_is_two_comment_lines_and_blank_line():
    unix = 4004323481 - 2208988800
    text = header("ntpkey_IFFkey_alice.4004323481", unix)
    lines = text.split("\n")
    assert lines[0] == "# ntpkey_IFFkey_alice.4004323481"
    assert lines[1] == "# " + time.ctime(unix)
    assert lines[2] == "" and text.endswith("\n\n")


def test_parse_header_and_blocks(tmp_path):
    der = bytes(range(200))
    text = header("ntpkey_RSAhost_bob.4004323522", 0) + pem_text("PRIVATE KEY", der)
    parsed = parse_key_text(text, tmp_path / "x")
    assert parsed.filestamp == 4004323522
    assert [b.label for b in parsed.blocks] == ["PRIVATE KEY"]
    assert parsed.blocks[0].der == der


def test_truncated_file_names_file(tmp_path):
    path = tmp_path / "ntpkey_RSAhost_bob.1"
    text = header(path.name, 0) + pem_text("PRIVATE KEY", bytes(100))
    path.write_text(text[: len(text) - 40])
    with pytest.raises(KeyFileError) as info:
        read_key_file(path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


def test_corrupt_base64_and_empty_file(tmp_path):
    path = tmp_path / "k"
    path.write_text("-----BEGIN PRIVATE KEY-----\n!!!notbase64***\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError, match="corrupt base64"):
        read_key_file(path)
    path.write_text("# only a header\n\n")
    with pytest.raises(KeyFileError, match=str(path)):
        read_key_file(path)
    with pytest.raises(KeyFileError, match="no such file"):
        read_key_file(tmp_path / "missing")


def test_atomic_write_modes_and_replace(tmp_path):
    target = tmp_path / "secret"
    atomic_write(target, b"one", 0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write(target, b"two", 0o644)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]


def test_atomic_symlink_replaces_link(tmp_path):
    (tmp_path / "a.1").write_text("1")
    (tmp_path / "a.2").write_text("2")
    link = tmp_path / "ntpkey_host_x"
    atomic_symlink("a.1", link)
    atomic_symlink("a.2", link)
    assert os.readlink(link) == "a.2" and link.read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.1", "a.2", "ntpkey_host_x"]


def test_keyset_writer_commits_all_or_nothing(tmp_path):
    writer = KeySetWriter(tmp_path)
    writer.add_file("f.1", b"x", 0o600)
    writer.add_link("l", "f.1")
    written = writer.commit()
    assert written == [tmp_path / "f.1"] and os.readlink(tmp_path / "l") == "f.1"
    failing = KeySetWriter(tmp_path / "missing")
    failing.add_file("g.1", b"y", 0o600)
    with pytest.raises(KeyFileError, match="does not exist"):
        failing.commit()
