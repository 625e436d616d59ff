"""Every command of the classic ntpq 4.2.8p15 (../shared/ref-ntpd/ntpq), against ntpd-py and against the
reference ntpd 4.2.8p15, side by side: the same fields, rows and columns, no crash, nothing missing. Values
differ naturally (uptime, counters, stratum), so the test compares each command's shape:
- `name: value` reports (sysinfo, sysstats, pstats, iostats, authinfo, monstats, kerninfo, timerstats): the
  labels, in order;
- variable lists (rv, readlist, mrv, mreadvar): the variable names, in order (`rv 0` may add ntpd-py's drop
  counters after the reference's names);
- tables (peers, lpeers, opeers, apeers, associations, mrulist): headers and columns per row;
- errors (cv without a clock): the same message.

The reference runs in a network namespace of tests/refntpd.py (it binds every address), without CAP_SYS_TIME,
with `disable ntp` and `disable kernel`, under its own process name, stopped by its PID. Both daemons have one
unreachable server association, so their tables have the same rows. Required when CI=true (a missing
reference is a failure), skipped with the reason elsewhere.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "core"))
from conftest import free_loopback  # noqa: E402
from core_daemons import KEYS_TEXT, NtpdPy  # noqa: E402
from refntpd import REF_DIR, Lab, require_ref, wait_until  # noqa: E402

# ntpq commands whose output is "label: value" lines
REPORTS = ["sysinfo", "sysstats", "iostats", "authinfo", "monstats", "kerninfo", "timerstats", "pstats &1"]
# commands whose output is name=value lists
VARIABLES = ["rv 0", "readlist", "rv &1", "readvar &1", "mrv &1 &1", "mreadvar &1 &1"]
TABLES = ["peers", "lpeers", "opeers", "apeers", "associations", "lassociations", "mrulist"]
ERRORS = ["cv", "clockvar"]
# commands ntpd serves only to requests authenticated with the controlkey: their rows are the local addresses
# and the restrict entries, which differ in number (the reference binds every address, and adds a restrict
# entry for each), so their shapes are compared as sets
AUTHENTICATED = ["ifstats", "reslist"]
KEYS = KEYS_TEXT.splitlines(keepends=True)[0]  # key 1 of ntpd-py's keys file (core_daemons), for the reference
AUTH = ["keyid 1", "passwd secret-md5"]


class Side:
    """Where the classic ntpq reaches one daemon: an optional namespace and an address."""

    def __init__(self, name: str, address: str, netns: str | None = None) -> None:
        self.name, self.address, self.netns = name, address, netns

    def ntpq(self, command: str, auth: bool = False) -> subprocess.CompletedProcess[str]:
        argv = [str(REF_DIR / "ntpq"), "-n"]
        for each in ([*AUTH, command] if auth else [command]):
            argv += ["-c", each]
        argv.append(self.address)
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    """The reference in a namespace of tests/refntpd.py's Lab, its server the lab's other (silent) host."""
    require_ref()
    work = tmp_path_factory.mktemp("refntpd")
    (work / "keys").mkdir()
    (work / "keys" / "ntp.keys").write_text(KEYS)
    with Lab(2) as lab:
        host, silent = lab.hosts
        daemon = host.start_ref(work, f"tos orphan 5\ntos orphanwait 1\nrestrict default\nserver {silent.addr} "
                                      f"iburst\nkeys {work}/keys/ntp.keys\ntrustedkey 1\ncontrolkey 1\n")
        side = Side("reference", "127.0.0.1", host.ns)
        assert wait_until(lambda: "1 " in side.ntpq("as").stdout, 15, 0.1), daemon.log()
        yield side


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    require_ref()
    daemon = NtpdPy(tmp_path_factory.mktemp("ntpdpy"), "ours", free_loopback(),
                    f"disable ntp\nrestrict default\nserver {free_loopback()} iburst\ntrustedkey 1\ncontrolkey 1\n").start()
    try:
        side = Side("ntpd-py", daemon.address)
        assert wait_until(lambda: "1 " in side.ntpq("as").stdout, 15, 0.1), daemon.log_text()
        yield side
    finally:
        daemon.stop()  # ours, by its PID


def _run(side: Side, command: str, auth: bool = False) -> str:
    result = side.ntpq(command, auth)
    assert result.returncode == 0 and result.returncode >= 0, f"{side.name}: ntpq -c {command!r} crashed " \
        f"(status {result.returncode}): {result.stderr}"
    assert "malformed" not in result.stderr and "unknown" not in result.stderr.lower(), (side.name, result.stderr)
    return result.stdout


def labels(out: str) -> list[str]:
    """The labels of a `label: value` report (and the associd= status line, without its values)."""
    found = []
    for line in out.splitlines():
        if line.startswith("associd="):
            found.append("associd")
            continue
        match = re.match(r"^([A-Za-z][^:]*?)(?::| {2,})", line)
        assert match, f"unexpected report line {line!r}"
        found.append(match.group(1).strip())
    return found


def names(out: str) -> list[str]:
    """Variable names of name=value output, in order (each associd= line starts a new block)."""
    text = " ".join(out.splitlines())
    return re.findall(r"(?:^|, |\s)([A-Za-z_][\w.]*)=", text)


def listing(out: str) -> tuple[list[str], list[tuple[str, int]]]:
    """ifstats / reslist: the header lines, and each entry's two lines as (kind, columns) pairs."""
    lines = [line for line in out.splitlines() if line.strip() or line.startswith("           ")]
    end = next(i for i, line in enumerate(lines) if line.startswith("====="))
    rows = []
    for first, second in zip(lines[end + 1::2], lines[end + 2::2]):
        assert re.match(r"^\s+\d+ \S", first), f"unexpected row {first!r}"
        rows.append(("entry", len(first.split())))
        rows.append(("detail", len(second.split()) and 1))  # an address, or restrict flags (may be none)
    return lines[:end + 1], rows


