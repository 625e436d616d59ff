"""The engine's MRU table: bounded, newest first, one entry per source address and port, fed by both the
quick and the full server path, and shown through the ControlView as the mode-6 responder wants it."""

from __future__ import annotations

import time

from core_sim import T0, make_host

from ntpd_py.control.view import HostControlView
from ntpd_py.engine.mru import MruTable, restrict_bits

CONF = "server 127.127.1.0\nfudge 127.127.1.0 stratum 8\n"


def request(version: int = 4, mode: int = 3) -> bytes:
    return bytes([version << 3 | mode]) + bytes(47)


def test_table_orders_counts_and_evicts_the_oldest():
    table = MruTable(maxdepth=3)
    for i, src in enumerate([("10.0.0.1", 123), ("10.0.0.2", 123), ("10.0.0.1", 123), ("10.0.0.3", 5)]):
        table.note(src, 100.0 + i, 0x23)
    assert [e[0] for e in table.entries()] == ["10.0.0.3:5", "10.0.0.1:123", "10.0.0.2:123"]
    assert table.entries()[1] == ("10.0.0.1:123", 100.0, 102.0, 2, 0x23, 0)
    table.note(("::1", 123), 200.0, 0x1B)
    assert len(table) == 3 and table.entries()[0][0] == "[::1]:123"
    assert "10.0.0.2:123" not in [e[0] for e in table.entries()]  # the least recently seen left


def test_table_cost_does_not_grow_with_its_size():
    table = MruTable(maxdepth=100_000)
    sources = [(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 123) for i in range(100_000)]
    start = time.perf_counter()
    for src in sources:
        table.note(src, 1.0, 0x23)
    for src in sources:  # now full: every new source evicts one
        table.note((src[0], 124), 2.0, 0x23)
    elapsed = time.perf_counter() - start
    assert len(table) == 100_000 and elapsed < 10.0  # ~1 us a packet (0.2 s); an O(n) step would take hours


def test_restrict_bits_are_ntpds():
    assert restrict_bits({"noquery", "nomodify", "kod", "limited"}) == 0x0080 | 0x0100 | 0x0800 | 0x0040
    assert restrict_bits(set()) == 0


def test_host_records_quick_and_full_path_sources():
    host = make_host(CONF + "restrict default kod nomodify notrap nopeer noquery limited\n"
                     "restrict 127.0.0.9\n", "127.0.0.1")
    host.quick_reply(request(), ("127.0.0.9", 5), T0 + 1)
    host.quick_reply(request(), ("127.0.0.9", 5), T0 + 2)
    host.receive_datagram(request(version=3), ("127.0.0.8", 6), "127.0.0.1", T0 + 3)
    entries = HostControlView(host).mru_entries()
    assert entries[0] == ("127.0.0.8:6", T0 + 3, T0 + 3, 1, 3 << 3 | 3,
                          restrict_bits({"kod", "nomodify", "notrap", "nopeer", "noquery", "limited"}))
    assert entries[1] == ("127.0.0.9:5", T0 + 1, T0 + 2, 2, 0x23, 0)
