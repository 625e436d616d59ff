"""An in-memory broadcast server + broadcast client pair: two NtpHosts with Autokey, real crypto, a fake clock."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from autokey_pair import VECTOR_NOW, load_creds

from ntpd_py.autokey.authenticator import AutokeyAuth
from ntpd_py.autokey.local_host import AutokeyHost
from ntpd_py.config.parser import parse_text
from ntpd_py.engine.host import NtpHost

SERVER, CLIENT = "10.99.0.1", "10.99.0.2"
SERVER_CONF = f"server 127.127.1.0\nfudge 127.127.1.0 stratum 5\nbroadcast {CLIENT} autokey minpoll 3\n"
CLIENT_CONF = "broadcastclient\ncrypto ident alice\n"


def autokey_host(conf: str, address: str, creds, stats: list[str]) -> NtpHost:
    """An NtpHost with AutokeyAuth wired as daemon.autokey_wiring.attach does (but with in-memory credentials)."""
    result = parse_text(conf, f"{address}.conf")
    assert not result.errors, result.diagnostics
    host = NtpHost(result.config, VECTOR_NOW, local_addresses=[address])
    auth = AutokeyAuth(AutokeyHost(creds, stats=lambda src, line: stats.append(f"{address} {src} {line}")),
                       host.symmetric, automax_log2=result.config.autokey, engine=host)
    host.authenticator = auth
    return host


@dataclass
class BroadcastNet:
    """Hosts by address; `delay` one way; `tap` sees (and may replace) every datagram to the client."""

    server: NtpHost
    client: NtpHost
    delay: float = 0.0005
    offset: float = 0.02  # the server's clock is ahead of the client's by this much
    now: float = VECTOR_NOW
    queue: list = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)
    to_client: list[bytes] = field(default_factory=list)

    def _host(self, address: str) -> tuple[NtpHost, float]:
        return (self.server, self.offset) if address == SERVER else (self.client, 0.0)

    def _send(self, t: float, data: bytes, src: str, dst: str) -> None:
        heapq.heappush(self.queue, (t + self.delay, next(self.seq), data, src, dst))

    def deliver(self, data: bytes, src: str = SERVER, dst: str = CLIENT, at: float | None = None) -> list:
        host, offset = self._host(dst)
        return host.receive_datagram(data, (src, 123), dst, (self.now if at is None else at) + offset)

    def run(self, seconds: float, step: float = 0.05, until=None) -> None:
        end = self.now + seconds
        while self.now < end:
            for address in (SERVER, CLIENT):
                host, offset = self._host(address)
                if host.next_timer() <= self.now + offset:
                    for out in host.handle_timers(self.now + offset):
                        self._send(self.now, out.data, address, out.dst[0])
            while self.queue and self.queue[0][0] <= self.now:
                when, _, data, src, dst = heapq.heappop(self.queue)
                if dst == CLIENT:
                    self.to_client.append(data)
                host, offset = self._host(dst)
                for out in host.receive_datagram(data, (src, 123), dst, when + offset):
                    self._send(when, out.data, dst, out.dst[0])
            self.now += step
            if until is not None and until():
                return


def make_net(vectors: Path, scheme: str = "iff") -> tuple[BroadcastNet, list[str]]:
    stats: list[str] = []
    server = autokey_host(SERVER_CONF, SERVER, load_creds(vectors, scheme, "alice"), stats)
    client = autokey_host(CLIENT_CONF, CLIENT, load_creds(vectors, scheme, "bob"), stats)
    return BroadcastNet(server, client), stats


def broadcast_assoc(host: NtpHost):
    return next((a for a in host.associations.values() if a.srcadr[0] == SERVER), None)