def shape(out: str) -> list[tuple[str, int]]:
    """A table's shape: header lines verbatim, then each row's number of columns."""
    rows: list[tuple[str, int]] = []
    for line in out.splitlines():
        if line.startswith(("=", " ", "ind", "lstint", "Ctrl-C", "Retrieved")) and not re.match(r"^\s*\d", line) \
                and not re.match(r"^[ *+#ox.-]\d", line):
            rows.append((re.sub(r"\d+", "N", line), 0))
        else:
            rows.append(("row", len(line.split())))
    return rows


@pytest.mark.interop
@pytest.mark.parametrize("command", REPORTS)
def test_reports_have_the_reference_fields(reference: Side, ours: Side, command: str) -> None:
    ref, mine = _run(reference, command), _run(ours, command)
    assert labels(ref), f"the reference printed nothing for {command!r}"
    assert labels(mine) == labels(ref), f"{command}:\n--- reference\n{ref}\n--- ntpd-py\n{mine}"


@pytest.mark.interop
@pytest.mark.parametrize("command", VARIABLES)
def test_variable_lists_have_the_reference_names(reference: Side, ours: Side, command: str) -> None:
    ref, mine = names(_run(reference, command)), names(_run(ours, command))
    assert ref, f"the reference printed no variables for {command!r}"
    # ntpd prints `xleave` only while its measured value is not zero (ctl_putpeer: `if (p->xleave)`), which the
    # reference's own timing decides from one query to the next: its presence is not compared, every other name is
    ref, mine = [n for n in ref if n != "xleave"], [n for n in mine if n != "xleave"]
    if command in ("rv 0", "readlist"):  # ntpd-py lists its drop counters after the reference's variables
        mine = mine[: len(ref)]
    assert mine == ref, f"{command}: reference {ref}\nntpd-py {mine}"


@pytest.mark.interop
@pytest.mark.parametrize("command", TABLES)
def test_tables_have_the_reference_shape(reference: Side, ours: Side, command: str) -> None:
    ref, mine = shape(_run(reference, command)), shape(_run(ours, command))
    assert ref, f"the reference printed nothing for {command!r}"
    assert mine == ref, f"{command}: reference {ref}\nntpd-py {mine}"


@pytest.mark.interop
@pytest.mark.parametrize("command", AUTHENTICATED)
def test_authenticated_lists_have_the_reference_shape(reference: Side, ours: Side, command: str) -> None:
    ref, mine = _run(reference, command, auth=True), _run(ours, command, auth=True)
    assert "Warning" not in ref + mine and "***" not in ref + mine, f"--- reference\n{ref}\n--- ntpd-py\n{mine}"
    ref_header, ref_rows = listing(ref)
    my_header, my_rows = listing(mine)
    assert my_header == ref_header and ref_rows, f"--- reference\n{ref}\n--- ntpd-py\n{mine}"
    assert my_rows and set(my_rows) == set(ref_rows), f"--- reference\n{ref}\n--- ntpd-py\n{mine}"


@pytest.mark.interop
def test_authenticated_lists_need_the_controlkey(ours: Side) -> None:
    result = ours.ntpq("ifstats", auth=False)  # ntpq asks for a key ID on stdin, which is empty
    assert "0.0.0.0" not in result.stdout and ours.address not in result.stdout


@pytest.mark.interop
@pytest.mark.parametrize("command", ERRORS)
def test_errors_are_the_reference_errors(reference: Side, ours: Side, command: str) -> None:
    ref, mine = reference.ntpq(command), ours.ntpq(command)
    assert (mine.stdout + mine.stderr).strip() == (ref.stdout + ref.stderr).strip()


@pytest.mark.interop
def test_mrulist_mode_and_version_are_read(reference: Side, ours: Side) -> None:
    """ntpq reads mv.N as a decimal: the rows of a client's packets show mode 3, version 4 (ntpd-py once sent
    hex, which ntpq read as 0 and 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # one NTPv4 client packet
        sock.sendto(b"\x23" + bytes(47), (ours.address, 123))
    time.sleep(0.3)
    out = _run(ours, "mrulist")
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s*\d+\s+\d+\s", line)]
    assert rows, out
    # lstint avgint rstr r m v count rport address
    assert any(row[4:6] == ["3", "4"] and row[-1] == "127.0.0.1" for row in rows), out


@pytest.mark.interop
def test_mrulist_lists_every_client(ours: Side) -> None:
    """Several clients: the classic ntpq checks that last.newest= names the last entry it received, so the list
    must go oldest first (ntpd-py once sent it newest first, and ntpq printed no row at all)."""
    sources = [free_loopback(0) for _ in range(6)]
    for source in sources:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.sendto(b"\x23" + bytes(47), (ours.address, 123))
        time.sleep(0.02)  # distinct last-seen times
    time.sleep(0.3)
    result = ours.ntpq("mrulist")
    assert "mismatch" not in result.stderr, result.stderr
    listed = {line.split()[-1] for line in result.stdout.splitlines() if re.match(r"^\s*\d+\s+\d+\s", line)}
    assert set(sources) <= listed, result.stdout
