"""The asyncio shell around NtpHost: sockets, timers, signals, files. No protocol decisions here.

One UDP socket per `interface listen ADDR` (or the wildcard when there is none), on port 123 or the
`port N` extension. Each datagram goes to `NtpHost.receive_datagram` with the time it was read; each
timer run to `handle_timers`; the one timer is re-armed for the engine's `next_timer()` after every run and
every batch of datagrams, so an idle daemon sleeps instead of waking every second. SIGHUP re-reads the configuration and keys (`NtpHost.reload`); SIGTERM and
SIGINT stop the loop and remove the pidfile. Clock discipline only with `enable ntp` (KernelClock).
"""

from __future__ import annotations

import asyncio
import errno
import os
import platform
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import assert_never
from pathlib import Path

from ..symkeys.keyfile import KeyFileError, SymmetricKey, read_keys_file
from ..clock.discipline import KernelClock
from ..config.interfaces import WILDCARDS, ListenPlan, listen_plan
from ..config.model import NtpConfig
from ..control.responder import ControlResponder
from ..control.view import HostControlView
from ..engine.host import NtpHost
from ..engine.events import (ClockPanic, ClockStepped, DatagramToSend, LogLine, PeerEvent, StatsRecord,
                             SystemEvent)
from .autokey_wiring import attach_from_config as attach_autokey
from .autokey_wiring import DEFAULT_KEYSDIR, reload_credentials
from .netif import system_addresses
from .stats import SystemCounters, sysstats_line, timestamp_fields, writers_from_config

VERSION = "0.1.0"
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value; Python's socket module lacks the name
MAX_DATAGRAM = 2048
ANCILLARY_SPACE = socket.CMSG_SPACE(32)
BATCH = 64  # datagrams read per wake-up before the loop runs its timers
SYSSTATS_INTERVAL = 3600.0
IDLE_WAKE = 60.0  # the longest the timer sleeps: records and rate-limited log summaries (60-s windows) go out
TIMER_FLOOR = 0.01  # the soonest the timer is re-armed for (a due time already past does not spin the loop)


class DaemonError(Exception):
    """A startup problem that names its file (config, keys, pidfile, socket)."""


def version_string() -> str:
    return f"ntpd-py {VERSION}"


DEBUG_ECHO = 1  # -D 1: every log line also on stderr, and the daemon stays in the foreground (as ntpd -d)
DEBUG_RECORDS = 2  # -D 2: also every statistics record (peerstats, loopstats, cryptostats...) as a log line


class Logger:
    """ntpd-style log lines to a file (or stderr); from debug level 1 on, echoed to stderr."""

    def __init__(self, path: str | None, debug: int = 0) -> None:
        self.path, self.debug = path, debug
        self._handle = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%d %b %H:%M:%S", time.gmtime())
        line = f"{stamp} ntpd-py[{os.getpid()}]: {message}"
        if self._handle is not None:
            self._handle.write(line + "\n")
            self._handle.flush()
        if self._handle is None or self.debug >= DEBUG_ECHO:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def load_config(path: str, warn: Callable[[str], None] | None = None) -> NtpConfig:
    """The configuration; errors stop us (DaemonError, FILE:LINE), warnings go to `warn` (ntpd logs them)."""
    from ..config.parser import parse_file

    try:
        result = parse_file(path)
    except OSError as exc:
        raise DaemonError(f"{path}: {exc.strerror or exc}") from None
    if result.errors:
        raise DaemonError("\n".join(str(d) for d in result.diagnostics))
    if warn is not None:
        for diagnostic in result.warnings:
            warn(str(diagnostic))
    return result.config


def load_keys(config: NtpConfig) -> dict[int, SymmetricKey]:
    if not config.keys:
        return {}
    try:
        return read_keys_file(config.keys)
    except KeyFileError as exc:
        raise DaemonError(str(exc)) from None
    except OSError as exc:
        raise DaemonError(f"{config.keys}: {exc.strerror or exc}") from None


