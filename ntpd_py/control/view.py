"""What mode 6 may read of the engine: a read-only view in ntpd's names, order and value formats.

`ControlView` is the contract between the mode-6 responder and whatever it describes; `HostControlView`
reads an `NtpHost`. Values are the strings ntpd 4.2.8's ntp_control.c puts on the wire (ctl_put*, rendered by
`wire.control_values`); ntpq reformats some (`leap=0` shows as `leap=00`, `reach=0x1` as `reach=001`).

Two orders, as ntpd has them:
- without names (`rv`, `rv ASSID`), the default lists def_sys_var / def_peer_var, then, for the system, the
  drop counters ntpd has no names for (the engine's ss_badversion, ss_malformed_*, ..., the responder's ctl_*,
  the shell's io_* extras);
- by name (`rv 0 ss_uptime,peeradr`: ntpq's sysinfo, sysstats, pstats, iostats, authinfo, monstats, kerninfo,
  timerstats), every variable in ntpd's table order (the CS_* / CP_* codes), which is the order ntpd answers in.
Values ntpd leaves out when they do not apply (tai without a leap table, xleave without interleave, in/out,
bias, ttl, srchost) are left out here too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from ..clock.select import SELECTION_NAMES
from ..engine.association import Association
from ..protocol import STRATUM_UNSPEC
from ..wire import control_values as values

if TYPE_CHECKING:
    from ..engine.host import NtpHost

MALFORMED_REASONS = ("short", "version", "length", "extension", "mode")  # PacketError reasons, plus mode 0
DROP_COUNTERS = ("badformat", "badversion", "badauth", "declined", "restricted", "limited", "noassoc", "bogus",
                 "duplicate", "control_errors", "notproven")
CounterSource = Callable[[], Iterable[tuple[str, str]]]
Items = list[tuple[str, str]]

# ntp_control.c sys_var[] (CS_* codes, AUTOKEY build): the order of an answer by name
SYSTEM_TABLE = tuple("""
leap stratum precision rootdelay rootdisp refid reftime tc peer offset frequency sys_jitter clk_jitter clock
processor system version clk_wander sys_var_list tai leapsec expire mintc mru_enabled mru_depth mru_deepest
mru_mindepth mru_maxage mru_maxdepth mru_mem mru_maxmem ss_uptime ss_reset ss_received ss_thisver ss_oldver
ss_badformat ss_badauth ss_declined ss_restricted ss_limited ss_kodsent ss_processed ss_lamport ss_tsrounding
peeradr peermode bcastdelay authdelay authkeys authfreek authklookups authknotfound authkuncached authkexpired
authencrypts authdecrypts authreset koffset kfreq kmaxerr kesterr kstflags ktimeconst kprecis kfreqtol
kppsfreq kppsstab kppsjitter kppscalibdur kppscalibs kppscaliberrs kppsjitexc kppsstbexc iostats_reset
total_rbuf free_rbuf used_rbuf rbuf_lowater io_dropped io_ignored io_received io_sent io_sendfailed io_wakeups
io_goodwakeups timerstats_reset timer_overruns timer_xmts fuzz clk_wander_threshold leapsmearinterval
leapsmearoffset flags host update cert signature until ident digest
""".split())
# def_sys_var[]: `rv 0`
SYSTEM_DEFAULT = tuple("""
version processor system leap stratum precision rootdelay rootdisp refid reftime clock peer tc mintc offset
frequency sys_jitter clk_jitter clk_wander tai leapsec expire leapsmearinterval leapsmearoffset host ident
flags digest signature update cert
""".split())
# peer_var[] (CP_* codes)
PEER_TABLE = tuple("""
config authenable authentic srcadr srcport dstadr dstport leap hmode stratum ppoll hpoll precision rootdelay
rootdisp refid reftime org rec xleave reach unreach timer delay offset jitter dispersion keyid filtdelay
filtoffset pmode received sent filtdisp flash ttl peer_var_list in out headway bias srchost timerec timereach
badauth bogusorg oldpkt seldisp selbroken candidate flags host valid initsequence initkey timestamp signature
ident
""".split())
# def_peer_var[]: `rv ASSID`
PEER_DEFAULT = tuple("""
srcadr srcport srchost dstadr dstport out in leap stratum precision rootdelay rootdisp refid reftime rec reach
unreach hmode pmode hpoll ppoll headway flash keyid ttl offset delay dispersion jitter xleave bias filtdelay
filtoffset filtdisp host flags signature valid initsequence initkey timestamp ident
""".split())
# clock_var[] (CC_* codes): the order of `cv` by name; def_clock_var[]: `cv`
CLOCK_TABLE = tuple("""
type timecode poll noreply badformat baddata fudgetime1 fudgetime2 stratum refid flags device clock_var_list
minjitter
""".split())
CLOCK_DEFAULT = tuple("device timecode poll noreply badformat baddata fudgetime1 fudgetime2 stratum refid flags".split())
LOCAL_CLOCK_TYPE = 1  # REFCLK_LOCALCLOCK
LOCAL_CLOCK_DEVICE = "Undisciplined local clock"
# variables whose value ntpd writes right after another one's (CS_CERTIF writes cert= then until=;
# CP_INITSEQ writes initsequence=, initkey=, timestamp=): they keep their leader's place
FOLLOWERS = {"until": "cert", "initkey": "initsequence", "timestamp": "initsequence"}

# ntpd's res_access_bits (libntp/statestr.c), in its order: a flag's name when set, else the right it leaves
RESTRICT_WORDS = (("ignore", None), ("noserve", "serve"), ("notrust", "trust"), ("nopeer", "peer"),
                  ("noepeer", "epeer"), ("noquery", "query"), ("nomodify", None), ("notrap", "trap"),
                  ("lowpriotrap", None), ("limited", None), ("version", None), ("kod", None), ("mssntp", None),
                  ("nomrulist", None))
MRU_ENTRY_BYTES = 200  # an MRU entry's rough size in our table (ntpd's mon_entry is about 100 bytes)
WANDER_THRESHOLD = 1e-7  # ntpd's default clk_wander_threshold (s/s)


class ControlView(Protocol):
    """Everything the mode-6 responder reads; values already rendered as ntpd renders them."""

    def system_status(self) -> int:
        """The 16-bit system status word (leap, clock source, event count, last event)."""

    def system_variables(self) -> Items:
        """`rv 0` without names: ordered (name, value) pairs."""

    def named_system_variables(self) -> Items:
        """Every system variable readable by name (a superset of system_variables), in ntpd's table order."""

    def associations(self) -> list[tuple[int, int]]:
        """(assid, peer status word) for READSTAT on association 0, in association order."""

    def peer_status(self, assid: int) -> int | None:
        """Peer status word, or None for an unknown association."""

    def peer_variables(self, assid: int) -> Items | None:
        """`rv ASSID`: ordered (name, value) pairs, or None for an unknown association."""

    def named_peer_variables(self, assid: int) -> Items | None:
        """Every peer variable readable by name, in ntpd's table order, or None for an unknown association."""

    def clear_peer_events(self, assid: int) -> None:
        """ntpd resets a peer's event count when an authenticated request reads it."""

    def clock_variables(self, assid: int, *, named: bool = False) -> tuple[int, Items] | None:
        """`cv`: a reference clock's status word and variables (the defaults, or every one in table order when
        `named`); association 0 is the system peer when it is a clock, else the last configured clock (ntpd's
        read_clockstatus). None when that is no reference clock."""

    def mru_entries(self) -> list[tuple[str, float, float, int, int, int]]:
        """`ntpq -c mrulist`: (address:port, first, last, count, version<<3|mode, restrict bits), newest first."""

    def interface_rows(self) -> list[Items]:
        """`ntpq -c ifstats`: per local address, ntpd's addr, bcast, en, name, flags, tl, mc, rx, tx, txerr, pc, up."""

    def restriction_rows(self) -> list[Items]:
        """`ntpq -c reslist`: per restrict entry (IPv4 then IPv6, most specific first), addr, mask, hits, flags."""


