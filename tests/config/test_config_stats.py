"""Statistics files: ntpd's line formats (checked against the reference's own files) and generations."""

from __future__ import annotations

import calendar
import os
from pathlib import Path

import pytest

from ntpd_py.config import parser
from ntpd_py.config.model import Filegen
from ntpd_py.daemon import stats

NOV22 = calendar.timegm((2026, 11, 22, 8, 20, 0))  # the reference runs' day, MJD 61366


def unix_of(mjd: str, seconds: str) -> float:
    return (int(mjd) - stats.MJD_UNIX_EPOCH) * 86400 + float(seconds)


def test_timestamp_fields() -> None:
    assert stats.timestamp_fields(NOV22) == "61366 30000.000"
    assert stats.timestamp_fields(0) == "40587 0.000"
    assert stats.timestamp_fields(NOV22 + 0.9224) == "61366 30000.922"


def test_peerstats_lines_match_the_reference(vectors: Path) -> None:
    files = sorted(vectors.glob("*/logs/*peerstats"))
    assert files
    checked = 0
    for path in files:
        for line in path.read_text().splitlines():
            mjd, sec, addr, status, *numbers = line.split()
            offset, delay, disp, jitter = map(float, numbers)
            assert stats.peerstats_line(unix_of(mjd, sec), addr, int(status, 16), offset, delay, disp, jitter) == line
            checked += 1
    assert checked > 10


def test_cryptostats_and_protostats_lines_match_the_reference(vectors: Path) -> None:
    checked = 0
    for path in sorted(vectors.glob("*/logs/*cryptostats")):
        for line in path.read_text().splitlines():
            mjd, sec, addr, text = line.split(" ", 3)
            assert stats.cryptostats_line(unix_of(mjd, sec), None if addr == "0.0.0.0" else addr, text) == line
            checked += 1
    for path in sorted(vectors.glob("*/logs/*protostats")):
        for line in path.read_text().splitlines():
            mjd, sec, text = line.split(" ", 2)
            assert stats.protostats_line(unix_of(mjd, sec), text) == line
            addr, status, code, name, *rest = text.split(" ", 4)
            assert stats.event_text(addr, int(status, 16), int(code, 16), name, *rest) == text
            checked += 1
    assert checked > 50


def test_loopstats_and_sysstats_formats() -> None:
    # ntpd: "%lu %s %.9f %.3f %.9f %.6f %d" and eleven %lu counters
    assert stats.loopstats_line(NOV22, 0.000123, -12.5, 0.00000095, 0.0123, 6) == (
        "61366 30000.000 0.000123000 -12.500 0.000000950 0.012300 6")
    counters = stats.SystemCounters(3600, 100, 90, 80, 10, 5, 1, 2, 0, 3, 4)
    assert stats.sysstats_line(NOV22, counters) == "61366 30000.000 3600 100 90 80 10 5 1 2 0 3 4"


@pytest.mark.parametrize(("kind", "suffix", "span_days"), [
    ("none", "", None), ("pid", ".#4242", None), ("day", ".20261122", 1), ("week", ".2026w47", 7),
    ("month", ".202611", 30), ("year", ".2026", 365), ("age", ".a00086400", 1),
])
def test_generation_suffixes(kind: str, suffix: str, span_days: int | None) -> None:
    gen = stats.generation(kind, NOV22, pid=4242, started=NOV22 - 86400 - 100)
    assert gen.suffix == suffix and gen.covers(NOV22)
    if span_days is not None:
        assert round((gen.end - gen.start) / 86400) == span_days


def test_week_uses_iso_weeks_across_the_year() -> None:
    assert stats.generation("week", calendar.timegm((2027, 1, 1, 12, 0, 0))).suffix == ".2026w53"
    assert stats.generation("week", calendar.timegm((2027, 1, 4, 0, 0, 0))).suffix == ".2027w01"


def test_writer_rotates_daily_and_keeps_the_link(tmp_path: Path) -> None:
    writer = stats.FilegenWriter(tmp_path, Filegen("cryptostats", "cryptostats", "day", link=True, enabled=True), pid=7)
    (tmp_path / "cryptostats").write_text("old unlinked file\n")
    assert writer.write(NOV22, stats.cryptostats_line(NOV22, None, "setup 0x80001 host bob"))
    first = tmp_path / "cryptostats.20261122"
    assert first.read_text() == "61366 30000.000 0.0.0.0 setup 0x80001 host bob\n"
    assert (tmp_path / "cryptostats").samefile(first)
    assert (tmp_path / "cryptostats.7C0").read_text() == "old unlinked file\n"  # moved aside, as ntpd does
    assert writer.write(NOV22 + 60, "second line")
    assert writer.write(NOV22 + 86400, "next day")
    second = tmp_path / "cryptostats.20261123"
    assert first.read_text().splitlines()[-1] == "second line"
    assert second.read_text() == "next day\n" and (tmp_path / "cryptostats").samefile(second)
    writer.close()


def test_writer_type_none_nolink_and_disabled(tmp_path: Path) -> None:
    plain = stats.FilegenWriter(tmp_path, Filegen("peerstats", "peers", "none", link=True, enabled=True))
    assert plain.write(NOV22, "a") and plain.write(NOV22 + 10 * 86400, "b")
    assert (tmp_path / "peers").read_text() == "a\nb\n"
    nolink = stats.FilegenWriter(tmp_path, Filegen("loopstats", "loopstats", "month", link=False, enabled=True))
    assert nolink.write(NOV22, "x") and not (tmp_path / "loopstats").exists()
    assert (tmp_path / "loopstats.202611").exists()
    off = stats.FilegenWriter(tmp_path, Filegen("sysstats", "sysstats", "day", enabled=False))
    assert not off.write(NOV22, "x") and not list(tmp_path.glob("sysstats*"))


def test_writer_failure_is_counted_not_raised(tmp_path: Path) -> None:
    writer = stats.FilegenWriter(tmp_path / "missing", Filegen("peerstats", "peerstats", "day", enabled=True))
    assert not writer.write(NOV22, "x")
    assert writer.failures == 1 and "missing/peerstats.20261122" in (writer.last_error or "")


def test_writers_from_config(tmp_path: Path) -> None:
    cfg = parser.parse_text(
        f"statsdir {tmp_path}/\nstatistics cryptostats peerstats\nfilegen peerstats type week disable\n").config
    writers = stats.writers_from_config(cfg, pid=os.getpid())
    assert list(writers) == ["cryptostats"]
    assert writers["cryptostats"].path_for(NOV22) == tmp_path / "cryptostats.20261122"
    assert stats.writers_from_config(parser.parse_text("statistics peerstats\n").config) == {}
