"""The sans-IO NTP host: bytes and a time in, datagrams and typed events out (aioquic's shape).

    host = NtpHost(config, now=t0, authenticator=..., control_handler=..., local_addresses=["127.0.0.5"])
    out = host.receive_datagram(data, src=("127.0.0.9", 123), dst="127.0.0.5", now=t)   # -> [DatagramToSend]
    out = host.handle_timers(now=t)                                                        # -> [DatagramToSend]
    host.next_timer()                                                                      # when to call again
    while (event := host.next_event()) is not None: ...                                    # LogLine, StatsRecord,
                                                                                           # PeerEvent... (events.py)

It answers client requests (mode 3) from a precomputed reply template, runs client, symmetric and
broadcast associations through the clock filter and the selection algorithms, enforces `restrict`, and
counts everything it drops. Authentication goes through an `Authenticator` (engine/authenticator.py); mode-6
packets go to the `control_handler` given at construction, which reads this host through `ControlView`.

`NtpHost` is a facade: this module owns construction, configuration, dispatch and the public API; the work is
done by its parts, one module each along ntpd's own seams: serving.py (fast_xmit, ntp_monitor), peers.py
(ntp_peer.c), receive.py (receive/process_packet), broadcast.py, system.py (clock_select/clock_update, orphan),
timer.py (ntp_timer.c, peer_xmit), local_clock.py (refclock_local.c); state.py holds what they share.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from ..clock.discipline import ClockAdjuster, ClockDiscipline, NullClock
from ..clock.select import SelectOptions
from ..config.model import NtpConfig
from ..protocol import MINDISPERSE
from ..symkeys.keyfile import SymmetricKey
from ..wire.packet import HEADER_LEN, PacketError, decode
from .association import Association, MODE_ACTIVE, MODE_BROADCAST, MODE_CLIENT
from .authenticator import Authenticator, SymmetricKeyAuth
from .events import ClockPanic, ClockStepped, DatagramToSend, Event, LogLine, PeerEvent, StatsRecord, SystemEvent
from .status import EVNT_SYSRESTART, PEER_EVENT_NAMES, peer_status, system_status
from .fastpath import quick_mac_reply
from .loglimit import LogLimiter
from .mru import MruTable, restrict_bits
from .pacing import ServerPacer
from .restrict import DEFAULT_AVERAGE, DEFAULT_MINIMUM, DEFAULT_MONITOR, Limit, RestrictTable
from .state import (Address, COUNTER_NAMES, ControlHandler, DEFAULT_BROADCASTDELAY, DEFAULT_ORPHANWAIT,
                    IPPEERLIMIT_PREFIX, LOCAL_CLOCK_PREFIX, NTP_MINPOLL, PACKET_EVENTS,
                    STRATUM_UNSPEC, SystemState, is_ip)
from .broadcast import BroadcastClient
from .local_clock import LocalRefclock
from .peers import AssociationTable
from .receive import PacketProcessing
from .serving import ServerReplies
from .system import ClockSelection
from .timer import Timers


class NtpHost(ServerReplies, AssociationTable, PacketProcessing, BroadcastClient, ClockSelection, Timers,
              LocalRefclock):
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
        self._events: deque[Event] = deque()  # drained by the shell with next_event() / events()
        self.log_limiter = LogLimiter()  # lines caused by (possibly spoofed) packets: a few a minute per kind
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
                                       minpoll=item.minpoll, maxpoll=item.maxpoll, prefer=item.prefer,
                                       noselect=item.noselect)
                if fudge is not None:
                    self._apply_fudge(assoc, fudge)
                continue
            if not is_ip(address):
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
            elif address == "source" or not (address.startswith("-") or address == "default" or is_ip(address)):
                self.log(f"{item.origin}: restrict {address}: only addresses and default are enforced, ignored")
                continue
            flags = item.flags
            if item.ippeerlimit is not None and item.ippeerlimit >= 0:
                flags = flags | {f"{IPPEERLIMIT_PREFIX}{item.ippeerlimit}"}
            table.add(address, item.mask, flags, str(item.origin))
        for local in self.local_addresses:  # ntpd never restricts its own interface addresses
            exact = any(e.network.prefixlen == e.network.max_prefixlen and str(e.network.network_address) == local
                        for e in table.entries)
            if is_ip(local) and not exact:
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
    # ------------------------------------------------------------------ events and records
    def next_event(self) -> Event | None:
        """The oldest event not yet taken (events.py), None when there is none: the shell drains them after
        every timer run and every batch of datagrams."""
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        """Every pending event, oldest first (next_event() until None)."""
        out = list(self._events)
        self._events.clear()
        return out

    def log(self, line: str) -> None:
        """A line for the daemon's log (a `LogLine` event)."""
        self._events.append(LogLine(line))

    def record(self, kind: str, line: str) -> None:
        """A statistics line for filegen `kind` (cryptostats, protostats...), stamped with the engine's time."""
        self._events.append(StatsRecord(kind, self._now, line))

    def _peer_event(self, assoc: Association, code: int) -> None:
        if assoc.events.report(code):
            if code in PACKET_EVENTS and not self._log_allowed(PEER_EVENT_NAMES[code]):
                return  # counted (assoc.bad_auth, ss_badauth...), not reported: strangers cannot fill the disk
            self._events.append(PeerEvent(self._now, assoc.srcadr[0], assoc.assid, code, self.peer_status_word(assoc)))

    def _log_allowed(self, kind: str) -> bool:
        """Rate-limit a line that a packet caused (engine/loglimit.py); summaries owed go out first."""
        if not self.log_limiter.allow(kind, self._now):
            return False
        for summary in self.log_limiter.flush(self._now):
            self.log(summary)
        return True

    def _sys_event(self, code: int) -> None:
        if self.sys.events.report(code):
            self._events.append(SystemEvent(self._now, code, self.system_status_word()))

    def _clock_action(self, action: str, offset: float) -> None:
        """The discipline's step or panic (clock/discipline.py), reported; a slew shows in loopstats only."""
        if action == "step":
            self._events.append(ClockStepped(self._now, offset))
        elif action == "panic":
            self._events.append(ClockPanic(self._now, offset))

    def system_status_word(self) -> int:
        return system_status(self.sys.leap, self.sys.source, self.sys.events)

    def peer_status_word(self, assoc: Association) -> int:
        return peer_status(assoc.status_bits(), assoc.selection, assoc.events)

    # ------------------------------------------------------------------ receive path
    def _drop(self, reason: str) -> list[DatagramToSend]:
        self.malformed[reason] = self.malformed.get(reason, 0) + 1
        self.counters["badformat"] += 1
        return []

    def receive_datagram(self, data: bytes, src: Address, dst: str | None, now: float, *,
                         interface: str | None = None) -> list[DatagramToSend]:
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
            return [DatagramToSend(r, src, dst) for r in replies]
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

    # server replies ------------------------------------------------------
    # association packets -------------------------------------------------
    # broadcast client: volley, then listen ------------------------------
    # ------------------------------------------------------------------ selection and system update
    # ------------------------------------------------------------------ timers


__all__ = ["NtpHost", "DatagramToSend", "SystemState", "COUNTER_NAMES"]
