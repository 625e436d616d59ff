"""The local clock driver 127.127.1.x (ntpd's refclock_local.c).

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations


from ..clock.filter import NTP_SHIFT
from ..ntptime import to_ntp64
from .association import Association, MODE_SERVER
from .status import PEVNT_REACH
from .state import LEAP_NOWARNING


class LocalRefclock:
    """Mixed into `NtpHost`; no state of its own."""

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
