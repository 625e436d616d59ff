"""`restrict` and `discard` as ntpd enforces them: the most specific matching entry wins.

Flags are kept as ntpd's names. Rate limiting (`limited`) follows ntpd's MRU idea: a per-source leaky
bucket in which each packet adds 2^average seconds of "headway" and time drains it; a source that sends
faster than once every 2^average seconds on average (after a burst allowance), or twice within `minimum`
seconds, is limited. With `kod` as well, a limited client gets a RATE kiss-o'-death instead of silence.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field

DEFAULT_AVERAGE = 3  # log2 seconds (ntpd's ntp_minpoll)
DEFAULT_MINIMUM = 2  # seconds (ntpd's ntp_minpkt)
BURST_ALLOWANCE = 8  # packets allowed back to back before the average applies
MRU_MAX = 4096
KNOWN_FLAGS = frozenset({"ignore", "noquery", "nomodify", "nopeer", "noserve", "notrap", "notrust", "kod",
                         "limited", "version", "lowpriotrap", "nomrulist", "ntpport", "noepeer", "mssntp"})


@dataclass(frozen=True)
class RestrictEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    flags: frozenset[str]
    origin: str = ""


@dataclass
class _Bucket:
    last: float
    leak: float = 0.0
    count: int = 0


@dataclass
class RestrictTable:
    """Entries plus the rate limiter state; `lookup(address)` returns the flags that apply."""

    entries: list[RestrictEntry] = field(default_factory=list)
    default_v4: frozenset[str] = frozenset()
    default_v6: frozenset[str] = frozenset()
    average: int = DEFAULT_AVERAGE
    minimum: float = DEFAULT_MINIMUM
    _cache: dict[str, frozenset[str]] = field(default_factory=dict)
    _mru: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def add(self, address: str, mask: str | None, flags: frozenset[str] | set[str], origin: str = "") -> None:
        """Add `restrict ADDRESS [mask MASK] FLAGS`; "default" sets both families' defaults."""
        flags = frozenset(flags)
        if address == "default":
            self.default_v4 = self.default_v6 = flags
        elif address in ("-4 default", "default4"):
            self.default_v4 = flags
        elif address in ("-6 default", "default6"):
            self.default_v6 = flags
        else:
            ip = ipaddress.ip_address(address)
            if mask is None:
                net = ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")
            else:
                net = ipaddress.ip_network(f"{ip}/{mask}", strict=False)
            self.entries = [e for e in self.entries if e.network != net] + [RestrictEntry(net, flags, origin)]
            self.entries.sort(key=lambda e: e.network.prefixlen, reverse=True)
        self._cache.clear()

    def lookup(self, address: str) -> frozenset[str]:
        flags = self._cache.get(address)
        if flags is not None:
            return flags
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return frozenset({"ignore"})
        flags = self.default_v6 if ip.version == 6 else self.default_v4
        for entry in self.entries:
            if entry.network.version == ip.version and ip in entry.network:
                flags = entry.flags
                break
        if len(self._cache) > MRU_MAX:
            self._cache.clear()
        self._cache[address] = flags
        return flags

    def rate_limited(self, address: str, now: float) -> bool:
        """Account one packet from `address`; True when it exceeds `discard average/minimum`."""
        bucket = self._mru.get(address)
        headway = float(1 << self.average)
        if bucket is None:
            if len(self._mru) >= MRU_MAX:
                self._mru.popitem(last=False)
            self._mru[address] = _Bucket(now, headway, 1)
            return False
        self._mru.move_to_end(address)
        interval = now - bucket.last
        bucket.leak = max(0.0, bucket.leak - interval)
        bucket.last = now
        bucket.count += 1
        limited = interval < self.minimum - 0.25 or bucket.leak > headway * BURST_ALLOWANCE
        if not limited:
            bucket.leak += headway
        return limited

    def mru(self) -> list[tuple[str, float, int]]:
        """(address, last seen, count) most recent last: what ntpq's mrulist would show."""
        return [(a, b.last, b.count) for a, b in self._mru.items()]
