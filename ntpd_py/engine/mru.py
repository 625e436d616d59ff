"""The MRU list (ntpd's monitor, `ntpq -c mrulist`): who sent us what, most recent first, bounded.

One entry per source address and port, as ntpd's mon_entry: first and last seen, packet count, the last
packet's version and mode, and the restrict flags that applied (ntpd's RES_* bits). The table is an
OrderedDict, so a packet costs one lookup and one move to the end, and the oldest entry leaves when the
table is full, as ntpd's `mru maxdepth` bounds its list (ntpd sizes it by memory; we count entries).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

DEFAULT_MAXDEPTH = 1024

# ntpd 4.2.8p15 include/ntp.h RES_* (restrict flags as mode 6 shows them in `rs.N`)
RESTRICT_BITS = {
    "ignore": 0x0001, "noserve": 0x0002, "notrust": 0x0004, "version": 0x0008, "nopeer": 0x0010,
    "noepeer": 0x0020, "limited": 0x0040, "noquery": 0x0080, "nomodify": 0x0100, "notrap": 0x0200,
    "lowpriotrap": 0x0400, "kod": 0x0800, "mssntp": 0x1000, "nomrulist": 0x4000,
}


def restrict_bits(flags: Iterable[str]) -> int:
    """The RES_* bit mask for restrict flag names (unknown names count for nothing)."""
    bits = 0
    for name in flags:
        bits |= RESTRICT_BITS.get(name, 0)
    return bits


class MruTable:
    """Bounded most-recently-used table keyed by (address, port); `entries()` newest first."""

    __slots__ = ("maxdepth", "peak", "_table")

    def __init__(self, maxdepth: int = DEFAULT_MAXDEPTH) -> None:
        self.maxdepth = max(1, maxdepth)
        self.peak = 0  # the most entries ever held (ntpd's mru_peakentries, `ntpq -c monstats`)
        self._table: OrderedDict[tuple[str, int], list] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def note(self, src: tuple, now: float, vn_mode: int, rflags: int = 0) -> None:
        """One packet from `src` ((address, port), or a socket's longer IPv6 tuple) at `now`; the first
        byte's version and mode in `vn_mode` (its low 6 bits)."""
        if len(src) != 2:
            src = src[:2]
        table = self._table
        entry = table.get(src)
        if entry is None:
            if len(table) >= self.maxdepth:
                table.popitem(last=False)
            table[src] = [now, now, 1, vn_mode, rflags]
            if len(table) > self.peak:
                self.peak = len(table)
            return
        table.move_to_end(src)
        entry[1] = now
        entry[2] += 1
        entry[3] = vn_mode
        entry[4] = rflags

    def entries(self) -> list[tuple[str, float, float, int, int, int]]:
        """(address:port, first, last, count, version<<3|mode, restrict bits), newest first."""
        out = []
        for (address, port), (first, last, count, vn_mode, rflags) in reversed(self._table.items()):
            shown = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            out.append((shown, first, last, count, vn_mode, rflags))
        return out
