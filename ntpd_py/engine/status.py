"""Event codes and status words as ntpd's ntp_control.c builds them (RFC 9327 sections 4-5).

System status word: leap(2) | clock source(6) | event count(4) | last event(4).
Peer status word: status bits(5) | selection(3) | event count(4) | last event(4).
A repeat of the last event resets the count to 1; a count of 15 stops recording (ntpd's report_event).
"""

from __future__ import annotations

from dataclasses import dataclass

# system events (EVNT_*)
EVNT_UNSPEC, EVNT_NSET, EVNT_FSET, EVNT_SPIK, EVNT_FREQ, EVNT_SYNC, EVNT_SYSRESTART, EVNT_SYSFAULT = range(8)
EVNT_NOPEER, EVNT_ARMED, EVNT_DISARMED, EVNT_LEAP, EVNT_CLOCKRESET, EVNT_KERN, EVNT_TAI, EVNT_LEAPVAL = range(8, 16)
SYSTEM_EVENT_NAMES = ("unspecified", "freq_not_set", "freq_set", "spike_detect", "freq_mode", "clock_sync",
                      "restart", "panic_stop", "no_system_peer", "leap_armed", "leap_disarmed", "leap_event",
                      "clock_step", "kern", "TAI...", "stale leapsecond values")

# peer events (PEVNT_*)
PEVNT_MOBIL, PEVNT_DEMOBIL, PEVNT_UNREACH, PEVNT_REACH, PEVNT_RESTART, PEVNT_REPLY, PEVNT_RATE = range(1, 8)
PEVNT_DENY, PEVNT_ARMED, PEVNT_NEWPEER, PEVNT_CLOCK, PEVNT_AUTH, PEVNT_POPCORN = range(8, 14)
PEER_EVENT_NAMES = ("", "mobilize", "demobilize", "unreachable", "reachable", "restart", "no_reply",
                    "rate_exceeded", "access_denied", "leap_armed", "sys_peer", "clock_event", "bad_auth",
                    "popcorn", "interleave_mode", "interleave_error")

# clock source in the system status word (CTL_SST_TS_*)
SST_UNSPEC, SST_ATOM, SST_LF, SST_HF, SST_UHF, SST_LOCAL, SST_NTP, SST_UDPTIME = range(8)

# peer status bits (CTL_PST_*), high byte
PST_CONFIG, PST_AUTHENABLE, PST_AUTHENTIC, PST_REACH, PST_BCAST = 0x80, 0x40, 0x20, 0x10, 0x08
MAX_EVENTS = 15


@dataclass
class EventCounter:
    """The (count, last) pair of one status word."""

    count: int = 0
    last: int = 0

    def report(self, code: int) -> bool:
        """Record an event; False when it was discarded because the count is full."""
        if self.last == code:
            self.count = 0
        if self.count >= MAX_EVENTS:
            return False
        self.last = code
        self.count += 1
        return True


def system_status(leap: int, source: int, events: EventCounter) -> int:
    return ((leap & 3) << 14) | ((source & 0x3F) << 8) | ((events.count & 0xF) << 4) | (events.last & 0xF)


def peer_status(bits: int, selection: int, events: EventCounter) -> int:
    return ((bits | (selection & 7)) << 8) | ((events.count & 0xF) << 4) | (events.last & 0xF)
