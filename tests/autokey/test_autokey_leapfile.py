"""leap-seconds.list: hash check, TAI offset and the LEAP value the reference server sent."""

from __future__ import annotations

import pytest
from autokey_vectors import captured_packets

from ntpd_py.autokey import leapfile
from ntpd_py.wire.extension import Opcode


def test_vector_leapfile_loads_and_hash_verifies(vectors):
    table = leapfile.load(vectors / "leap-seconds.list")
    assert table.hash_ok
    assert table.updated == 3992371200 and table.expires == 4038940800
    assert table.entries[0] == (2272060800, 10) and table.entries[-1] == (3692217600, 37)
    assert table.era(4004323873).tai_offset == 37


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_leap_value_matches_reference_server(vectors, scheme):
    table = leapfile.load(vectors / "leap-seconds.list")
    resp = next(p.fields[0] for p in captured_packets(vectors, scheme) if p.fields and p.fields[0].code == Opcode.LEAP and p.fields[0].response)
    assert table.autokey_value(resp.tstamp) == resp.value
    assert leapfile.parse_autokey_value(resp.value) == (37, 3692217600, 3692217600 + 25 * 86400)


def test_altered_file_fails_hash_naming_file(vectors, tmp_path):
    text = (vectors / "leap-seconds.list").read_text().replace("3692217600\t37", "3692217600\t38")
    text = text.replace("3692217600      37", "3692217600      38")
    bad = tmp_path / "leap-seconds.list"
    bad.write_text(text)
    with pytest.raises(leapfile.LeapFileError, match=str(bad)):
        leapfile.load(bad)
    assert leapfile.load(bad, require_hash=False).entries[-1][1] == 38


def test_hash_words_without_leading_zeros_are_accepted():
    body = "#$\t 100\n#@\t 200\n10 10\n20 11 # x\n"
    import hashlib
    import struct

    words = struct.unpack("!5I", hashlib.sha1(b"100" + b"200" + b"1010" + b"2011").digest())
    text = body + "#h " + " ".join(f"{w:x}" for w in words) + "\n"
    assert leapfile.parse(text).hash_ok


@pytest.mark.parametrize(
    "text, needle",
    [
        ("#@ 5\n10 10\n", "missing the #\\$"),
        ("#$ 1\n#@ 5\n10 x\n", ":3: missing or bad number"),
        ("#$\n#@ 5\n", ":1: missing or bad number"),
        ("#$ 1\n#@ 5\n10\n", ":3: data line"),
        ("#$ 1\n#@ 5\n10 10\n#h 1 2\n", ":4: hash line"),
    ],
)
def test_errors_name_file_and_line(text, needle):
    with pytest.raises(leapfile.LeapFileError, match=needle):
        leapfile.parse(text, "/etc/leap")


def test_missing_file_error_names_path(tmp_path):
    with pytest.raises(leapfile.LeapFileError, match="nope"):
        leapfile.load(tmp_path / "nope")


def test_announced_leap_sets_expiry_a_week_after_it():
    table = leapfile.parse("#$ 1\n#@ 5000000\n1000 36\n2000000 37\n", require_hash=False)
    assert table.autokey_values(1500) == (36, 1000, 2000000 + 7 * 86400)