def fmt_ms(seconds: float, places: int = 3) -> str:
    """Seconds shown as ntpd shows them: milliseconds with fixed decimals (ctl_putdbl / ctl_putdbl6)."""
    return values.fixed(seconds * 1e3, places)


def fmt_refid(refid: bytes, stratum: int) -> str:
    """ntpd's refid: text (ctl_putrefid) at stratum 0, 1 and 16, a dotted quad otherwise."""
    if stratum <= 1 or stratum >= STRATUM_UNSPEC:
        return values.refid_text(refid)
    return str(ipaddress.IPv4Address(refid))


def socket_text(address: str, port: int) -> str:
    """ntpd's sptoa: address:port, [v6 address]:port."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def in_order(items: Items, table: Sequence[str], default: Sequence[str] | None = None) -> Items:
    """Items sorted as ntpd answers: by `default` (only its names) or by `table` (then names ntpd lacks).
    A follower (until after cert) keeps its leader's place; a repeated name keeps its own order."""
    order = {name: i for i, name in enumerate(default if default is not None else table)}
    ranked = []
    leader_rank = len(order)
    for position, (name, value) in enumerate(items):
        rank = order.get(name)
        if name in FOLLOWERS and FOLLOWERS[name] in order:
            rank = leader_rank
        elif rank is None:
            if default is not None:
                continue
            rank = len(order)
        leader_rank = rank
        ranked.append((rank, position, name, value))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [(name, value) for _, _, name, value in ranked]


