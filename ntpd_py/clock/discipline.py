"""Clock discipline behind an interface, so the daemon cannot move a clock unless told to.

`ClockAdjuster` is what the discipline drives. `NullClock` (the default, used unless the configuration
says `enable ntp`) does nothing at all. `KernelClock` calls adjtimex(2) as ntpd's kernel discipline does; it
is only ever constructed with `enable ntp` and is never exercised in tests against the real clock.
`SimulatedClock` is a clock with a frequency error in pure Python, on which tests check convergence.
`ClockDiscipline` is a hybrid PLL/FLL after RFC 5905's local_clock(): step over 128 ms (after the stepout),
panic over 1000 s, otherwise slew and correct the frequency.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from typing import Protocol

STEP_THRESHOLD = 0.128
STEPOUT = 900.0
PANIC_THRESHOLD = 1000.0
PLL_GAIN = 16
MAX_FREQ = 500e-6
CLOCK_AVG = 4.0  # averaging constant of the jitter and wander estimates (RFC 5905's AVG)


class ClockAdjuster(Protocol):
    """The only way the daemon touches a clock."""

    def slew(self, offset: float) -> None: ...
    def step(self, offset: float) -> None: ...
    def set_frequency(self, frequency: float) -> None: ...


class NullClock:
    """Discipline off: records what it was asked and changes nothing."""

    def __init__(self) -> None:
        self.requests = 0

    def slew(self, offset: float) -> None:
        self.requests += 1

    def step(self, offset: float) -> None:
        self.requests += 1

    def set_frequency(self, frequency: float) -> None:
        self.requests += 1


@dataclass
class SimulatedClock:
    """A clock running `frequency_error` fast, with a phase error `offset` (true time minus clock time)."""

    offset: float = 0.0
    frequency_error: float = 0.0
    frequency: float = 0.0  # correction applied by the discipline
    steps: int = 0

    def advance(self, seconds: float) -> None:
        self.offset -= (self.frequency_error + self.frequency) * seconds

    def slew(self, offset: float) -> None:
        self.offset -= offset

    def step(self, offset: float) -> None:
        self.offset -= offset
        self.steps += 1

    def set_frequency(self, frequency: float) -> None:
        self.frequency = frequency


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11)]


ADJ_OFFSET, ADJ_FREQUENCY, ADJ_STATUS, ADJ_NANO, ADJ_SETOFFSET = 0x0001, 0x0002, 0x0010, 0x2000, 0x0100
STA_PLL, STA_NANO = 0x0001, 0x2000


class KernelClock:
    """adjtimex(2), as ntpd's kernel discipline. Only built with `enable ntp`; fails without CAP_SYS_TIME."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def _call(self, tx: _Timex) -> None:
        if self._libc.adjtimex(ctypes.byref(tx)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, "adjtimex failed (CAP_SYS_TIME missing?)")

    def slew(self, offset: float) -> None:
        tx = _Timex(modes=ADJ_OFFSET | ADJ_STATUS | ADJ_NANO, offset=int(offset * 1e9), status=STA_PLL | STA_NANO)
        self._call(tx)

    def step(self, offset: float) -> None:
        seconds = int(offset // 1)
        tx = _Timex(modes=ADJ_SETOFFSET | ADJ_NANO, time=_Timeval(seconds, int((offset - seconds) * 1e9)))
        self._call(tx)

    def set_frequency(self, frequency: float) -> None:
        tx = _Timex(modes=ADJ_FREQUENCY, freq=int(frequency * 1e6 * 65536))
        self._call(tx)


class ClockDiscipline:
    """Turns system offsets into adjuster calls; `update` returns what it did ("slew", "step", "spike", "panic")."""

    def __init__(self, adjuster: ClockAdjuster, step_threshold: float = STEP_THRESHOLD,
                 stepout: float = STEPOUT, panic: float = PANIC_THRESHOLD) -> None:
        self.adjuster = adjuster
        self.step_threshold, self.stepout, self.panic = step_threshold, stepout, panic
        self.frequency = 0.0
        self.last_update: float | None = None
        self.spike_since: float | None = None
        self.jitter = 0.0
        self.wander = 0.0  # RMS of frequency changes, s/s (ntpd's clock_stability; loopstats' wander in PPM)

    def _record_frequency_change(self, delta: float) -> None:
        """RFC 5905 local_clock(): wander = sqrt(w^2 + (delta^2 - w^2) / AVG), an exponential RMS average."""
        square = self.wander * self.wander
        self.wander = (square + (delta * delta - square) / CLOCK_AVG) ** 0.5

    def update(self, offset: float, now: float, poll: int, sample_time: float | None = None) -> str:
        """`sample_time`: when the offset was measured.  A sample measured before the last correction (the
        filter's best can be an older sample) no longer describes this clock: it is ignored ("old"), as
        RFC 5905's clock_update never uses an old sample; feeding it would correct the same offset twice."""
        if sample_time is not None and self.last_update is not None and sample_time <= self.last_update:
            return "old"
        if abs(offset) > self.panic:
            return "panic"
        if abs(offset) > self.step_threshold:
            if self.spike_since is None:
                self.spike_since = now
            if now - self.spike_since < self.stepout and self.last_update is not None:
                return "spike"
            self.adjuster.step(offset)
            self.spike_since, self.last_update = None, now
            return "step"
        self.spike_since = None
        if self.last_update is not None:
            interval, before = now - self.last_update, self.frequency
            tau = float(1 << max(poll, 0))
            loop = PLL_GAIN * tau
            self.frequency += offset * min(interval, tau) / (loop * loop) * 4
            if interval > 0:
                self.frequency += offset / max(interval, tau) / 4  # FLL share
            self.frequency = max(-MAX_FREQ, min(MAX_FREQ, self.frequency))
            self._record_frequency_change(self.frequency - before)
            self.adjuster.set_frequency(self.frequency)
        self.adjuster.slew(offset)
        self.last_update = now
        return "slew"
