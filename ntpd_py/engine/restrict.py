"""`restrict` and `discard` as ntpd enforces them: the most specific matching entry wins.

Flags are kept as ntpd's names. Rate limiting (`limited`) is ntpd 4.2.8's monitor (ntp_monitor.c): one
leaky bucket per source address (all ports and modes together), counted in whole seconds. Each packet
drains the bucket by the seconds since the previous one (rounded to the nearest second) and adds the
headway 2^average - 2 (a 2-s grace); a packet is limited when it comes less than `minimum` - 1 s after the
previous one (rounded) or when the bucket would reach 8 headways. The first limited packet of a run fills
the bucket to 9 headways and may draw a KoD (`kod`); later limited packets leave it alone and draw none
until it has drained below 8 headways again: KoDs are themselves rate-limited to the average headway.

    decision = table.monitor(address, now)   # -> Limit.OK | Limit.LIMITED | Limit.KOD

`discard monitor N` (ntpd's mon_age, 3000 s) says how old the oldest entry of a full table must be before a
new source may take its place; younger than that, the newcomer replaces it only with probability
age/monitor, and is otherwise not tracked (never limited), as ntpd does.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections import OrderedDict
from dataclasses import dataclass, field

from ..protocol import NTP_SHIFT
from .mru import restrict_bits

DEFAULT_AVERAGE = 3  # log2 seconds (ntpd's ntp_minpoll, `discard average`)
DEFAULT_MINIMUM = 2  # seconds (ntpd's ntp_minpkt, `discard minimum`)
DEFAULT_MONITOR = 3000  # seconds (ntpd's mon_age, `discard monitor`)
HEADWAY_GRACE = 2  # seconds taken off each headway increment (ntpd: "a 2-s grace")
MRU_MAX = 4096
KNOWN_FLAGS = frozenset({"ignore", "noquery", "nomodify", "nopeer", "noserve", "notrap", "notrust", "kod",
                         "limited", "version", "lowpriotrap", "nomrulist", "ntpport", "noepeer", "mssntp"})


@dataclass(frozen=True)
class RestrictEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    flags: frozenset[str]
    origin: str = ""


class Limit(enum.Enum):
    """What the monitor says of one packet: serve it, drop it, or drop it and send a RATE kiss."""

    OK = "ok"
    LIMITED = "limited"
    KOD = "kod"


@dataclass
class _Bucket:
    last: float
    leak: int = 0
    count: int = 1


def whole_seconds(interval: float) -> int:
    """ntpd's interval: the l_fp difference plus one half, integer part (floor)."""
    return int((interval + 0.5) // 1)


def leaky_bucket(leak: int, interval: int, average: int, minimum: int) -> tuple[int, Limit]:
    """One packet through ntp_monitor.c's bucket: (new leak, verdict), for a packet `interval` whole seconds
    after the previous one. Shared by the server's limiter and the client's model of it (engine/pacing.py)."""
    head = 1 << average
    limit = NTP_SHIFT * head
    leak = max(0, leak - interval)
    if interval + 1 >= minimum and leak + head < limit:
        return leak + head - HEADWAY_GRACE, Limit.OK
    if leak < limit:
        return limit + head, Limit.KOD
    return leak, Limit.LIMITED


@dataclass
class RestrictTable:
    """Entries plus the rate limiter state; `lookup(address)` returns the flags that apply."""

    entries: list[RestrictEntry] = field(default_factory=list)
    default_v4: frozenset[str] = frozenset()
    default_v6: frozenset[str] = frozenset()
    average: int = DEFAULT_AVERAGE
    minimum: int = DEFAULT_MINIMUM
    monitor_age: int = DEFAULT_MONITOR
    capacity: int = MRU_MAX
    rng: random.Random = field(default_factory=random.Random)
    _cache: dict[str, frozenset[str]] = field(default_factory=dict)
    _quick: dict[str, int | None] = field(default_factory=dict)
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
        self._quick.clear()

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

    def quick_bits(self, address: str, exclude: frozenset[str]) -> int | None:
        """The RES_* bits of `address` (for the MRU list), or None when any of its flags is in `exclude`; one
        dict look-up per packet on a server's hot path (the same `exclude` on every call)."""
        try:
            return self._quick[address]
        except KeyError:
            pass
        flags = self.lookup(address)
        bits = None if not flags.isdisjoint(exclude) else restrict_bits(flags)
        if len(self._quick) > MRU_MAX:
            self._quick.clear()
        self._quick[address] = bits
        return bits

    def monitor(self, address: str, now: float, *, burst_ok: bool = False) -> Limit:
        """Account one packet from `address` at `now` in its bucket; the limiter's verdict (see module doc).
        `burst_ok` waives `minimum` (the bucket still applies): ntpq's back-to-back mode-6 requests."""
        bucket = self._mru.get(address)
        if bucket is None:
            if len(self._mru) >= self.capacity:
                _, oldest = next(iter(self._mru.items()))
                age = whole_seconds(now - oldest.last)
                if age <= self.monitor_age and self.rng.random() > age / max(1, self.monitor_age):
                    return Limit.OK  # every entry is recent: the newcomer is not tracked (ntpd does the same)
                self._mru.popitem(last=False)
            self._mru[address] = _Bucket(now)
            return Limit.OK
        self._mru.move_to_end(address)
        interval = whole_seconds(now - bucket.last)
        bucket.last = now
        bucket.count += 1
        bucket.leak, verdict = leaky_bucket(bucket.leak, interval, self.average, 0 if burst_ok else self.minimum)
        return verdict

    def rate_limited(self, address: str, now: float) -> bool:
        """Account one packet; True when `discard average/minimum` refuse it (with or without a KoD)."""
        return self.monitor(address, now) is not Limit.OK

    def keep_buckets(self, previous: RestrictTable) -> None:
        """Take over `previous`'s buckets (SIGHUP builds a new table: a reload must not forgive a flood)."""
        self._mru = previous._mru

    def leak(self, address: str) -> int | None:
        """The bucket of `address` in seconds of headway (None when not tracked): for tests and mode 6."""
        bucket = self._mru.get(address)
        return None if bucket is None else bucket.leak

    def mru(self) -> list[tuple[str, float, int]]:
        """(address, last seen, count) most recent last: what ntpq's mrulist would show."""
        return [(a, b.last, b.count) for a, b in self._mru.items()]
