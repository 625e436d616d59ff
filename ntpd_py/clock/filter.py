"""The RFC 5905 clock filter: the last 8 (offset, delay, dispersion) samples of one association.

The sample with the lowest delay is the best estimate; dispersion grows PHI (15 ppm) per second of age;
the filter dispersion weights the sorted stages by 1/2, 1/4, ...; jitter is the RMS offset difference from
the best sample. As ntpd's clock_filter(), a sample older than the last one used is not used again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..protocol import MAXDISPERSE, NTP_SHIFT

PHI = 15e-6
FILTER_WEIGHT = 0.5
ALLAN_INTERCEPT = 1 << 11  # seconds beyond which a stage's dispersion also counts in sorting


@dataclass(slots=True)
class FilterResult:
    offset: float
    delay: float
    dispersion: float
    jitter: float
    fresh: bool  # True when the best sample is newer than the one used before


@dataclass
class ClockFilter:
    """Eight-stage shift register; `stages()` gives most-recent-first tuples for ntpq's filt* variables."""

    precision: float = 2.0**-20
    offsets: list[float] = field(default_factory=lambda: [0.0] * NTP_SHIFT)
    delays: list[float] = field(default_factory=lambda: [0.0] * NTP_SHIFT)
    dispersions: list[float] = field(default_factory=lambda: [MAXDISPERSE] * NTP_SHIFT)
    epochs: list[float] = field(default_factory=lambda: [0.0] * NTP_SHIFT)
    next_stage: int = 0
    updated: float = 0.0
    used_epoch: float = -1.0
    offset: float = 0.0
    delay: float = 0.0
    dispersion: float = MAXDISPERSE
    jitter: float = 0.0

    def add(self, offset: float, delay: float, dispersion: float, now: float) -> FilterResult:
        """Shift in one sample and recompute the peer offset, delay, dispersion and jitter."""
        stage = self.next_stage
        self.offsets[stage], self.delays[stage] = offset, delay
        self.dispersions[stage], self.epochs[stage] = dispersion, now
        self.next_stage = (stage + 1) % NTP_SHIFT
        return self._recompute(now, skip=stage)

    def age(self, now: float) -> None:
        """Grow the dispersion of every stage to `now` (an empty poll, as ntpd does on unreach)."""
        self._recompute(now, skip=None)

    def _recompute(self, now: float, skip: int | None) -> FilterResult:
        grown = PHI * (now - self.updated) if self.updated else 0.0
        self.updated = now
        keys = []
        for j in range(NTP_SHIFT):
            if j != skip:
                self.dispersions[j] = min(self.dispersions[j] + grown, MAXDISPERSE)
            if self.dispersions[j] >= MAXDISPERSE:
                key = MAXDISPERSE
            elif now - self.epochs[j] > ALLAN_INTERCEPT:
                key = self.delays[j] + self.dispersions[j]
            else:
                key = self.delays[j]
            keys.append((key, -self.epochs[j], j))
        keys.sort()
        valid = [j for key, _, j in keys if key < MAXDISPERSE]
        order = [j for _, _, j in keys]
        disp = 0.0
        for j in reversed(order):
            disp = FILTER_WEIGHT * (disp + self.dispersions[j])
        self.dispersion = disp
        if not valid:
            return FilterResult(self.offset, self.delay, disp, self.jitter, False)
        best = valid[0]
        self.offset, self.delay = self.offsets[best], self.delays[best]
        square = sum((self.offsets[j] - self.offsets[best]) ** 2 for j in valid)
        jitter = math.sqrt(square / (len(valid) - 1)) if len(valid) > 1 else 0.0
        self.jitter = max(jitter, self.precision)
        fresh = self.epochs[best] > self.used_epoch
        if fresh:
            self.used_epoch = self.epochs[best]
        return FilterResult(self.offset, self.delay, disp, self.jitter, fresh)

    def stages(self) -> list[tuple[float, float, float]]:
        """(delay, offset, dispersion) per stage, most recent first, as ntpq's filtdelay/filtoffset/filtdisp."""
        out = []
        for i in range(1, NTP_SHIFT + 1):
            j = (self.next_stage - i) % NTP_SHIFT
            out.append((self.delays[j], self.offsets[j], self.dispersions[j]))
        return out

    def reset(self) -> None:
        self.__init__(precision=self.precision)  # type: ignore[misc]
