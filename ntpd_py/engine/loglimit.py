"""Log lines caused by packets are rate-limited; the counters never are.

Anyone can send a daemon bad packets (spoofed crypto-NAKs, forged kisses, broken mode-6 requests), and a log
line per packet would let them fill the disk and bury the lines that matter. Each kind of line ("bad_auth",
"kiss RATE", ...) may be written `burst` times in a `window` of seconds; the rest are counted, and when the
window closes one line says how many were left out. Counters in mode 6 (`ss_badauth`, ...) count them all.

    limiter = LogLimiter()
    if limiter.allow("bad_auth", now): log(line)
    for summary in limiter.flush(now): log(summary)     # from the timer: closed windows' suppressed counts
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = 60.0  # seconds
BURST = 5  # lines of one kind per window


@dataclass
class _Window:
    start: float
    written: int = 0
    suppressed: int = 0


@dataclass
class LogLimiter:
    window: float = WINDOW
    burst: int = BURST
    suppressed_total: int = 0
    _kinds: dict[str, _Window] = field(default_factory=dict)
    _pending: list[str] = field(default_factory=list)

    def allow(self, kind: str, now: float) -> bool:
        """May a line of `kind` be written at `now`? Counts it as suppressed when not."""
        state = self._kinds.get(kind)
        if state is None or now - state.start >= self.window:
            if state is not None and state.suppressed:
                self._pending.append(self._summary(kind, state))
            state = self._kinds[kind] = _Window(now)
        if state.written < self.burst:
            state.written += 1
            return True
        state.suppressed += 1
        self.suppressed_total += 1
        return False

    def flush(self, now: float) -> list[str]:
        """Summary lines owed: one per kind whose window has closed with suppressed lines (those windows end)."""
        out, self._pending = self._pending, []
        for kind, state in list(self._kinds.items()):
            if now - state.start < self.window:
                continue
            if state.suppressed:
                out.append(self._summary(kind, state))
            del self._kinds[kind]
        return out

    def _summary(self, kind: str, state: _Window) -> str:
        return (f"{state.suppressed} more '{kind}' lines suppressed in {self.window:.0f} s "
                f"(the counters count them all: ntpq -c \"rv 0\")")


__all__ = ["LogLimiter", "WINDOW", "BURST"]
