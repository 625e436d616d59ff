"""What the engine hands back to its shell, as typed values (aioquic's quic/events.py is the model).

Two channels, as aioquic has:

* datagrams: `receive_datagram` and `handle_timers` return the `DatagramToSend`s they caused, at once, because
  the shell must send each from the socket its request came in on (the quick paths, `quick_reply` and
  `quick_mac_reply`, return bare reply bytes for the same reason, and faster);
* everything else is queued and drained with `NtpHost.next_event()` (one at a time, None when empty) or
  `NtpHost.events()` (all pending): log lines, statistics records, ntpd's peer and system events, clock steps.

Each event is a frozen dataclass; those that ntpd writes as a line carry it in `text`, exactly as ntpd 4.2.8
words it. Where a line goes is the shell's business (daemon/main.py `Daemon._drain_events`): the log, the
filegen files of daemon/stats.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .state import Address
from .status import PEER_EVENT_NAMES, SYSTEM_EVENT_NAMES


@dataclass(frozen=True, slots=True)
class DatagramToSend:
    """A datagram to send: payload, destination (ip, port) and the local address to send it from (None: the
    address the datagram that caused it came to, or the kernel's choice)."""

    data: bytes
    dst: Address
    src: str | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line for the daemon's log (ntpd's msyslog): configuration notes, kisses, orphan mode, summaries..."""

    text: str


@dataclass(frozen=True, slots=True)
class StatsRecord:
    """A line for filegen `kind` (peerstats, loopstats, cryptostats...), without its MJD/seconds prefix;
    `time` is the engine's time when it was made (the prefix is written from it)."""

    kind: str
    time: float
    line: str


@dataclass(frozen=True, slots=True)
class PeerEvent:
    """ntpd's report_event for an association (PEVNT_* of engine/status.py): logged and written to protostats.
    `status` is the association's peer status word after the event."""

    time: float
    address: str
    assid: int
    code: int
    status: int

    @property
    def name(self) -> str:
        return PEER_EVENT_NAMES[self.code]

    @property
    def text(self) -> str:
        return f"{self.address} {self.status:04x} {self.code | 0x80:02x} {self.name}"


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """ntpd's report_event for the host itself (EVNT_*): logged and written to protostats. `status` is the
    system status word after the event."""

    time: float
    code: int
    status: int

    @property
    def name(self) -> str:
        return SYSTEM_EVENT_NAMES[self.code]

    @property
    def text(self) -> str:
        return f"0.0.0.0 {self.status:04x} {self.code:02x} {self.name}"


@dataclass(frozen=True, slots=True)
class ClockStepped:
    """The discipline stepped the clock by `offset` seconds (only with `enable ntp`; the clock itself is the
    `ClockAdjuster` the shell handed in, so this is a report, not a request)."""

    time: float
    offset: float

    @property
    def text(self) -> str:
        return f"clock discipline: step for offset {self.offset:+.6f} s"


@dataclass(frozen=True, slots=True)
class ClockPanic:
    """An offset beyond the panic threshold (1000 s): the discipline left the clock alone (ntpd would exit)."""

    time: float
    offset: float

    @property
    def text(self) -> str:
        return f"clock discipline: panic for offset {self.offset:+.6f} s"


Event: TypeAlias = LogLine | StatsRecord | PeerEvent | SystemEvent | ClockStepped | ClockPanic
"""Everything `next_event()` may return."""

__all__ = ["ClockPanic", "ClockStepped", "DatagramToSend", "Event", "LogLine", "PeerEvent",
           "StatsRecord", "SystemEvent"]
