"""Client pacing: never send a server more than ntpd's limiter takes, so no server ever has to kiss us.

A server with `restrict ... limited` (the usual production line) runs ntp_monitor.c's leaky bucket on every
packet from our address (engine/restrict.py: `leaky_bucket`). The client runs the same bucket on its own
sends, with ntpd's default `discard` parameters (average 3, minimum 2), and holds a packet back until the
server's bucket would take it with a margin of one headway to spare. ntpd rounds each interval to the
nearest second, so a packet n - 0.5 s after the previous one already counts as n seconds; sends are placed
0.15 s later than that, more than the jitter between two consecutive packets on any sane path. A RATE
kiss means the server's bucket is full: the model fills too, and the client waits until it has drained.

The cost is nothing for ordinary polling (64 s, or iburst's 2 s volley); it spaces the Autokey steps, which
would otherwise go out as fast as answers come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from .restrict import DEFAULT_AVERAGE, DEFAULT_MINIMUM, NTP_SHIFT, Limit, leaky_bucket, whole_seconds

MIN_INTERVAL = 1  # whole seconds between two packets, as ntpd counts them (its minimum 2 with the 1-s grace)
JITTER_MARGIN = 0.15  # ntpd rounds to the nearest second: n - 0.5 s already counts as n; 0.15 s more absorbs
# the sender's scheduling and network jitter between two packets (both are stamped when the timer fires)
MARGIN_HEADWAYS = 1  # keep this many headways free in the server's bucket
MAX_AVERAGE = 10  # a kiss asking for more is a poll request, not a bucket size (RATE backs the poll off)
TIMER_SLACK = 0.05  # a timer that fires this early still sends (the server rounds with 0.5 s to spare)


@dataclass
class ServerPacer:
    """The server's view of our packets, as its limiter would keep it."""

    average: int = DEFAULT_AVERAGE
    minimum: int = DEFAULT_MINIMUM
    last: float | None = None
    leak: int = 0

    def _limit(self) -> int:
        return (NTP_SHIFT - MARGIN_HEADWAYS) * (1 << self.average)

    def delay(self, now: float) -> float:
        """Seconds to wait before the next packet may leave (0: now is fine)."""
        if self.last is None:
            return 0.0
        head = 1 << self.average
        # whole seconds needed: the minimum (with ntpd's grace) and enough drain to stay below our limit
        need = max(MIN_INTERVAL, self.minimum - 1, self.leak + head - self._limit() + 1)
        wait = self.last + need - 0.5 + JITTER_MARGIN - now
        return 0.0 if wait < TIMER_SLACK else wait

    def sent(self, now: float) -> None:
        """Account a packet sent at `now` (call after `delay` said 0)."""
        if self.last is None:
            self.last, self.leak = now, 0
            return
        self.leak, verdict = leaky_bucket(self.leak, whole_seconds(now - self.last), self.average, self.minimum)
        self.last = now
        if verdict is not Limit.OK:  # sent against advice (should not happen): mirror the server's state
            self.leak = max(self.leak, NTP_SHIFT * (1 << self.average))

    def kissed(self, kiss_poll: int, our_poll: int) -> None:
        """A RATE kiss: the server's bucket is full (limit + head). ntpd's kiss carries max(our poll, its
        `discard average`): a value above the poll we sent is its average, which the model adopts."""
        if our_poll < kiss_poll <= MAX_AVERAGE:
            self.average = max(self.average, kiss_poll)
        head = 1 << self.average
        self.leak = NTP_SHIFT * head + head


__all__ = ["ServerPacer", "MIN_INTERVAL", "JITTER_MARGIN", "MARGIN_HEADWAYS"]