def read_drift(path: str) -> float | None:
    """The frequency (PPM) ntpd's driftfile holds, or None when absent or unreadable."""
    try:
        return float(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_drift(path: str, ppm: float) -> None:
    """Atomically replace the driftfile with `ppm` (three decimals, as ntpd)."""
    target = Path(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.write_text(f"{ppm:.3f}\n")
    os.replace(temp, target)


def listen_plan_for(config: NtpConfig) -> ListenPlan:
    """The `interface` rules applied to this host's addresses as ntpd applies them (config/interfaces.py)."""
    system = system_addresses() if config.interfaces else []
    return listen_plan(config.interfaces, system)


def listen_addresses(config: NtpConfig) -> list[str]:
    """The addresses the daemon will listen on (the wildcard when one wildcard socket serves)."""
    return listen_plan_for(config).addresses


def key_permission_problems(config: NtpConfig, *, keys_file: bool = True) -> list[str]:
    """Who else may read this host's secrets or replace its keys: the keys directory (with Autokey) and, with
    `keys_file`, the symmetric keys file. The daemon logs them all as warnings (at start and on SIGHUP);
    `--check` refuses the keys directory's (the keys file is ntpd's, which never checked it)."""
    from ..keys.permissions import permission_problems

    problems = []
    if config.crypto.present:
        keysdir = config.keysdir or DEFAULT_KEYSDIR
        if os.path.isdir(keysdir):
            problems.extend(permission_problems(keysdir))
    if keys_file and config.keys and os.path.isfile(config.keys):
        mode = os.stat(config.keys).st_mode
        if mode & 0o006:
            problems.append(f"{config.keys}: symmetric keys file is readable or writable by others "
                            f"(mode {mode & 0o7777:04o}): chmod 600 {config.keys}")
    return problems


def _socket_inodes(address: str, port: int, *, exact: bool = False) -> set[str]:
    """Inodes of UDP sockets bound to `address` (or, unless `exact`, its family's wildcard) and `port`, from
    /proc/net/udp[6]."""
    v6 = ":" in address
    packed = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, address)
    wildcard = bytes(len(packed))
    if v6:  # /proc prints the address as four host-order 32-bit words
        words = [packed[i:i + 4] for i in range(0, 16, 4)]
        wanted = {"".join(w[::-1].hex().upper() for w in words), "0" * 32}
    else:
        wanted = {packed[::-1].hex().upper(), wildcard.hex().upper()}
    if exact:
        wanted = {w for w in wanted if set(w) != {"0"}} if address not in WILDCARDS else {"0" * (32 if v6 else 8)}
    inodes = set()
    try:
        lines = Path(f"/proc/net/udp{'6' if v6 else ''}").read_text().splitlines()[1:]
    except OSError:
        return inodes
    for line in lines:
        fields = line.split()
        if len(fields) > 9:
            local, _, hexport = fields[1].partition(":")
            if local in wanted and int(hexport, 16) == port:
                inodes.add(fields[9])
    return inodes


def describe_owner(address: str, port: int, *, exact: bool = False) -> str | None:
    """"process PID (COMMAND, pidfile FILE)" for the process holding `address`:`port`, where /proc tells."""
    inodes = {f"socket:[{inode}]" for inode in _socket_inodes(address, port, exact=exact)}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(os.getpid()):
            continue
        try:
            if not any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        pidfile = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-p", "--pidfile")), None)
        if pidfile is None:
            conf = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--configfile")), None)
            pidfile = _pidfile_of(conf) if conf else None
        command = " ".join(args[:6])[:200]
        return f"process {proc.name} ({command}{', pidfile ' + pidfile if pidfile else ''})"
    return "another process"


def _pidfile_of(conf: str) -> str | None:
    try:
        for line in Path(conf).read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "pidfile":
                return words[1]
    except OSError:
        pass
    return None


def resolve(name: str) -> str | None:
    try:
        return socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
    except OSError:
        return None


def route_source(remote: str, port: int) -> str | None:
    """The local address the kernel would send from to reach `remote` (a connected UDP socket; no packet).
    For a broadcast address (SO_BROADCAST) that is the address of the interface the broadcast leaves from,
    which a broadcaster's Autokey session keys and packets carry as their source, as ntpd's do."""
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            if family == socket.AF_INET:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            probe.connect((remote, port or 123))
            return probe.getsockname()[0]
        except OSError:
            return None


class _Endpoint:
    """One socket bound to an address, read until empty on each wake-up (at most BATCH datagrams, then the
    loop runs its timers): one event-loop callback serves a whole queue, not one datagram, which is where a
    plain reply's time went. Answers are sent at once; a full send buffer drops the answer (counted), as ntpd
    does, rather than queueing behind it."""

    def __init__(self, daemon: Daemon, sock: socket.socket, local: str) -> None:
        self.daemon, self.sock, self.local = daemon, sock, local
        self.local_dst = None if local in WILDCARDS else local
        sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        daemon, local = self.daemon, self.local_dst
        quick, process = daemon.host.quick_reply, daemon.process_rest  # the plain request's path, inline
        recvfrom, sendto, clock = self.sock.recvfrom, self.sock.sendto, time.time
        for _ in range(BATCH):
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                daemon.receive_errors += 1
                return
            now = clock()
            try:
                reply = quick(data, addr, now)
            except Exception as exc:  # the core must never crash the daemon: count, log, keep serving
                daemon.internal_error(f"a packet from {addr[0]}", exc)
                continue
            try:
                if reply is not None:
                    sendto(reply, addr)
                    continue
                out = process(data, addr, local, now)
                if out.__class__ is bytes:
                    sendto(out, addr)
                    continue
                for o in out:
                    if o.src is None or o.src == local:
                        sendto(o.data, o.dst)
                    else:
                        daemon.send(o)
            except OSError:
                daemon.send_errors += 1

    def sendto(self, data: bytes, dst: tuple[str, int], src: str | None = None) -> None:
        try:
            self.sock.sendto(data, dst)
        except OSError:
            self.daemon.send_errors += 1

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _PacketInfoEndpoint:
    """A wildcard socket read with recvmsg: IP_PKTINFO / IPV6_RECVPKTINFO say to which local address each
    datagram came (Autokey's session keys need it, as ntpd's per-interface sockets know it), and every
    answer leaves from the address its request came to (sendmsg with the same ancillary data)."""

    def __init__(self, daemon: Daemon, sock: socket.socket) -> None:
        self.daemon, self.sock = daemon, sock
        self.v6 = sock.family == socket.AF_INET6
        if self.v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._readable)

    def _local_of(self, ancdata: list[tuple[int, int, bytes]]) -> tuple[str | None, str | None]:
        """(header destination, interface address). in_pktinfo's ipi_addr is the header's destination (a
        broadcast's session key uses it); ipi_spec_dst the receiving interface's address, which answers and a
        broadcast client's volley leave from. They differ only for a datagram to a broadcast address."""
        for level, kind, value in ancdata:
            if not self.v6 and level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
                return (socket.inet_ntop(socket.AF_INET, value[8:12]),
                        socket.inet_ntop(socket.AF_INET, value[4:8]))
            if self.v6 and level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 16:
                local = socket.inet_ntop(socket.AF_INET6, value[:16])
                return local, local
        return None, None

    def _readable(self) -> None:
        process, sock = self.daemon.process, self.sock
        for _ in range(BATCH):
            try:
                data, ancdata, _flags, addr = sock.recvmsg(MAX_DATAGRAM, ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.daemon.receive_errors += 1
                return
            local, interface = self._local_of(ancdata)
            if local in self.daemon.dropped or interface in self.daemon.dropped:  # `interface drop ADDRESS`: read
                # and discarded, as ntpd does (a broadcast by the interface it came in on)
                self.daemon.interface_dropped += 1
                continue
            out = process(data, addr, local, time.time(), interface if interface != local else None)
            if out.__class__ is bytes:
                self.sendto(out, addr, interface)
                continue
            for o in out:
                self.sendto(o.data, o.dst, interface if o.src in (None, local) else o.src)

    def sendto(self, data: bytes, dst: tuple[str, int], src: str | None = None) -> None:
        """Send from `src` (a local address) when given, else from the address the kernel picks."""
        ancillary = []
        if src is not None and src not in WILDCARDS:
            try:
                if self.v6:
                    ancillary = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO,
                                  struct.pack("=16sI", socket.inet_pton(socket.AF_INET6, src), 0))]
                else:  # in_pktinfo: ifindex 0, ipi_spec_dst = the source address, ipi_addr unused
                    ancillary = [(socket.IPPROTO_IP, IP_PKTINFO,
                                  struct.pack("=i4s4s", 0, socket.inet_aton(src), bytes(4)))]
            except OSError:
                ancillary = []
        try:
            self.sock.sendmsg([data], ancillary, 0, dst)
        except OSError:
            self.daemon.send_errors += 1

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class Daemon:
    """Owns the loop; `run()` until SIGTERM."""

    def __init__(self, config_path: str, *, logfile: str | None = None, pidfile: str | None = None,
                 debug: int = 0) -> None:
        self.config_path = config_path
        warnings: list[str] = []
        self.config = load_config(config_path, warnings.append)
        self.keys = load_keys(self.config)
        self.log = Logger(logfile or self.config.logfile, debug)
        for line in warnings:
            self.log(line)
        self.pidfile = pidfile
        self.internal_errors = 0
        self.timer_runs = 0  # handle_timers runs (an idle daemon makes few: tests/core/test_core_daemon_shell.py)
        self.send_errors = 0
        self.receive_errors = 0
        self.endpoints: dict[str, _Endpoint | _PacketInfoEndpoint] = {}
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # the loop time the timer is armed for
        self._batch_pending = False  # an _after_batch is scheduled
        self._next_sysstats = time.time() + SYSSTATS_INTERVAL
        self.stats = self._stats_writers(self.config)
        now = time.time()
        uname = platform.uname()
        self.plan = listen_plan_for(self.config)
        self.addresses = self.plan.addresses
        self.dropped = frozenset(self.plan.dropped)  # `interface drop`: discarded when the wildcard reads them
        self.interface_dropped = 0
        clock = KernelClock() if self.config.discipline else None
        self.host = NtpHost(self.config, now, keys=self.keys, local_addresses=self.addresses, clock=clock,
                            resolve=resolve, send_clock=time.time,
                            system_info={"version": version_string(), "processor": uname.machine,
                                         "system": f"{uname.system}/{uname.release}"})
        if self.config.discipline and self.config.driftfile:
            ppm = read_drift(self.config.driftfile)
            if ppm is not None:  # only with `enable ntp`: start the discipline where the last run left it
                self.host.discipline.frequency = ppm * 1e-6
                self.host.clock.set_frequency(ppm * 1e-6)
                self.log(f"frequency {ppm:.3f} PPM from {self.config.driftfile}")
        self._route_wildcard_associations()
        self.autokey = None
        if self.config.crypto.present:
            self._attach_autokey(now)
        self._warn_key_permissions(self.config)
        self.view = HostControlView(self.host, [self._io_counters])
        if self.autokey is not None:
            self.view.counter_sources.append(self.autokey.counter_variables)
        self.host.control_handler = self._make_control_handler()
        self.log(f"{version_string()} starting, config {config_path}, port {self.config.listen_port}")

    def _warn_key_permissions(self, config: NtpConfig) -> None:
        for problem in key_permission_problems(config):
            self.log(f"warning: {problem}")

    def _route_wildcard_associations(self) -> None:
        """On a wildcard socket an association's local address is the one the kernel routes from: ask it
        once (Autokey's session keys include the local address; sends then use it, see _PacketInfoEndpoint)."""
        for assoc in self.host.associations.values():
            if assoc.dstadr in WILDCARDS and not assoc.srcadr[0].startswith(("127.127.", "224.", "255.")):
                assoc.dstadr = route_source(assoc.srcadr[0], assoc.srcadr[1]) or assoc.dstadr

    def _attach_autokey(self, now: float) -> None:
        """`crypto` in the configuration: put Autokey (ntpd_py/autokey) in front of the symmetric keys."""
        try:
            self.autokey = attach_autokey(self.host, now)  # the key files are read here, and on SIGHUP only
        except (ValueError, OSError) as exc:  # AutokeySetupError is a ValueError and names its file
            raise DaemonError(str(exc)) from None

    def _make_control_handler(self) -> Callable[[bytes, tuple[str, int], float], list[bytes]]:
        responder = ControlResponder(self.view, authenticator=self.host.symmetric, controlkey=self.config.controlkey)
        self.responder = responder
        self.view.counter_sources.append(responder.counters.as_variables)  # ctl_* in rv 0 and by name
        return lambda data, src, now: responder.handle(data, now, src[0])

    def _stats_writers(self, config: NtpConfig) -> dict:
        try:  # no pid here: `filegen ... type pid` names the file after the process that writes it (after fork)
            return writers_from_config(config, None, time.time())
        except OSError as exc:
            self.log(f"statistics disabled: {exc}")
            return {}

    def _io_counters(self) -> list[tuple[str, str]]:
        """The shell's own drops, for mode 6: packets the core failed on, sends and reads that failed."""
        return [("io_internal_errors", str(self.internal_errors)), ("io_sendfailed", str(self.send_errors)),
                ("io_receive_errors", str(self.receive_errors)), ("io_interface_dropped", str(self.interface_dropped))]

    def process(self, data: bytes, addr, local: str | None, now: float,
                interface: str | None = None) -> bytes | list[DatagramToSend]:
        """One datagram through the core, for every endpoint: a quick reply's bytes (its transmit stamp read
        last), or the full path's answers; nothing after an internal error (counted and logged)."""
        try:
            reply = self.host.quick_reply(data, addr, now)  # its transmit stamp is read from send_clock, last
        except Exception as exc:
            self.internal_error(f"a packet from {addr[0]}", exc)
            return []
        return reply if reply is not None else self.process_rest(data, addr, local, now, interface)

    def process_rest(self, data: bytes, addr, local: str | None, now: float,
                     interface: str | None = None) -> bytes | list[DatagramToSend]:
        """`process` after the plain-request quick path said "not mine"."""
        try:
            host = self.host
            reply = host.quick_mac_reply(data, addr, now, local)
            if reply is not None:
                return reply
            if not self._batch_pending and self._loop is not None:  # once per batch: records out, timer re-armed
                self._batch_pending = True
                self._loop.call_soon(self._after_batch)
            return host.receive_datagram(data, addr[:2], local, now, interface=interface)
        except Exception as exc:  # the core must never crash the daemon: count, log, keep serving
            self.internal_error(f"a packet from {addr[0]}", exc)
            return []

    def internal_error(self, what: str, exc: BaseException) -> None:
        """Count a bug hit in the core; log the first few and then one in a thousand."""
        self.internal_errors += 1
        if self.internal_errors <= 10 or self.internal_errors % 1000 == 0:
            self.log(f"internal error #{self.internal_errors} on {what}: {exc!r}")

    def send(self, o: DatagramToSend) -> None:
        endpoint = self.endpoints.get(o.src or "") or next(iter(self.endpoints.values()))
        try:
            endpoint.sendto(o.data, o.dst, o.src)
        except OSError:
            self.send_errors += 1

    def _drain_events(self) -> None:
        """Everything the core reported since the last drain (engine/events.py), each where ntpd writes it:
        log lines to the log, records to their filegen files, peer and system events to both (report_event)."""
        for event in self.host.events():
            match event:
                case StatsRecord(kind=kind, time=when, line=line):
                    self._write_record(kind, when, line)
                case PeerEvent() | SystemEvent():
                    self.log(event.text)
                    self._write_record("protostats", event.time, event.text)
                case LogLine() | ClockStepped() | ClockPanic():
                    self.log(event.text)
                case _:
                    assert_never(event)  # a new kind of event is given a place here first

    def _write_record(self, kind: str, when: float, line: str) -> None:
        if self.log.debug >= DEBUG_RECORDS:
            self.log(f"{kind} {line}")
        writer = self.stats.get(kind)
        if writer is not None:
            writer.write(when, f"{timestamp_fields(when)} {line}")

    def _save_drift(self) -> None:
        """Hourly, with `enable ntp` only: the discipline's frequency to the driftfile."""
        if not (self.config.discipline and self.config.driftfile):
            return
        try:
            write_drift(self.config.driftfile, self.host.discipline.frequency * 1e6)
        except OSError as exc:
            self.log(f"{self.config.driftfile}: {exc.strerror or exc}")

    def _sysstats(self, now: float) -> None:
        """Once an hour, as ntpd's record_sys_stats (counters since start)."""
        writer = self.stats.get("sysstats")
        if writer is None:
            return
        c = self.host.counters
        counters = SystemCounters(uptime=int(now - self.host.started), received=c["received"],
                                  processed=c["processed"], new_version=c["thisver"], old_version=c["oldver"],
                                  restricted=c["restricted"], bad_length=c["badformat"], bad_auth=c["badauth"],
                                  declined=c["declined"], rate_limited=c["limited"], kod_sent=c["kodsent"])
        writer.write(now, sysstats_line(now, counters))

    def _after_batch(self) -> None:
        """After the datagrams read in one loop iteration: write their records, and bring the timer forward
        if they made something due sooner (an Autokey step, a symmetric peer's answer...)."""
        self._batch_pending = False
        self._drain_events()
        self._arm_timer()

    def _arm_timer(self, *, fired: bool = False) -> None:
        """Arm the one timer for the engine's next_timer() (at most IDLE_WAKE away); an armed timer is only
        ever brought forward, except right after it `fired`."""
        loop = self._loop
        if loop is None or (self._stop is not None and self._stop.is_set()):
            return
        now = time.time()
        when = min(self.host.next_timer(), self._next_sysstats, now + IDLE_WAKE)
        at = loop.time() + max(TIMER_FLOOR, when - now)
        if self._timer is not None and not fired:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer, self._timer_at = loop.call_at(at, self._on_timer), at

    def _on_timer(self) -> None:
        self.timer_runs += 1
        now = time.time()
        try:
            for o in self.host.handle_timers(now):
                self.send(o)
        except Exception as exc:  # keep the daemon alive; the next run tries again
            self.internal_error("timers", exc)
        self._drain_events()
        if now >= self._next_sysstats:
            self._sysstats(now)
            self._save_drift()
            self._next_sysstats = now + SYSSTATS_INTERVAL
        self._arm_timer(fired=True)

    def reload(self) -> None:
        try:
            config = load_config(self.config_path, self.log)
            keys = load_keys(config)
        except DaemonError as exc:
            self.log(f"reload failed, keeping the running configuration: {exc}")
            return
        self.config, self.keys = config, keys
        self._warn_key_permissions(config)
        if self.autokey is not None:  # the shell reads the key files; the engine's reload applies them
            reload_credentials(self.host, self.autokey, config)
        self.host.reload(config, keys, time.time())
        self._drain_events()
        self._arm_timer()  # a reload may make steps due now (restarted Autokey exchanges)

    async def _open_sockets(self) -> None:
        port = self.config.listen_port
        optional = set(self.plan.optional) if not self.plan.wildcard else set()
        for address in self.addresses:
            try:
                sock = self._bind(address, port)
            except DaemonError as exc:
                if address not in optional:
                    raise
                # a loopback address that only ntpd's default listens on: another daemon may hold it
                self.log(f"warning: not listening on {address}: {exc}")
                continue
            if address in WILDCARDS:  # learn each datagram's local address (Autokey needs it)
                self.endpoints[address] = _PacketInfoEndpoint(self, sock)
            else:
                self.endpoints[address] = _Endpoint(self, sock, address)
            self.log(f"listening on {address} port {port}")
        if not self.endpoints:
            raise DaemonError(f"{self.config_path}: the `interface` rules leave no address to listen on")

    def _bind(self, address: str, port: int) -> socket.socket:
        """A socket on `address`:`port`, never sharing that exact pair with another process.

        A specific address is bound without SO_REUSEADDR, so a second daemon cannot take it over. A wildcard
        socket carries SO_REUSEADDR (as ntpd's do), so that daemons on specific addresses can live beside it
        (the kernel gives each datagram to the most specific socket); a second wildcard on the same port is
        refused from /proc/net/udp before binding. A specific address under someone's wildcard is bound with
        SO_REUSEADDR too: it is ours alone, the wildcard keeps the rest. Either may start first."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        plain = address.split("%", 1)[0]
        wildcard = address in WILDCARDS
        if wildcard and _socket_inodes(plain, port, exact=True):
            raise self._in_use(address, port)
        for reuse in ((True,) if wildcard else (False, True)):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            if reuse:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                if "%" in address:  # IPv6 link-local: bind with its interface's scope
                    sock.bind(socket.getaddrinfo(address, port, family, socket.SOCK_DGRAM)[0][4])
                else:
                    sock.bind((address, port))
                if not reuse:  # bound alone; now let a wildcard started later share the port (the kernel checks
                    # SO_REUSEADDR on both sockets at the later bind), while a second daemon on this address,
                    # which binds without it first, is still refused
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                return sock
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EADDRINUSE:
                    raise DaemonError(f"{self.config_path}: cannot bind {address} port {port}: "
                                      f"{exc.strerror}") from None
                if wildcard or _socket_inodes(plain, port, exact=True):
                    raise self._in_use(address, port) from None
                # only a wildcard holds the port: share it, keeping our address to ourselves
        raise self._in_use(address, port)

    def _in_use(self, address: str, port: int) -> DaemonError:
        plain = address.split("%", 1)[0]
        owner = describe_owner(plain, port, exact=True) or describe_owner(plain, port)
        return DaemonError(f"{self.config_path}: {address} port {port} is already being served"
                           f"{' by ' + owner if owner else ''}; not starting a second daemon on it "
                           f"(stop that one, or give this one another `interface listen` address)")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._loop = loop
        await self._open_sockets()
        self._write_pidfile()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            self._arm_timer(fired=True)
            await self._stop.wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for endpoint in self.endpoints.values():
                endpoint.close()
            self._drain_events()
            self._save_drift()
            self.log("exiting on signal")
            self._remove_pidfile()
            for writer in self.stats.values():
                writer.close()
            self.log.close()

    def _write_pidfile(self) -> None:
        if self.pidfile:
            try:
                Path(self.pidfile).write_text(f"{os.getpid()}\n")
            except OSError as exc:
                raise DaemonError(f"{self.pidfile}: {exc.strerror}") from None

    def _remove_pidfile(self) -> None:
        if self.pidfile:
            try:
                os.unlink(self.pidfile)
            except FileNotFoundError:
                pass


def run_daemon(daemon: Daemon) -> None:
    """Run with uvloop when it is installed (faster datagram path), asyncio's loop otherwise."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(daemon.run())
        return
    if hasattr(uvloop, "run"):
        uvloop.run(daemon.run())
    else:  # pragma: no cover - old uvloop
        uvloop.install()
        asyncio.run(daemon.run())
