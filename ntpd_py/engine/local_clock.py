"""The local clock driver 127.127.1.x (ntpd's refclock_local.c).

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations

from ..config.model import Fudge
from ..ntptime import to_ntp64
from ..protocol import LEAP_NOWARNING, NTP_SHIFT
from ..wire.packet import refid_from_text
from .association import Association, MODE_SERVER
from .status import PEVNT_REACH


FUDGE_FLAG_BITS = {"flag1": 1, "flag2": 2, "flag3": 4, "flag4": 8}  # ntpd's CLK_FLAG1..4


class LocalRefclock:
    """Mixed into `NtpHost`; no state of its own."""

    @staticmethod
    def _apply_fudge(assoc: Association, fudge: Fudge) -> None:
        """A `fudge` line's settings. Stratum and refid shape the clock's samples; the times and flags are
        only shown (`ntpq -c cv`): the reference 4.2.8p15's local driver leaves its samples at offset 0 too."""
        if fudge.stratum is not None:
            assoc.refclock_stratum = fudge.stratum
        if fudge.refid:
            assoc.refclock_refid = refid_from_text(fudge.refid)
        assoc.refclock_time1, assoc.refclock_time2 = fudge.time1 or 0.0, fudge.time2 or 0.0
        assoc.refclock_flags = sum(bit for name, bit in FUDGE_FLAG_BITS.items() if fudge.flags.get(name))

    def _poll_local_clock(self, assoc: Association, now: float) -> None:
        """The local clock driver: always reachable, zero offset; its filter starts full so that an
        isolated root is synchronised at once."""
        first = assoc.reach == 0
        assoc.refclock_polls += 1
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