def restrict_text(flags: Iterable[str]) -> str:
    """A restrict entry's flags as ntpd's res_access_flags() writes them ("serve trust peer epeer query trap")."""
    given = set(flags)
    words = [name if name in given else granted for name, granted in RESTRICT_WORDS]
    return " ".join(word for word in words if word)


def var_list(table: Sequence[str]) -> str:
    """sys_var_list / peer_var_list: every name ntpd knows, quoted and comma-separated."""
    return '"' + ",".join(table) + '"'


class HostControlView:
    """ControlView over an NtpHost."""

    def __init__(self, host: NtpHost, counter_sources: Sequence[CounterSource] = ()) -> None:
        self.host = host
        # counters kept outside the engine (the mode-6 responder's ctl_*, the shell's io_*), shown with ours
        self.counter_sources: list[CounterSource] = list(counter_sources)

    # -- system

    def system_status(self) -> int:
        return self.host.system_status_word()

    def _uptime(self) -> int:
        return max(0, int(self.host._now - self.host.started))

    def _core_system(self) -> Items:
        """The variables of def_sys_var that the engine knows (Autokey adds its own)."""
        h, s = self.host, self.host.sys
        info = h.system_info
        from ..ntptime import to_ntp64

        return [
            ("version", values.quoted(info.get("version", "ntpd-py"))),
            ("processor", values.quoted(info.get("processor", ""))),
            ("system", values.quoted(info.get("system", ""))),
            ("leap", str(s.leap)),
            ("stratum", str(s.stratum)),
            ("precision", str(s.precision)),
            ("rootdelay", fmt_ms(s.root_delay)),
            ("rootdisp", fmt_ms(s.root_dispersion)),
            ("refid", fmt_refid(s.refid, s.stratum)),
            ("reftime", values.timestamp(s.reftime)),
            ("clock", values.timestamp(to_ntp64(h._now))),
            ("peer", str(s.peer or 0)),
            ("tc", str(s.poll)),
            ("mintc", "3"),
            ("offset", fmt_ms(s.offset, 6)),
            ("frequency", f"{h.discipline.frequency * 1e6:.3f}"),
            ("sys_jitter", fmt_ms(s.jitter, 6)),
            ("clk_jitter", fmt_ms(h.discipline.jitter)),
            ("clk_wander", "0.000"),
        ]

    def system_variables(self) -> Items:
        out = in_order(self._core_system() + self.host.authenticator.system_variables(), SYSTEM_TABLE,
                       SYSTEM_DEFAULT)
        out.extend(self.drop_counters())
        return out

    def named_system_variables(self) -> Items:
        """Every variable of ntpd's sys_var table we can give a value, then the counters ntpd lacks."""
        h = self.host
        uptime = str(self._uptime())
        c = h.counters
        extra = dict(self._source_counters())
        sys_peer = h.associations.get(h.sys.peer) if h.sys.peer else None
        symmetric_keys = len(h.symmetric.keys)
        mru_depth = len(h.mru)
        received = c["received"]
        out = self._core_system() + h.authenticator.system_variables() + [
            ("sys_var_list", var_list(SYSTEM_TABLE)),
            ("mru_enabled", values.hexadecimal(1)),
            ("mru_depth", str(mru_depth)),
            ("mru_deepest", str(h.mru.peak)),
            ("mru_mindepth", str(h.mru.maxdepth)),  # entries are reclaimed only when the table is full
            ("mru_maxage", "0"),  # ... whatever their age
            ("mru_maxdepth", str(h.mru.maxdepth)),
            ("mru_mem", str(round(mru_depth * MRU_ENTRY_BYTES / 1024))),
            ("mru_maxmem", str(round(h.mru.maxdepth * MRU_ENTRY_BYTES / 1024))),
            ("ss_uptime", uptime), ("ss_reset", uptime),
            *((f"ss_{name}", str(c[name])) for name in ("received", "thisver", "oldver")),
            *((f"ss_{name}", str(c[name])) for name in ("badformat", "badauth", "declined", "restricted", "limited", "kodsent",
                                                          "processed")),
            ("ss_lamport", "0"), ("ss_tsrounding", "0"),
            ("peeradr", socket_text(*sys_peer.srcadr) if sys_peer is not None else "0.0.0.0:0"),
            ("peermode", str(sys_peer.hmode if sys_peer is not None else 0)),
            ("bcastdelay", fmt_ms(h.broadcast_delay)),
            ("authdelay", fmt_ms(0.0)),
            ("authkeys", str(symmetric_keys)), ("authfreek", "0"),
            *((name, "0") for name in ("authklookups", "authknotfound", "authkuncached", "authkexpired",
                                       "authencrypts", "authdecrypts")),
            ("authreset", uptime),
            # no kernel loop (ntpd built without KERNEL_PLL shows the same): the clock is ours to discipline
            *((name, "0") for name in ("koffset", "kfreq", "kmaxerr", "kesterr")),
            ("kstflags", values.quoted("")),
            *((name, "0") for name in ("ktimeconst", "kprecis", "kfreqtol", "kppsfreq", "kppsstab", "kppsjitter",
                                       "kppscalibdur", "kppscalibs", "kppscaliberrs", "kppsjitexc", "kppsstbexc")),
            # asyncio has no receive-buffer pool: buffers are counted as one, never short
            ("iostats_reset", uptime), ("total_rbuf", "1"), ("free_rbuf", "1"), ("used_rbuf", "0"),
            ("rbuf_lowater", "0"),
            ("io_dropped", extra.get("io_receive_errors", "0")), ("io_ignored", "0"),
            ("io_received", str(received)), ("io_sent", extra.get("io_sent", str(c["sent"]))),
            ("io_sendfailed", extra.get("io_sendfailed", "0")),
            ("io_wakeups", str(received)), ("io_goodwakeups", str(received)),
            ("timerstats_reset", uptime), ("timer_overruns", "0"), ("timer_xmts", str(c["sent"])),
            ("fuzz", fmt_ms(2.0**h.sys.precision)),
            ("clk_wander_threshold", values.fixed(WANDER_THRESHOLD * 1e6)),
        ]
        named = {name for name, _ in out}
        out += [(name, value) for name, value in self.drop_counters() if name not in named]
        return in_order(out, SYSTEM_TABLE)

    def _source_counters(self) -> Items:
        out: Items = []
        for source in self.counter_sources:
            out.extend(source())
        return out

    def drop_counters(self) -> Items:
        """Why packets were dropped, listed in `rv 0` and readable by name: the engine's ss_* drop counters
        (ss_malformed_* say which shape was wrong), then the counters of `counter_sources` (ctl_*, io_*)."""
        h = self.host
        out = [(f"ss_{name}", str(h.counters[name])) for name in DROP_COUNTERS]
        out.append(("ss_malformed", str(sum(h.malformed.values()))))
        reasons = dict.fromkeys(MALFORMED_REASONS, 0) | h.malformed
        out.extend((f"ss_malformed_{reason}", str(count)) for reason, count in sorted(reasons.items()))
        out.extend(self._source_counters())
        return out

    def mru_entries(self) -> list[tuple[str, float, float, int, int, int]]:
        return self.host.mru.entries()

    def interface_rows(self) -> list[Items]:
        """Our endpoints are the addresses we serve (ntpd's INT_* flags: 0x1 up, 0x4 loopback); packets are
        counted per daemon, not per address, so the totals go on the first row."""
        h = self.host
        uptime = str(self._uptime())
        rows = []
        for index, address in enumerate(h.local_addresses or ["0.0.0.0"]):
            ip = ipaddress.ip_address(address)
            first = index == 0
            peers = sum(1 for a in h.associations.values() if a.dstadr == address)
            rows.append([
                ("addr", socket_text(address, h.port)), ("bcast", ""), ("en", "1"),
                ("name", values.quoted("lo" if ip.is_loopback else "")),
                ("flags", values.hexadecimal(0x1 | (0x4 if ip.is_loopback else 0))), ("tl", "0"), ("mc", "0"),
                ("rx", str(h.counters["received"]) if first else "0"), ("tx", str(h.counters["sent"]) if first else "0"),
                ("txerr", "0"), ("pc", str(peers)), ("up", uptime),
            ])
        return rows

    def restriction_rows(self) -> list[Items]:
        """Most specific first, each family's default last (0.0.0.0/0, ::/0), flags as ntpd's names."""
        table = self.host.restrict
        rows = []
        for version, default, any_address in ((4, table.default_v4, "0.0.0.0"), (6, table.default_v6, "::")):
            for entry in (e for e in table.entries if e.network.version == version):
                rows.append(self._restriction(str(entry.network.network_address), str(entry.network.netmask),
                                              entry.flags))
            rows.append(self._restriction(any_address, any_address, default))
        return rows

    @staticmethod
    def _restriction(address: str, mask: str, flags: Iterable[str]) -> Items:
        return [("addr", address), ("mask", mask), ("hits", "0"), ("flags", restrict_text(flags))]

    # -- associations

    def associations(self) -> list[tuple[int, int]]:
        h = self.host
        return [(a.assid, h.peer_status_word(a)) for a in h.associations.values()]

    def peer_status(self, assid: int) -> int | None:
        assoc = self.host.associations.get(assid)
        return None if assoc is None else self.host.peer_status_word(assoc)

    def clear_peer_events(self, assid: int) -> None:
        assoc = self.host.associations.get(assid)
        if assoc is not None:
            assoc.events.count = 0

    def _core_peer(self, a: Association) -> Items:
        h = self.host
        stages = a.filter.stages()
        refid = fmt_refid(a.refid, a.stratum) if not a.refclock else fmt_refid(a.refid, 0)
        return [
            ("srcadr", a.srcadr[0]),
            ("srcport", str(a.srcadr[1])),
            ("dstadr", a.dstadr or "0.0.0.0"),
            ("dstport", str(h.port)),
            ("leap", str(a.leap)),
            ("stratum", str(a.stratum)),
            ("precision", str(a.precision)),
            ("rootdelay", fmt_ms(a.root_delay)),
            ("rootdisp", fmt_ms(a.root_dispersion)),
            ("refid", refid),
            ("reftime", values.timestamp(a.reftime)),
            ("rec", values.timestamp(a.dst)),
            ("reach", values.reach(a.reach)),
            ("unreach", str(a.unreach)),
            ("hmode", str(a.hmode)),
            ("pmode", str(a.pmode)),
            ("hpoll", str(a.hpoll)),
            ("ppoll", str(a.ppoll)),
            ("headway", "0"),
            ("flash", values.hexadecimal(a.flash)),
            ("keyid", str(a.keyid or 0)),
            ("offset", fmt_ms(a.offset)),
            ("delay", fmt_ms(a.delay)),
            ("dispersion", fmt_ms(a.dispersion)),
            ("jitter", fmt_ms(a.jitter)),
            # ntpd shows xleave only when it is not zero, which happens once packets came in
            *((("xleave", "0.000"),) if a.received else ()),
            ("filtdelay", values.array_ms(d for d, _, _ in stages)),
            ("filtoffset", values.array_ms(o for _, o, _ in stages)),
            ("filtdisp", values.array_ms(p for _, _, p in stages)),
        ]

    def peer_variables(self, assid: int) -> Items | None:
        a = self.host.associations.get(assid)
        if a is None:
            return None
        auth = self.host.authenticator.peer_variables(a)
        # then what ntpd has no name for (Autokey's crypto_event, crypto_errors)
        return in_order(self._core_peer(a) + auth, PEER_TABLE, PEER_DEFAULT) + [
            item for item in auth if item[0] not in PEER_TABLE]

    def named_peer_variables(self, assid: int) -> Items | None:
        """Every variable of ntpd's peer_var table we can give a value (ntpq's pstats reads most of them)."""
        h = self.host
        a = h.associations.get(assid)
        if a is None:
            return None
        now = h._now
        since_received = now - (a.last_received or h.started)
        out = self._core_peer(a) + h.authenticator.peer_variables(a) + [
            ("config", str(int(a.configured))),
            ("authenable", str(int(a.authenable))),
            ("authentic", str(int(a.authentic))),
            ("org", values.timestamp(a.aorg)),
            ("timer", str(max(0, int(a.next_poll - now)))),
            ("received", str(a.received)),
            ("sent", str(a.sent)),
            ("peer_var_list", var_list(PEER_TABLE)),
            ("timerec", str(max(0, int(since_received)))),
            ("timereach", str(max(0, int(since_received if a.reach else now - h.started)))),
            ("badauth", str(a.bad_auth)),
            ("bogusorg", str(a.bogus)),
            ("oldpkt", str(a.duplicates)),
            ("seldisp", "0"),
            ("selbroken", "0"),
            ("candidate", str(a.selection)),
        ]
        return in_order(out, PEER_TABLE)

    def clock_variables(self, assid: int, *, named: bool = False) -> tuple[int, Items] | None:
        h = self.host
        if assid:
            a = h.associations.get(assid)
        else:
            peer = h.associations.get(h.sys.peer) if h.sys.peer is not None else None
            clocks = [c for c in h.associations.values() if c.refclock]
            a = peer if peer is not None and peer.refclock else (clocks[-1] if clocks else None)
        if a is None or not a.refclock:
            return None
        time1, time2 = a.refclock_time1, a.refclock_time2
        items = [
            ("type", str(LOCAL_CLOCK_TYPE)),
            ("timecode", values.quoted("")),
            ("poll", str(a.refclock_polls)),
            ("noreply", "0"),
            ("badformat", "0"),
            ("baddata", "0"),
            # ntpd's refclock_control leaves a zero fudge time out of the default list
            *((("fudgetime1", fmt_ms(time1)),) if named or time1 else ()),
            *((("fudgetime2", fmt_ms(time2)),) if named or time2 else ()),
            ("stratum", str(a.refclock_stratum)),
            ("refid", values.refid_text(a.refclock_refid)),
            ("flags", str(a.refclock_flags)),
            ("device", values.quoted(LOCAL_CLOCK_DEVICE)),
        ]
        if named:
            return 0, in_order(items + [("clock_var_list", var_list(CLOCK_TABLE))], CLOCK_TABLE)
        return 0, in_order(items, CLOCK_TABLE, CLOCK_DEFAULT)  # the local driver: no events, clk_unspec

    def condition(self, assid: int) -> str:
        """The condition ntpq's `as` prints for an association (sys.peer, candidate, ...)."""
        a = self.host.associations.get(assid)
        return "" if a is None else SELECTION_NAMES[a.selection]
