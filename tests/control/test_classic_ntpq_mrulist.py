"""`ntpq -c mrulist` with many entries, classic ntpq 4.2.8p15 and ntpsec's, against the real responder.

ntpd 4.2.8's read_mru_list sends the MRU list oldest first, in batches bounded by the request's frags= (or
limit=) parameter; a batch that reaches the newest entry ends with now= and last.newest=, which must equal
the last entry's last= (the classic ntpq checks it: "last.newest ... mismatches ..." and prints nothing).
ntpq asks for the next batch by naming the newest entries it holds (last.N=, addr.N=); the answer confirms
its starting point with last.older=/addr.older=, or says CERR_UNKNOWNVAR when every named entry has moved,
and ntpq backs up. Before this was followed, ntpd-py sent the first 100 entries newest first and declared
the list complete: the classic ntpq printed no rows at all once there were two clients, ntpsec's at most 100.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from conftest import free_loopback, require_program  # noqa: E402
from ctl_fakes import FakeView, UdpControlServer  # noqa: E402
from refntpd import REF_DIR, require_ref  # noqa: E402

from ntpd_py.control.client import parse_variables  # noqa: E402
from ntpd_py.control.responder import ControlResponder, TextBody, render_items  # noqa: E402
from ntpd_py.ntptime import to_ntp64  # noqa: E402
from ntpd_py.wire import control as wire  # noqa: E402
from ntpd_py.wire import control_values as v  # noqa: E402

NOW = 2_000_000_000.0


def entries(count: int, now: float = NOW) -> list[tuple[str, float, float, int, int, int]]:
    """`count` MRU entries as the view gives them: newest first (entry i last heard i seconds ago)."""
    return [(f"10.{i // 250}.{i % 250}.7:{40000 + i}", now - 5000 - i, now - i, 1 + i, 0x23, 0) for i in range(count)]


def rows(out: str) -> list[str]:
    """`address:port` of each mrulist row (lstint avgint rstr r m v count rport remote address)."""
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 9 and fields[0].isdigit() and fields[-2].isdigit():
            found.append(f"{fields[-1]}:{fields[-2]}")
    return found


@pytest.mark.interop
@pytest.mark.parametrize("program", ["classic", "ntpsec"])
@pytest.mark.parametrize("count", [2, 40, 101, 1000])
def test_mrulist_lists_every_entry(program: str, count: int) -> None:
    if program == "classic":
        require_ref()
        exe = str(REF_DIR / "ntpq")
    else:
        exe = require_program("ntpq")
    mru = entries(count, time.time())
    with UdpControlServer(ControlResponder(FakeView(mru=mru)), free_loopback()) as srv:
        result = subprocess.run([exe, "-n", "-c", "mrulist", srv.address[0]], capture_output=True, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)
    assert "mismatch" not in result.stderr and "***" not in result.stderr, result.stderr
    assert sorted(rows(result.stdout)) == sorted(address for address, *_ in mru), result.stdout[-500:]


# ------------------------------------------------------------------------------- the protocol, frame by frame

class Session:
    """A client of the responder at NOW: fetches a nonce, then READ_MRU with the parameters given."""

    def __init__(self, mru: list[tuple[str, float, float, int, int, int]]) -> None:
        self.responder = ControlResponder(FakeView(mru=mru))
        self.sequence = 0

    def ask(self, opcode: int, data: str = "") -> list[wire.ControlFrame]:
        self.sequence += 1
        return [wire.decode(d) for d in self.responder.handle(wire.request(opcode, self.sequence, 0, data.encode()),
                                                                NOW, "10.0.0.1")]

    def mru(self, params: str) -> tuple[list[wire.ControlFrame], dict[str, str], list[tuple[str, str]]]:
        (nonce,) = self.ask(wire.OP_REQ_NONCE)
        frames = self.ask(wire.OP_READ_MRU, f"{nonce.data.decode().strip()}, {params}")
        if frames[0].error:
            return frames, {}, []
        items = parse_variables(b"".join(f.data for f in frames).decode())
        return frames, dict(items), list(items)


def addresses(items: list[tuple[str, str]]) -> list[str]:
    return [value for name, value in items if re.fullmatch(r"addr\.\d+", name)]


def test_the_list_goes_oldest_first_and_ends_with_the_newest() -> None:
    mru = entries(5)
    _, values, items = Session(mru).mru("frags=32")
    assert addresses(items) == [address for address, *_ in reversed(mru)]
    assert values["last.newest"] == values["last.4"] == v.timestamp(to_ntp64(mru[0][2]))
    assert "now" in values and "last.older" not in values


def test_a_batch_is_bounded_by_frags_and_the_next_one_resumes_after_the_named_entry() -> None:
    mru = entries(300)
    session = Session(mru)
    frames, values, items = session.mru("frags=4")
    assert len(frames) <= 4 and all(f.more for f in frames[:-1])
    got = addresses(items)
    assert got == [address for address, *_ in reversed(mru)][: len(got)] and "now" not in values
    last = [(n, val) for n, val in items if n.startswith("last.")][-1][1]
    _, values, items = session.mru(f"frags=32, last.0={last}, addr.0={got[-1]}")
    assert values["last.older"] == last and values["addr.older"] == got[-1]
    assert addresses(items)[0] == [address for address, *_ in reversed(mru)][len(got)]


def test_limit_bounds_the_entries_and_limit_one_fetches_the_named_entry() -> None:
    mru = entries(10)
    session = Session(mru)
    _, values, items = session.mru("limit=3")
    assert len(addresses(items)) == 3 and "now" not in values
    oldest = mru[-1]
    _, values, items = session.mru(f"limit=1, last.0={v.timestamp(to_ntp64(oldest[2]))}, addr.0={oldest[0]}")
    assert addresses(items) == [oldest[0]]


def test_a_starting_point_that_moved_is_refused_so_that_ntpq_backs_up() -> None:
    mru = entries(10)
    frames, _, _ = Session(mru).mru(f"frags=4, last.0={v.timestamp(to_ntp64(NOW - 1234.5))}, addr.0={mru[3][0]}")
    assert frames[0].error and frames[0].error_code == wire.CERR_UNKNOWNVAR


@pytest.mark.parametrize("params", ["mincount=1", "frags=129", "limit=257"])
def test_batch_size_out_of_bounds_is_badvalue(params: str) -> None:
    frames, _, _ = Session(entries(3)).mru(params)
    assert frames[0].error and frames[0].error_code == wire.CERR_BADVALUE


def test_filters_mincount_and_maxlstint() -> None:
    mru = entries(10)  # entry i: count 1 + i, heard i seconds ago
    _, _, items = Session(mru).mru("frags=32, mincount=5")
    assert addresses(items) == [address for address, _, _, count, _, _ in reversed(mru) if count >= 5]
    _, _, items = Session(mru).mru("frags=32, maxlstint=3")
    assert addresses(items) == [address for address, *_ in reversed(mru[:4])]


def test_the_running_length_is_the_rendered_length() -> None:
    """The fragment budget counts what _text will send: the running length equals the rendered body's."""
    rng = random.Random(7)
    for _ in range(200):
        items = [(f"n{i}", "v" * rng.randrange(0, 90)) for i in range(rng.randrange(0, 40))]
        body = TextBody()
        for name, value in items:
            body.add(name, value)
        assert body.length == len(render_items(items)) == len(body.encode())
        assert body.fragment == body.length // wire.CTL_MAX_DATA_LEN + 1
