"""The sans-IO NTP host: bytes and a time in, bytes and log lines out.

    host = NtpHost(config, now=t0, authenticator=..., control_handler=..., local_addresses=["127.0.0.5"])
    out = host.receive_datagram(data, src=("127.0.0.9", 123), dst="127.0.0.5", now=t)   # -> [Outgoing]
    out = host.handle_timers(now=t)                                                        # -> [Outgoing]
    host.next_timer()                                                                      # when to call again
    host.take_log(); host.take_stats()                                                     # lines for the shell

It answers client requests (mode 3) from a precomputed reply template, runs client, symmetric and
broadcast associations through the clock filter and the selection algorithms, enforces `restrict`, and
counts everything it drops. Authentication goes through an `Authenticator` (engine/auth.py); mode-6
packets go to the `control_handler` given at construction, which reads this host through `ControlView`.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..auth.keyfile import SymmetricKey
from ..clock.discipline import ClockAdjuster, ClockDiscipline, NullClock
from ..clock.filter import NTP_SHIFT, PHI
from ..clock.select import SEL_SYSPEER, Candidate, SelectOptions, Selection, select
from ..config.model import NtpConfig
from ..ntptime import ntp64_stamp, to_ntp64
from ..wire.packet import (HEADER_LEN, NtpPacket, PacketError, decode, encode_header, ntp_diff, refid_from_ipv4,
                           refid_from_text)
from .association import (BURST_INTERVAL, MODE_ACTIVE, MODE_BCLIENT, MODE_BROADCAST, MODE_CLIENT, MODE_PASSIVE,
                          MODE_SERVER, NTP_IBURST, NTP_UNREACH, TEST_AUTH, TEST_AUTOKEY, TEST_BOGUS, TEST_DUPLICATE,
                          TEST_INVALID, TEST_UNSYNC, Association)
from .auth import Authenticator, AuthResult, SymmetricKeyAuth, Verdict
from .events import (EVNT_NOPEER, EVNT_SYSRESTART, PEER_EVENT_NAMES, PEVNT_AUTH, PEVNT_DEMOBIL, PEVNT_DENY,
                     PEVNT_MOBIL, PEVNT_NEWPEER, PEVNT_RATE, PEVNT_REACH, PEVNT_UNREACH, SST_LOCAL, SST_NTP,
                     SST_UNSPEC, SYSTEM_EVENT_NAMES, EventCounter, peer_status, system_status)
from .fastpath import quick_mac_reply
from .loglimit import LogLimiter
from .mru import MruTable, restrict_bits
from .pacing import ServerPacer
from .restrict import DEFAULT_AVERAGE, DEFAULT_MINIMUM, DEFAULT_MONITOR, Limit, RestrictTable

Address = tuple[str, int]
ControlHandler = Callable[[bytes, Address, float], list[bytes]]

LEAP_NOWARNING, LEAP_NOTINSYNC = 0, 3
STRATUM_UNSPEC = 16
NTP_MINPOLL = 3
MINDISPERSE = 0.001
LOOPBACK_REFID = bytes([127, 0, 0, 1])
DEFAULT_ORPHANWAIT = 300.0
DEFAULT_BROADCASTDELAY = 0.004
BROADCAST_DELAY_LIMIT = 0.050  # ntpd's BDELAY_DEFAULT: a measured broadcast delay above this is not believed
LOCAL_CLOCK_PREFIX = "127.127.1."
_REPLY = struct.Struct("!BBBb20s8sQQ")
_MID = struct.Struct("!II4sQ")
# restrict flags that change how a client request is answered: such sources take the full path
# peer events that any (spoofed) packet can cause: logged a few times a minute, counted always
_PACKET_EVENTS = frozenset({PEVNT_AUTH, PEVNT_RATE, PEVNT_DENY})
_PACED = (MODE_CLIENT, MODE_ACTIVE)  # modes whose packets a server's limiter counts before answering
_NOT_QUICK = frozenset({"ignore", "noserve", "notrust", "limited", "version"})
COUNTER_NAMES = ("received", "thisver", "oldver", "badversion", "badformat", "badauth", "declined", "restricted",
                 "limited", "kodsent", "processed", "control", "mode7", "noassoc", "bogus", "duplicate",
                 "sent", "control_errors", "notproven")
# Ephemeral associations (symmetric passive, broadcast client) are made by strangers' packets: bounded, so
# that no flood can grow memory or the timer's work (ntpd bounds them only per address, with ippeerlimit)
EPHEMERAL_MAX = 64
ASSOCIATION_MAX = 65535  # association IDs are 16 bits, 0 excluded
IPPEERLIMIT_PREFIX = "ippeerlimit="  # restrict entries carry their ippeerlimit among their flags


@dataclass(slots=True)
class Outgoing:
    """A datagram to send: payload, destination (ip, port) and the local address to send it from."""

    data: bytes
    dst: Address
    src: str | None = None


@dataclass
class SystemState:
    """RFC 5905 system variables."""

    leap: int = LEAP_NOTINSYNC
    stratum: int = STRATUM_UNSPEC
    precision: int = -20
    root_delay: float = 0.0
    root_dispersion: float = 0.0
    refid: bytes = b"INIT"
    reftime: int = 0
    peer: int | None = None
    source: int = SST_UNSPEC
    offset: float = 0.0
    jitter: float = 0.0
    poll: int = NTP_MINPOLL
    poll_counter: int = 0
    orphan: bool = False
    events: EventCounter = field(default_factory=EventCounter)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


class NtpHost:
    """One NTP daemon's state, without sockets or clocks (see module docstring)."""

    def __init__(self, config: NtpConfig, now: float, *, authenticator: Authenticator | None = None,
                 keys: Mapping[int, SymmetricKey] | None = None, control_handler: ControlHandler | None = None,
                 local_addresses: Sequence[str] = (), clock: ClockAdjuster | None = None, precision: int = -20,
                 resolve: Callable[[str], str | None] | None = None, rng: random.Random | None = None,
                 system_info: Mapping[str, str] | None = None, send_clock: Callable[[], float] | None = None) -> None:
        self.config = config
        # the time a reply leaves (its transmit timestamp, taken as late as the MAC allows); the shell passes
        # time.time, simulations leave it out and replies then carry the receive time
        self.send_clock = send_clock
        self.started = now
        self._now = now
        self.rng = rng or random.Random()
        self.local_addresses = list(local_addresses)
        self.port = config.listen_port
        self.symmetric = SymmetricKeyAuth(keys or {}, set(config.trustedkeys))
        self.authenticator: Authenticator = authenticator or self.symmetric
        self.control_handler = control_handler
        self.system_info = dict(system_info or {})
        self.sys = SystemState(precision=precision)
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)
        self.malformed: dict[str, int] = {}
        self.mru = MruTable()  # who sent us NTP packets (ntpq -c mrulist)
        self.associations: dict[int, Association] = {}
        self._by_address: dict[Address, Association] = {}
        self._next_assid = self.rng.randint(1000, 60000)
        self._log: list[str] = []
        self.log_limiter = LogLimiter()  # lines caused by (possibly spoofed) packets: a few a minute per kind
        self._stats: list[tuple[str, float, str]] = []
        self.discipline_enabled = config.discipline
        self.clock: ClockAdjuster = clock if clock is not None and self.discipline_enabled else NullClock()
        self.discipline = ClockDiscipline(self.clock)
        self.restrict = RestrictTable()
        self._pacers: dict[Address, ServerPacer] = {}  # our packets as each server's limiter sees them
        self.select_options = SelectOptions()
        self.orphan_stratum = STRATUM_UNSPEC
        self.orphan_at = now + DEFAULT_ORPHANWAIT
        self.broadcast_client = config.broadcastclient or "bclient" in config.enabled
        self.broadcast_delay = config.broadcastdelay if config.broadcastdelay is not None else DEFAULT_BROADCASTDELAY
        self._apply_config(config, resolve)
        self._sys_event(EVNT_SYSRESTART)
        self._rebuild_template()

    # ------------------------------------------------------------------ configuration
    def _apply_config(self, config: NtpConfig, resolve: Callable[[str], str | None] | None) -> None:
        self._apply_restrict(config)
        tos = config.tos
        self.select_options = SelectOptions(
            minsane=int(tos.get("minsane", 1)), minclock=int(tos.get("minclock", 3)),
            maxclock=int(tos.get("maxclock", 10)), maxdist=float(tos.get("maxdist", 1.5)),
            mindist=float(tos.get("mindist", MINDISPERSE)), ceiling=int(tos.get("ceiling", STRATUM_UNSPEC - 1)))
        if "orphan" in tos:
            self.orphan_stratum = int(tos["orphan"])
        self.orphan_at = self.started + float(tos.get("orphanwait", DEFAULT_ORPHANWAIT))
        fudges = {f.address: f for f in config.fudges}
        for item in config.associations:
            where = f"{item.origin}"
            if item.kind in ("pool", "manycastclient"):
                self.log(f"{where}: {item.kind} {item.address}: not supported by ntpd-py, ignored")
                continue
            address = item.address
            if item.is_refclock:
                if not address.startswith(LOCAL_CLOCK_PREFIX):
                    self.log(f"{where}: reference clock {address}: only the local clock 127.127.1.u is supported")
                    continue
                fudge = fudges.get(address)
                assoc = self._mobilize((address, 0), MODE_CLIENT, configured=True, refclock=True,
                                       minpoll=item.minpoll, maxpoll=item.maxpoll, prefer=item.prefer)
                if fudge is not None and fudge.stratum is not None:
                    assoc.refclock_stratum = fudge.stratum
                if fudge is not None and fudge.refid:
                    assoc.refclock_refid = refid_from_text(fudge.refid)
                continue
            if not _is_ip(address):
                resolved = resolve(address) if resolve else None
                if resolved is None:
                    self.log(f"{where}: cannot resolve {address!r}, association skipped")
                    continue
                address = resolved
            hmode = {"server": MODE_CLIENT, "peer": MODE_ACTIVE, "broadcast": MODE_BROADCAST}[item.kind]
            self._mobilize((address, self.port), hmode, configured=True, version=item.version,
                           minpoll=item.minpoll, maxpoll=item.maxpoll, iburst=item.iburst, burst=item.burst,
                           prefer=item.prefer, noselect=item.noselect, keyid=item.key, autokey=item.autokey,
                           ident=item.ident)
        for group in config.manycastservers:
            self.log(f"manycastserver {group}: manycast is not supported by ntpd-py, ignored")
        client_polls = [a.minpoll for a in self.associations.values() if not a.refclock]
        self.sys.poll = max(NTP_MINPOLL, min(client_polls)) if client_polls else NTP_MINPOLL

    def _apply_restrict(self, config: NtpConfig) -> None:
        discard = config.discard
        table = RestrictTable(average=int(discard.get("average", DEFAULT_AVERAGE)),
                              minimum=int(discard.get("minimum", DEFAULT_MINIMUM)),
                              monitor_age=int(discard.get("monitor", DEFAULT_MONITOR)), rng=self.rng)
        table.keep_buckets(self.restrict)
        for item in config.restricts:
            address = item.address
            if address == "default" and item.ipv == 6:
                address = "-6 default"
            elif address == "default" and item.ipv == 4:
                address = "-4 default"
            elif address == "source" or not (address.startswith("-") or address == "default" or _is_ip(address)):
                self.log(f"{item.origin}: restrict {address}: only addresses and default are enforced, ignored")
                continue
            flags = item.flags
            if getattr(item, "ippeerlimit", None) is not None and item.ippeerlimit >= 0:
                flags = flags | {f"{IPPEERLIMIT_PREFIX}{item.ippeerlimit}"}
            table.add(address, item.mask, flags, str(item.origin))
        for local in self.local_addresses:  # ntpd never restricts its own interface addresses
            exact = any(e.network.prefixlen == e.network.max_prefixlen and str(e.network.network_address) == local
                        for e in table.entries)
            if _is_ip(local) and not exact:
                table.add(local, None, frozenset(), "interface")
        self.restrict = table
        self._restricting = bool(table.default_v4 or table.default_v6 or any(e.flags for e in table.entries))

    def reload(self, config: NtpConfig, keys: Mapping[int, SymmetricKey] | None, now: float) -> None:
        """SIGHUP: new restrictions, keys and trusted keys; associations and their state are kept."""
        self.config = config
        self._apply_restrict(config)
        self.symmetric.replace_keys(keys or {}, set(config.trustedkeys))
        self.authenticator.reload(now)
        for assoc in self.associations.values():
            self._follow_authenticator(assoc, now)
        self.log("configuration reloaded (restrict, keys, trustedkey)")

    # ------------------------------------------------------------------ associations
    def _mobilize(self, srcadr: Address, hmode: int, **kwargs) -> Association:
        if len(self.associations) >= ASSOCIATION_MAX:
            raise RuntimeError("no free association ID")  # unreachable: ephemeral ones are capped far below
        self._next_assid = self._next_assid % ASSOCIATION_MAX + 1
        while self._next_assid in self.associations:  # ends: fewer than ASSOCIATION_MAX IDs are in use
            self._next_assid = self._next_assid % ASSOCIATION_MAX + 1
        dstadr = kwargs.pop("dstadr", None) or self._local_for(srcadr[0])
        assoc = Association(assid=self._next_assid, srcadr=srcadr, hmode=hmode, dstadr=dstadr, **kwargs)
        assoc.filter.precision = 2.0**self.sys.precision
        self.associations[assoc.assid] = assoc
        self._by_address[srcadr] = assoc
        assoc.start(self._now, self.rng)
        self._peer_event(assoc, PEVNT_MOBIL)
        return assoc

    def _ephemeral_refused(self, src: Address, flags: frozenset[str]) -> str | None:
        """Why a new ephemeral association from `src` may not be made (None: it may): ntpd's newpeer()
        limits per address (`ippeerlimit`); we also cap their number (EPHEMERAL_MAX)."""
        limit = next((int(f[len(IPPEERLIMIT_PREFIX):]) for f in flags if f.startswith(IPPEERLIMIT_PREFIX)), None)
        if limit is not None and sum(1 for a in self.associations.values() if a.srcadr[0] == src[0]) >= limit:
            return "ippeerlimit"
        if sum(1 for a in self.associations.values() if not a.configured) >= EPHEMERAL_MAX:
            return "ephemeral associations at their limit"
        return None

    def _demobilize(self, assoc: Association) -> None:
        self._peer_event(assoc, PEVNT_DEMOBIL)
        self.associations.pop(assoc.assid, None)
        if self._by_address.get(assoc.srcadr) is assoc:
            del self._by_address[assoc.srcadr]
            self._pacers.pop(assoc.srcadr, None)
        if self.sys.peer == assoc.assid:
            self.sys.peer = None

    def _local_for(self, remote: str) -> str | None:
        if not self.local_addresses:
            return None
        try:
            version = ipaddress.ip_address(remote).version
        except ValueError:
            return self.local_addresses[0]
        for local in self.local_addresses:
            if _is_ip(local) and ipaddress.ip_address(local).version == version:
                return local
        return self.local_addresses[0]

    # ------------------------------------------------------------------ events and records
    def log(self, line: str) -> None:
        self._log.append(line)

    def record(self, kind: str, line: str) -> None:
        """A statistics line for filegen `kind` (cryptostats, protostats...), stamped with the engine's time."""
        self._stats.append((kind, self._now, line))

    def take_log(self) -> list[str]:
        out, self._log = self._log, []
        return out

    def take_stats(self) -> list[tuple[str, float, str]]:
        """(filegen name, time, line without the MJD/seconds prefix) records for daemon/stats.py."""
        out, self._stats = self._stats, []
        return out

    def _peer_event(self, assoc: Association, code: int) -> None:
        if assoc.events.report(code):
            line = f"{assoc.srcadr[0]} {self.peer_status_word(assoc):04x} {code | 0x80:02x} {PEER_EVENT_NAMES[code]}"
            if code in _PACKET_EVENTS and not self._log_allowed(PEER_EVENT_NAMES[code]):
                return  # counted (assoc.bad_auth, ss_badauth...), not written: strangers cannot fill the disk
            self.log(line)
            self.record("protostats", line)

    def _log_allowed(self, kind: str) -> bool:
        """Rate-limit a line that a packet caused (engine/loglimit.py); summaries owed go out first."""
        if not self.log_limiter.allow(kind, self._now):
            return False
        for summary in self.log_limiter.flush(self._now):
            self.log(summary)
        return True

    def _sys_event(self, code: int) -> None:
        if self.sys.events.report(code):
            line = f"0.0.0.0 {self.system_status_word():04x} {code:02x} {SYSTEM_EVENT_NAMES[code]}"
            self.log(line)
            self.record("protostats", line)

    def system_status_word(self) -> int:
        return system_status(self.sys.leap, self.sys.source, self.sys.events)

    def peer_status_word(self, assoc: Association) -> int:
        return peer_status(assoc.status_bits(), assoc.selection, assoc.events)

    # ------------------------------------------------------------------ receive path
    def _drop(self, reason: str) -> list[Outgoing]:
        self.malformed[reason] = self.malformed.get(reason, 0) + 1
        self.counters["badformat"] += 1
        return []

    def receive_datagram(self, data: bytes, src: Address, dst: str | None, now: float, *,
                         interface: str | None = None) -> list[Outgoing]:
        """Handle one datagram that arrived at local address `dst` from `src` at `now`. For a datagram to a
        broadcast address, `dst` is that address (a broadcast's session key uses it) and `interface` the
        address of the interface it came in on (ntpd's rbufp->dstadr): a broadcast client's volley leaves from it."""
        self._now = now
        counters = self.counters
        counters["received"] += 1
        if not data:
            return self._drop("short")
        first = data[0]
        mode = first & 7
        flags = self.restrict.lookup(src[0])
        if mode == 6:
            counters["control"] += 1
            if "ignore" in flags or "noquery" in flags:
                counters["restricted"] += 1
                return []
            if "limited" in flags and self.restrict.monitor(src[0], now, burst_ok=True) is not Limit.OK:
                # ntpd 4.2.8 answers mode 6 before its limiter; a 12-byte `rv 0` then draws ~1.3 KB, an
                # amplifier for spoofed sources. Like ntpsec, we count it in the source's bucket: dropped, no KoD.
                # `minimum` is waived (ntpq sends its requests back to back); the bucket bounds the rate
                counters["limited"] += 1
                return []
            if self.control_handler is None:
                return []
            try:
                replies = self.control_handler(bytes(data), src, now)
            except Exception as exc:  # a responder bug must not take the daemon down
                counters["control_errors"] += 1
                if self._log_allowed("control request failed"):
                    self.log(f"control request from {src[0]} failed: {exc!r}")
                return []
            return [Outgoing(r, src, dst) for r in replies]
        if mode == 7:
            counters["mode7"] += 1
            return []
        if "ignore" not in flags:
            self.mru.note(src, now, first & 0x3F, restrict_bits(flags) if flags else 0)
        if "ignore" in flags or "noserve" in flags:
            counters["restricted"] += 1
            return []
        version = (first >> 3) & 7
        if version == 4:
            counters["thisver"] += 1
        elif 1 <= version < 4:
            counters["oldver"] += 1
        else:
            counters["badversion"] += 1
            return self._drop("version")
        if "version" in flags and version != 4:
            counters["restricted"] += 1
            return []
        if mode == 3 and len(data) == HEADER_LEN:
            return self._serve_fast(data, src, dst, flags, now, version)
        try:
            pkt = decode(data)
        except PacketError as exc:
            return self._drop(exc.reason)
        if mode == 0:
            if version != 1:
                return self._drop("mode")
            mode = MODE_CLIENT
        if mode == MODE_CLIENT:
            return self._serve(pkt, data, src, dst, flags, now)
        return self._peer_packet(pkt, data, src, dst, flags, now, interface)

    quick_mac_reply = quick_mac_reply  # client requests MAC'd with a symmetric key (engine/fastpath.py)

    def quick_reply(self, data: bytes, src: Address, now: float) -> bytes | None:
        """The hot path for the shell: a plain 48-byte NTPv4 client request from an unrestricted source,
        answered from the template. None means "not that case": call receive_datagram instead."""
        if len(data) != HEADER_LEN or data[0] & 0x3F != 0x23:  # version 4, mode 3
            return None
        rflags = 0
        if self._restricting:
            flags = self.restrict.lookup(src[0])
            if not flags.isdisjoint(_NOT_QUICK):
                return None
            rflags = restrict_bits(flags)
        self.mru.note(src, now, 0x23, rflags)
        counters = self.counters
        counters["received"] += 1
        counters["thisver"] += 1
        return self._reply_header(data, 4, now)

    # server replies ------------------------------------------------------
    def _rebuild_template(self) -> None:
        s = self.sys
        stratum = 0 if s.stratum >= STRATUM_UNSPEC else s.stratum
        self._template_stratum = stratum
        self._template_mid = _MID.pack(
            int(round(s.root_delay * 65536)) & 0xFFFFFFFF, int(round(s.root_dispersion * 65536)) & 0xFFFFFFFF,
            s.refid, s.reftime)
        self._leap_bits = (s.leap & 3) << 6

    def _rate_check(self, src: Address, dst: str | None, flags: frozenset[str], data: bytes,
                    now: float) -> list[Outgoing] | None:
        """None when the request may be served; otherwise what to send (a RATE KoD or nothing). As ntpd, the
        limiter itself spaces the KoDs (at most one per average headway), so a flood gets few kisses."""
        verdict = self.restrict.monitor(src[0], now)
        if verdict is Limit.OK:
            return None
        self.counters["limited"] += 1
        if verdict is not Limit.KOD or "kod" not in flags:
            return []
        self.counters["kodsent"] += 1
        # as ntpd's fast_xmit for a KoD: unsynchronised, stratum 0, refid RATE, every timestamp the client's
        # transmit time, and a poll no lower than the rate we want (the client's poll when higher)
        version = (data[0] >> 3) & 7
        poll = max(struct.unpack_from("!b", data, 2)[0], self.restrict.average)
        lvm = (LEAP_NOTINSYNC << 6) | (version << 3) | MODE_SERVER
        kod = struct.pack("!BBbb", lvm, 0, poll, self.sys.precision) + bytes(8) + b"RATE" + data[40:48] * 4
        return [Outgoing(kod, src, dst)]

    def _serve_fast(self, data: bytes, src: Address, dst: str | None, flags: frozenset[str], now: float,
                    version: int) -> list[Outgoing]:
        """A plain 48-byte client request: the hot path, from the precomputed template."""
        if "notrust" in flags:
            self.counters["restricted"] += 1
            return []
        limited = self._rate_check(src, dst, flags, data, now) if "limited" in flags else None
        if limited is not None:
            return limited
        return [Outgoing(self._reply_header(data, version, now), src, dst)]

    def _reply_header(self, data: bytes, version: int, now: float) -> bytes:
        """A served request's 48-byte answer from the template; the request counts as processed. The receive
        stamp is `now`; the transmit stamp is read from `send_clock` here, just before any MAC is computed
        over it (ntpd's fast_xmit does the same), so a client sees the server's real processing time."""
        self.counters["processed"] += 1
        rec = ntp64_stamp(now)
        sent = self.send_clock() if self.send_clock is not None else now
        xmt = ntp64_stamp(max(sent, now))
        return _REPLY.pack(self._leap_bits | (version << 3) | MODE_SERVER, self._template_stratum, data[2],
                           self.sys.precision, self._template_mid, data[40:48], rec, xmt)

    def _serve(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None, flags: frozenset[str],
               now: float) -> list[Outgoing]:
        # as ntpd's receive(): the limiter comes before any digest or signature work, so a flood costs little
        limited = self._rate_check(src, dst, flags, data, now) if "limited" in flags else None
        if limited is not None:
            return limited
        verdict = self.authenticator.check(pkt, data, src, dst, None, now)
        if verdict.verdict is Verdict.DECLINED:
            self.counters["declined"] += 1
            return []
        if verdict.verdict is Verdict.CRYPTO_NAK:
            self.counters["badauth"] += 1
            return []
        if verdict.verdict is Verdict.ERROR:
            self.counters["badauth"] += 1
        elif "notrust" in flags and not verdict.ok:
            self.counters["restricted"] += 1
            return []
        header = self._reply_header(data, pkt.version, now)
        tail = self.authenticator.reply_tail(pkt, verdict, src, dst, header, now)
        return [Outgoing(header + tail, src, dst)]

    # association packets -------------------------------------------------
    def _peer_packet(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None, flags: frozenset[str],
                     now: float, interface: str | None = None) -> list[Outgoing]:
        assoc = self._by_address.get(src)
        mode = pkt.mode
        if assoc is None and mode == MODE_SERVER:  # a server answering from another port
            assoc = next((a for a in self.associations.values()
                          if a.srcadr[0] == src[0] and a.hmode == MODE_CLIENT), None)
        if assoc is not None:
            expected = {MODE_CLIENT: (MODE_SERVER,), MODE_ACTIVE: (MODE_ACTIVE, MODE_PASSIVE),
                        MODE_PASSIVE: (MODE_ACTIVE,), MODE_BCLIENT: (MODE_BROADCAST,), MODE_BROADCAST: ()}
            if mode not in expected.get(assoc.hmode, ()):
                self.counters["declined"] += 1
                return []
        elif mode == MODE_ACTIVE or (mode == MODE_BROADCAST and self.broadcast_client):
            return self._new_ephemeral(pkt, data, src, dst, flags, now, interface)
        else:
            self.counters["noassoc"] += 1
            return []
        verdict = self.authenticator.check(pkt, data, src, dst, assoc, now)
        out = self._process(assoc, pkt, verdict, now)
        self._follow_authenticator(assoc, now)
        return out

    def _new_ephemeral(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None, flags: frozenset[str],
                       now: float, interface: str | None = None) -> list[Outgoing]:
        """ntpd's AM_NEWPASS / AM_NEWBCL: may this symmetric-active or broadcast packet make an association?

        Every cheap refusal comes before the MAC is computed, and nothing here signs: a stranger's packet
        costs a restrict lookup, a rate-limit entry and at most one digest. `nopeer`/`notrust` demand a MAC
        that authenticates its sender, which Autokey's cookie-0 MACs do not (`Authenticator.mobilizes`)."""
        counters = self.counters
        mode = pkt.mode
        strict = "nopeer" in flags or "notrust" in flags
        if strict and not self.authenticator.mobilizes(pkt, None):
            counters["restricted"] += 1
            return []
        if mode == MODE_ACTIVE and "noepeer" in flags:
            counters["declined"] += 1
            return []
        if "limited" in flags and self.restrict.rate_limited(src[0], now):
            counters["limited"] += 1
            return []
        if self._ephemeral_refused(src, flags) is not None:
            counters["declined"] += 1
            return []
        verdict = self.authenticator.check(pkt, data, src, dst, None, now)
        if verdict.verdict is Verdict.DECLINED:  # Autokey group rules
            counters["declined"] += 1
            return []
        if verdict.verdict in (Verdict.ERROR, Verdict.CRYPTO_NAK):
            counters["badauth"] += 1
            return []
        if strict and not self.authenticator.mobilizes(pkt, verdict):
            counters["restricted"] += 1
            return []
        if "auth" in self.config.enabled and not verdict.ok:
            counters["declined"] += 1
            return []
        hmode = MODE_PASSIVE if mode == MODE_ACTIVE else MODE_BCLIENT
        session = verdict.keyid is not None and verdict.keyid > 65535  # [autokey] session key IDs change per packet
        if mode == MODE_BROADCAST and (session or self.config.broadcastdelay is None):
            return self._start_broadcast_volley(pkt, data, src, dst, verdict, session, now, interface)
        assoc = self._mobilize(src, hmode, configured=False, version=pkt.version,
                               keyid=None if session else verdict.keyid, autokey=session,
                               dstadr=interface or dst, minpoll=6, maxpoll=10)
        verdict = self.authenticator.check(pkt, data, src, dst, assoc, now)
        out = self._process(assoc, pkt, verdict, now)
        self._follow_authenticator(assoc, now)
        return out

    def _follow_authenticator(self, assoc: Association, now: float) -> None:
        """The authenticator may want this association's next packet sooner than its poll (an Autokey step)."""
        due = self.authenticator.next_step(assoc, now)  # asked even when gone: the answer is handed over once
        if due is not None and assoc.assid in self.associations:
            assoc.next_poll = min(assoc.next_poll, due)

    # broadcast client: volley, then listen ------------------------------
    def _start_broadcast_volley(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None,
                                verdict: AuthResult, session: bool, now: float,
                                interface: str | None = None) -> list[Outgoing]:
        """As ntpd's AM_NEWBCL without `broadcastdelay`: a new broadcaster gets a client/server volley first
        (iburst, at the broadcaster's poll), which measures the delay and runs Autokey; the association
        listens to broadcasts only when it is done (`_end_broadcast_volley`)."""
        poll = max(NTP_MINPOLL, min(10, pkt.poll))
        ident = getattr(getattr(self.config, "crypto", None), "ident", None) if session else None  # sys_ident
        assoc = self._mobilize(src, MODE_CLIENT, configured=False, version=pkt.version,
                               keyid=None if session else verdict.keyid, autokey=session, ident=ident,
                               dstadr=interface or dst, minpoll=poll, maxpoll=poll, iburst=True)
        assoc.bcast_volley = True
        if session:  # [autokey] the broadcast names the broadcaster's association (ntpd: crypto_recv here)
            result = self.authenticator.check(pkt, data, src, dst, assoc, now)
            if not result.ok:
                self._demobilize(assoc)
                self.counters["badauth"] += 1
        return []

    def _end_broadcast_volley(self, assoc: Association, now: float) -> None:
        """The volley gave a sample (and, with Autokey, every flag): listen to the broadcasts from now on."""
        if assoc.autokey and not self.authenticator.broadcast_ready(assoc):
            return
        assoc.hmode = MODE_BCLIENT
        assoc.iburst = assoc.burst = False
        assoc.burst_left = 0
        assoc.next_poll = now + assoc.poll_interval()
        self.log(f"{assoc.srcadr[0]}: broadcast client volley done, listening")

    def _broadcast_sample(self, assoc: Association, offset: float) -> float:
        """The delay for a broadcast sample: measured from the volley at the first broadcast after it
        (ntpd: twice the difference of the client-mode and broadcast offsets), else `broadcastdelay`."""
        if assoc.bcast_volley:
            assoc.bcast_volley = False
            if assoc.updated:
                measured = abs(assoc.offset - offset) * 2
                limit = self.config.broadcastdelay or BROADCAST_DELAY_LIMIT
                if measured <= limit:
                    assoc.bcast_delay = max(measured, 2.0**self.sys.precision)
                    self.log(f"{assoc.srcadr[0]}: broadcast delay calibrated: {assoc.bcast_delay:.6f} s")
                else:
                    self.log(f"{assoc.srcadr[0]}: broadcast delay {measured:.6f} s exceeds {limit:.3f} s, "
                             f"using broadcastdelay {self.broadcast_delay:.6f} s")
        return assoc.bcast_delay if assoc.bcast_delay is not None else self.broadcast_delay

    def _process(self, assoc: Association, pkt: NtpPacket, verdict: AuthResult, now: float) -> list[Outgoing]:
        if verdict.verdict is Verdict.DECLINED:
            self.counters["declined"] += 1
            return []
        if verdict.verdict is Verdict.CRYPTO_NAK:
            assoc.flash |= TEST_AUTH
            assoc.bad_auth += 1
            self.counters["badauth"] += 1
            self._peer_event(assoc, PEVNT_AUTH)
            return []
        wrong_key = assoc.keyid is not None and not (verdict.ok and verdict.keyid == assoc.keyid)
        if verdict.verdict is Verdict.ERROR or wrong_key or (assoc.autokey and not verdict.ok):
            assoc.flash |= TEST_AUTH
            assoc.bad_auth += 1
            if assoc.hmode != MODE_BCLIENT:  # a spoofed broadcast must not change a listening client's state
                assoc.authentic = False
            self.counters["badauth"] += 1
            self._peer_event(assoc, PEVNT_AUTH)
            return []
        t4 = to_ntp64(now)
        if pkt.xmt == 0:
            assoc.flash |= TEST_INVALID
            self.counters["bogus"] += 1
            return []
        if pkt.xmt == assoc.rec or (assoc.hmode == MODE_BCLIENT and assoc.rec and ntp_diff(pkt.xmt, assoc.rec) < 0):
            assoc.flash |= TEST_DUPLICATE  # broadcast: an older transmit time is a replay too
            assoc.duplicates += 1
            self.counters["duplicate"] += 1
            return []
        symmetric = assoc.hmode in (MODE_ACTIVE, MODE_PASSIVE)
        if assoc.hmode == MODE_CLIENT and (assoc.aorg == 0 or pkt.org != assoc.aorg):
            assoc.flash |= TEST_BOGUS
            assoc.bogus += 1
            self.counters["bogus"] += 1
            return []
        # symmetric packets cross in flight when both sides poll at once: accept an origin that is any of
        # our last few transmit timestamps (t1 is then that packet's send time: the arithmetic still holds)
        if symmetric and pkt.org != 0 and pkt.org not in assoc.sent_stamps:
            assoc.flash |= TEST_BOGUS
            assoc.bogus += 1
            self.counters["bogus"] += 1
            assoc.rec, assoc.dst = pkt.xmt, t4  # resynchronise, as ntpd does in basic symmetric mode
            return []
        assoc.authentic = verdict.ok
        assoc.flash = 0
        assoc.rec, assoc.dst = pkt.xmt, t4
        if assoc.hmode == MODE_CLIENT:
            assoc.aorg = 0  # one answer per request
        assoc.received += 1
        assoc.last_received = now
        if assoc.autokey and not self.authenticator.proven(assoc):
            return self._not_proven(assoc, pkt, now)
        assoc.unreach = 0
        self._use_packet(assoc, pkt, t4, now)
        if assoc.bcast_volley and assoc.hmode == MODE_CLIENT and assoc.updated == now:
            self._end_broadcast_volley(assoc, now)
        if assoc.assid in self.associations:
            return self._passive_answer(assoc, now)
        return []

    def _not_proven(self, assoc: Association, pkt: NtpPacket, now: float) -> list[Outgoing]:
        """ntpd's TEST8 (\"not proventic\"): the packet's MAC verifies, but this Autokey association has not
        proven its server's identity (no PROV), so nothing in it reaches the clock: no sample, no reach bit,
        no header values. The exchange goes on (the authenticator consumed its extension fields).
        A configured association stays alive (ntpd resets unreach on a good crypto exchange); an ephemeral
        one does not, so a stranger who cannot finish the exchange is demobilized after NTP_UNREACH polls."""
        assoc.flash |= TEST_AUTOKEY
        assoc.unproven += 1
        self.counters["notproven"] += 1
        if assoc.configured:
            assoc.unreach = 0
        if pkt.stratum == 0 and pkt.leap == LEAP_NOTINSYNC:
            self._kiss(assoc, pkt.refid, pkt.poll)  # a RATE kiss paces the exchange too (ntpd: before TEST8)
        if assoc.assid in self.associations:
            return self._passive_answer(assoc, now)
        return []

    def _use_packet(self, assoc: Association, pkt: NtpPacket, t4: int, now: float) -> None:
        """Packet tests 6-7, the reach register, and a sample for the clock filter."""
        stratum = pkt.stratum or STRATUM_UNSPEC
        if pkt.stratum == 0 and pkt.leap == LEAP_NOTINSYNC:
            self._kiss(assoc, pkt.refid, pkt.poll)
            return
        assoc.leap, assoc.pmode, assoc.stratum, assoc.ppoll = pkt.leap, pkt.mode, stratum, pkt.poll
        assoc.precision, assoc.refid, assoc.reftime = pkt.precision, pkt.refid, pkt.reftime
        assoc.root_delay, assoc.root_dispersion = pkt.root_delay_s, pkt.root_dispersion_s
        if pkt.leap == LEAP_NOTINSYNC or stratum >= STRATUM_UNSPEC:
            assoc.flash |= TEST_UNSYNC
            return
        self.counters["processed"] += 1
        if not assoc.reach:
            assoc.reach |= 1
            self._peer_event(assoc, PEVNT_REACH)
            if assoc.iburst and assoc.hmode in (MODE_CLIENT, MODE_ACTIVE):
                # as ntpd, the iburst volley counts from the first good reply: a handshake that made the
                # first packets useless for time (Autokey) still gets its six samples
                assoc.burst_left = max(assoc.burst_left, NTP_IBURST - 1)
                assoc.next_poll = min(assoc.next_poll, now + BURST_INTERVAL)
        assoc.reach |= 1
        precision = 2.0**self.sys.precision
        if assoc.hmode == MODE_BCLIENT:
            delay = self._broadcast_sample(assoc, ntp_diff(pkt.xmt, t4))
            offset = ntp_diff(pkt.xmt, t4) + delay / 2
            disp = 2.0**pkt.precision + precision
        else:
            if pkt.org == 0 or pkt.rec == 0:
                return  # first symmetric packet: timestamps exchanged, no sample yet
            t1, t2, t3 = pkt.org, pkt.rec, pkt.xmt
            offset = (ntp_diff(t2, t1) + ntp_diff(t3, t4)) / 2
            delay = max(ntp_diff(t4, t1) - ntp_diff(t3, t2), precision)
            disp = 2.0**pkt.precision + precision + PHI * max(0.0, ntp_diff(t4, t1))
        self._sample(assoc, offset, delay, disp, now)

    def _passive_answer(self, assoc: Association, now: float) -> list[Outgoing]:
        """A passive association answers an active peer at once (at most once a second), so the active side's
        iburst gets its samples instead of waiting for our poll timer."""
        if assoc.hmode != MODE_PASSIVE or now - assoc.last_sent < 1.0:
            return []
        packet = self._transmit(assoc, now)
        return [packet] if packet is not None else []

    def _kiss(self, assoc: Association, refid: bytes, poll: int) -> None:
        code = refid.rstrip(b"\0").decode("ascii", "replace")
        if code == "RATE":
            self._pacer(assoc).kissed(poll, assoc.hpoll)
            assoc.hpoll = max(assoc.hpoll, min(assoc.maxpoll, max(poll, assoc.minpoll) + 1))
            self._peer_event(assoc, PEVNT_RATE)
        elif code in ("DENY", "RSTR"):
            self._peer_event(assoc, PEVNT_DENY)
            if not assoc.configured:
                self._demobilize(assoc)
            else:
                assoc.hpoll = assoc.maxpoll
        else:
            return  # INIT, STEP...: an unsynchronised server, not an order
        if self._log_allowed(f"kiss code {code}"):
            self.log(f"{assoc.srcadr[0]}: kiss code {code}")

    def _sample(self, assoc: Association, offset: float, delay: float, disp: float, now: float) -> None:
        result = assoc.filter.add(offset, delay, disp, now)
        assoc.updated = now
        self.record("peerstats", f"{assoc.srcadr[0]} {self.peer_status_word(assoc):x} "
                    f"{assoc.offset:.9f} {assoc.delay:.9f} {assoc.dispersion:.9f} {assoc.jitter:.9f}")
        # ntpd selects only on a fresh best sample; we select on every sample (cheap, and it does not
        # leave a peer unselected when its best sample is an old one) but feed the discipline only fresh ones
        self._clock_select(now, fresh=result.fresh)

    # ------------------------------------------------------------------ selection and system update
    def _candidates(self) -> list[Candidate]:
        out = []
        for a in self.associations.values():
            if a.hmode == MODE_BROADCAST:
                continue
            if a.autokey and not self.authenticator.proven(a):
                continue  # never a candidate before its identity is proven (ntpd: TEST8 discards its packets)
            out.append(Candidate(key=a.assid, offset=a.offset, delay=a.delay, dispersion=a.dispersion,
                                 jitter=a.jitter, root_delay=a.root_delay, root_dispersion=a.root_dispersion,
                                 stratum=a.stratum, reach=a.reach, leap=a.leap, updated=a.updated, poll=a.hpoll,
                                 prefer=a.prefer, noselect=a.noselect, local_clock=a.refclock,
                                 loop=a.stratum > 1 and a.refid in self._own_refids()))
        return out

    def _own_refids(self) -> set[bytes]:
        return {refid_from_ipv4(a) for a in self.local_addresses if _is_ip(a)}

    def _clock_select(self, now: float, fresh: bool = False) -> None:
        candidates = self._candidates()
        orphan = self.orphan_stratum
        parents: list[Candidate] = []
        if orphan < STRATUM_UNSPEC:
            # as ntpd's clock_select: sources above the orphan stratum may descend from the orphan parent and
            # sit out; sources at the orphan stratum are orphan parents, elected by lowest address metric
            parents = [c for c in candidates if c.stratum == orphan and c.reach and c.leap != LEAP_NOTINSYNC]
            candidates = [c for c in candidates if c.stratum < orphan or self.associations[c.key].refclock]
        selection = select(candidates, now, self.select_options, self.sys.peer)
        if selection.sys_peer is None and parents:
            parent = min(parents, key=lambda c: self._orphan_metric(self.associations[c.key].srcadr[0]))
            own = min((self._orphan_metric(a) for a in self.local_addresses), default=0)
            if self._orphan_metric(self.associations[parent.key].srcadr[0]) < own:
                selection.status[parent.key] = SEL_SYSPEER
                selection = Selection(selection.status, parent.key, parent.offset, parent.jitter, (parent.key,))
        for assoc in self.associations.values():
            assoc.selection = selection.status.get(assoc.assid, 0)
        if selection.sys_peer is None:
            if self.sys.peer is not None:
                self.sys.peer = None
                self._sys_event(EVNT_NOPEER)
            self._check_orphan(now)
            return
        peer = self.associations[selection.sys_peer]
        changed = peer.assid != self.sys.peer
        if changed:
            self.sys.peer = peer.assid
            self._peer_event(peer, PEVNT_NEWPEER)
        self._clock_update(peer, selection.offset, selection.jitter, now, fresh or changed)

    def _clock_update(self, peer: Association, offset: float, jitter: float, now: float, fresh: bool) -> None:
        s = self.sys
        s.orphan = False
        s.leap = peer.leap
        self.authenticator.synchronized(s.leap != LEAP_NOTINSYNC, now)
        s.stratum = min(peer.stratum + 1, STRATUM_UNSPEC)
        s.source = SST_LOCAL if peer.refclock else SST_NTP
        # as ntpd's clock_update(): a primary server shows its clock's refid, others their peer's address
        s.refid = peer.refclock_refid if s.stratum == 1 and peer.refclock else (
            peer.refid if s.stratum == 1 else refid_from_ipv4(peer.srcadr[0]))
        s.reftime = to_ntp64(peer.updated)
        s.root_delay = peer.root_delay + peer.delay
        s.root_dispersion = max(MINDISPERSE, peer.root_dispersion + peer.dispersion + jitter
                                + PHI * (now - peer.updated) + abs(offset))
        s.offset, s.jitter = offset, jitter
        if not fresh:
            self._rebuild_template()
            return
        self._adjust_poll(offset, jitter)
        if self.discipline_enabled:
            action = self.discipline.update(offset, now, s.poll, sample_time=peer.filter.used_epoch)
            if action in ("step", "panic"):
                self.log(f"clock discipline: {action} for offset {offset:+.6f} s")
        # loopstats as ntpd's record_loop_stats: offset, frequency (PPM), jitter, wander (PPM), poll exponent
        self.record("loopstats", f"{offset:.9f} {self.discipline.frequency * 1e6:.3f} "
                                 f"{jitter:.9f} {self.discipline.wander * 1e6:.6f} {s.poll}")
        self._rebuild_template()

    def _adjust_poll(self, offset: float, jitter: float) -> None:
        """RFC 5905's poll adjustment: lengthen while offsets stay within 4 jitters, shorten otherwise."""
        s = self.sys
        limit = max((a.maxpoll for a in self.associations.values() if not a.refclock), default=NTP_MINPOLL)
        if abs(offset) < 4 * max(jitter, 2.0**s.precision):
            s.poll_counter += s.poll
            if s.poll_counter > 30:
                s.poll_counter = 0
                s.poll = min(s.poll + 1, max(limit, NTP_MINPOLL))
        else:
            s.poll_counter -= 2 * s.poll
            if s.poll_counter < -30:
                s.poll_counter = 0
                s.poll = max(s.poll - 1, NTP_MINPOLL)

    @staticmethod
    def _orphan_metric(address: str) -> int:
        """ntpd's orphan parent metric: the IPv4 address as a number (IPv6: its refid hash)."""
        return int.from_bytes(refid_from_ipv4(address), "big")

    def _check_orphan(self, now: float) -> None:
        """`tos orphan N`: with no system peer after orphanwait, become stratum N (refid 127.0.0.1)."""
        if self.orphan_stratum >= STRATUM_UNSPEC or self.sys.peer is not None or now < self.orphan_at:
            return
        s = self.sys
        if s.orphan:
            return
        s.orphan = True
        s.leap, s.stratum, s.refid, s.source = LEAP_NOWARNING, self.orphan_stratum, LOOPBACK_REFID, SST_UNSPEC
        self.authenticator.synchronized(True, now)
        s.root_delay = s.root_dispersion = 0.0
        s.offset = s.jitter = 0.0
        self.log(f"orphan mode: stratum {s.stratum}")
        self._rebuild_template()

    # ------------------------------------------------------------------ timers
    def next_timer(self) -> float:
        """The earliest time `handle_timers` has something to do."""
        times = [a.next_poll for a in self.associations.values()]
        if self.orphan_stratum < STRATUM_UNSPEC and not self.sys.orphan and self.sys.peer is None:
            times.append(self.orphan_at)
        return min(times, default=self._now + 60.0)

    def handle_timers(self, now: float) -> list[Outgoing]:
        """Poll every association that is due; returns the packets to send."""
        self._now = now
        out: list[Outgoing] = []
        for assoc in list(self.associations.values()):
            if assoc.next_poll > now:
                continue
            if assoc.refclock:
                self._poll_local_clock(assoc, now)
                continue
            if assoc.hmode == MODE_BCLIENT:
                # a broadcast client that stopped hearing its broadcaster, or never heard a good broadcast in
                # NTP_UNREACH intervals, is demobilized (ntpd: the timeout of an ephemeral association)
                was = assoc.reach
                assoc.reach = (assoc.reach << 1) & 0xFF
                assoc.unreach += 1
                assoc.next_poll = now + assoc.poll_interval()
                if was and not assoc.reach:
                    self._peer_event(assoc, PEVNT_UNREACH)
                    self._demobilize(assoc)
                elif not assoc.reach and assoc.unreach >= NTP_UNREACH:
                    self._demobilize(assoc)
                continue
            if assoc.hmode in _PACED:
                wait = self._pacer(assoc).delay(now)
                if wait > 0:  # the server's limiter would not take it yet: poll when it will (pacing.py)
                    assoc.next_poll = now + wait
                    continue
            was_reachable = assoc.reach != 0
            if assoc.on_poll(now, self.sys.poll):
                self._demobilize(assoc)
                continue
            if was_reachable and not assoc.reach:
                self._peer_event(assoc, PEVNT_UNREACH)
                self._clock_select(now)
            if assoc.bcast_volley and not assoc.autokey and not assoc.reach and assoc.sent >= NTP_IBURST:
                # no answer to the volley: listen anyway, with `broadcastdelay` (Autokey cannot: it retries)
                assoc.hmode = MODE_BCLIENT
                assoc.burst_left = 0
                assoc.next_poll = now + assoc.poll_interval()
                self.log(f"{assoc.srcadr[0]}: broadcast client volley unanswered, listening")
                continue
            packet = self._transmit(assoc, now)
            if packet is not None:
                out.append(packet)
        if self.sys.peer is None:
            self._check_orphan(now)
        for line in self.log_limiter.flush(now):
            self.log(line)
        return out

    def _pacer(self, assoc: Association) -> ServerPacer:
        pacer = self._pacers.get(assoc.srcadr)
        if pacer is None:
            pacer = self._pacers[assoc.srcadr] = ServerPacer()
        return pacer

    def _poll_local_clock(self, assoc: Association, now: float) -> None:
        """The local clock driver: always reachable, zero offset; its filter starts full so that an
        isolated root is synchronised at once."""
        first = assoc.reach == 0
        assoc.reach = ((assoc.reach << 1) | 1) & 0xFF
        assoc.leap, assoc.stratum, assoc.refid = LEAP_NOWARNING, assoc.refclock_stratum, assoc.refclock_refid
        assoc.precision, assoc.pmode = self.sys.precision, MODE_SERVER
        assoc.reftime = assoc.rec = assoc.dst = to_ntp64(now)
        assoc.hpoll = assoc.ppoll = assoc.minpoll
        assoc.next_poll = now + assoc.poll_interval()
        precision = 2.0**self.sys.precision
        if first:
            self._peer_event(assoc, PEVNT_REACH)
            for i in range(NTP_SHIFT - 1):
                assoc.filter.add(0.0, 0.0, precision, now)
        self._sample(assoc, 0.0, 0.0, precision, now)
        self._clock_select(now)

    def _transmit(self, assoc: Association, now: float) -> Outgoing | None:
        s = self.sys
        if assoc.hmode == MODE_BROADCAST and s.leap == LEAP_NOTINSYNC:
            return None
        xmt = (to_ntp64(now) & ~0xFF) | self.rng.getrandbits(8)
        if assoc.hmode in (MODE_ACTIVE, MODE_PASSIVE):
            org, rec = assoc.rec, assoc.dst
        else:
            org = rec = 0
        pkt = NtpPacket(leap=s.leap, version=assoc.version, mode=assoc.hmode,
                        stratum=0 if s.stratum >= STRATUM_UNSPEC else s.stratum, poll=assoc.hpoll,
                        precision=s.precision, root_delay=int(round(s.root_delay * 65536)) & 0xFFFFFFFF,
                        root_dispersion=int(round(s.root_dispersion * 65536)) & 0xFFFFFFFF, refid=s.refid,
                        reftime=s.reftime, org=org, rec=rec, xmt=xmt)
        header = encode_header(pkt)
        tail = self.authenticator.request_tail(assoc, header, now)
        self._follow_authenticator(assoc, now)  # [autokey] the next step may be due before the next poll
        if assoc.hmode in _PACED:
            self._pacer(assoc).sent(now)
        assoc.aorg = xmt
        assoc.sent_stamps.append(xmt)
        assoc.last_sent = now
        del assoc.sent_stamps[:-4]
        assoc.sent += 1
        self.counters["sent"] += 1
        return Outgoing(header + tail, assoc.srcadr, assoc.dstadr)


__all__ = ["NtpHost", "Outgoing", "SystemState", "COUNTER_NAMES"]
