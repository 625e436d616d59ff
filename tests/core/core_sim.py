"""A tiny discrete-time network for driving NtpHosts without sockets (helper for tests/core)."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from ntpd_py.symkeys.keyfile import parse_keys
from ntpd_py.clock.discipline import SimulatedClock
from ntpd_py.config.parser import parse_text
from ntpd_py.engine.events import Event, StatsRecord
from ntpd_py.engine.host import NtpHost

T0 = 1_800_000_000.0
KEYS_TEXT = "1 MD5 secret-md5\n2 SHA1 " + "5a" * 20 + "\n3 MD5 other-key\n"


def config(text: str):
    result = parse_text(text, "test.conf")
    assert not result.errors, result.diagnostics
    return result.config


def log_lines(events: list[Event]) -> list[str]:
    """The lines the daemon logs of these events (every event but a statistics record has one)."""
    return [e.text for e in events if not isinstance(e, StatsRecord)]


def make_host(text: str, address: str, now: float = T0, keys: str = KEYS_TEXT, **kw) -> NtpHost:
    return NtpHost(config(text), now, keys=parse_keys(keys), local_addresses=[address], **kw)


@dataclass
class SimNet:
    """Hosts keyed by address; each has a clock offset (its clock = true time + offset), or a SimulatedClock
    (its clock = true time - clock.offset, advancing with the clock's frequency error and the corrections the
    host's discipline applies): the closed loop, where the host reads the time of the clock it steers."""

    delay: float = 0.0005
    hosts: dict[str, tuple[NtpHost, float]] = field(default_factory=dict)
    port: int = 123
    queue: list = field(default_factory=list)
    counter: itertools.count = field(default_factory=itertools.count)
    dropped: int = 0
    sent: int = 0
    clocks: dict[str, SimulatedClock] = field(default_factory=dict)

    def add(self, address: str, host: NtpHost, offset: float = 0.0, clock: SimulatedClock | None = None) -> NtpHost:
        self.hosts[address] = (host, offset)
        if clock is not None:
            self.clocks[address] = clock
        return host

    def _offset(self, address: str, offset: float) -> float:
        clock = self.clocks.get(address)
        return offset if clock is None else -clock.offset

    def run(self, start: float, seconds: float, step: float = 0.05) -> None:
        t = start
        end = start + seconds
        while t < end:
            for address, (host, offset) in list(self.hosts.items()):
                local = t + self._offset(address, offset)
                if host.next_timer() <= local:
                    for o in host.handle_timers(local):
                        self._send(t, o.data, (address, self.port), o.dst)
            while self.queue and self.queue[0][0] <= t:
                when, _, data, src, dst = heapq.heappop(self.queue)
                target = self.hosts.get(dst[0])
                if target is None:
                    self.dropped += 1
                    continue
                host, offset = target
                for o in host.receive_datagram(data, src, dst[0], when + self._offset(dst[0], offset)):
                    self._send(when, o.data, (dst[0], self.port), o.dst)
            for clock in self.clocks.values():
                clock.advance(step)
            t += step

    def _send(self, t: float, data: bytes, src, dst) -> None:
        self.sent += 1
        heapq.heappush(self.queue, (t + self.delay, next(self.counter), data, src, dst))
