"""Autokey broadcast to a real broadcast address, sans-IO (two NtpHosts, real crypto, a fake clock).

The in-memory pair of test_autokey_broadcast.py broadcasts to the client's own address, as the loopback daemon
tests must; on a LAN the broadcast goes to 10.x.255 and arrives with that destination on an interface that has
another address. Here packets leave from the source address each DatagramToSend names, as the kernel sends them
(IP_PKTINFO), and one sent from a broadcast address is refused, as the kernel refuses it (found against the
reference ntpd: tests/interop_ref, broadcast cells)."""

from __future__ import annotations

import heapq
import itertools

from autokey_broadcast import autokey_host
from autokey_pair import VECTOR_NOW, load_creds

from ntpd_py.autokey.session import mac, session_key
from ntpd_py.engine.association import MODE_BCLIENT, MODE_BROADCAST
from ntpd_py.wire.packet import decode

SERVER, CLIENT, BCAST = "10.99.0.1", "10.99.0.2", "10.99.0.255"
IFF_FLAGS = 0x87F23


class LanNet:
    """A broadcaster and a broadcast client on 10.99.0.0/24; `refused` counts sends from a broadcast source."""

    def __init__(self, vectors) -> None:
        self.stats: list[str] = []
        server_conf = f"server 127.127.1.0\nfudge 127.127.1.0 stratum 5\nbroadcast {BCAST} autokey minpoll 3\n"
        self.server = autokey_host(server_conf, SERVER, load_creds(vectors, "iff", "alice"), self.stats)
        self.client = autokey_host("broadcastclient\ncrypto ident alice\n", CLIENT,
                                   load_creds(vectors, "iff", "bob"), self.stats)
        self.now, self.delay = VECTOR_NOW, 0.0005
        self.queue: list = []
        self.seq = itertools.count()
        self.refused = 0
        self.broadcasts: list[bytes] = []

    def _send(self, out, host_address: str) -> None:
        src = out.src or host_address
        if src == BCAST:  # sendmsg with a broadcast source address: the kernel refuses it (ENETUNREACH)
            self.refused += 1
            return
        heapq.heappush(self.queue, (self.now + self.delay, next(self.seq), out.data, src, out.dst[0]))

    def run(self, seconds: float, until) -> None:
        end = self.now + seconds
        hosts = ((self.server, SERVER), (self.client, CLIENT))
        while self.now < end and not until():
            for host, address in hosts:
                if host.next_timer() <= self.now:
                    for out in host.handle_timers(self.now):
                        self._send(out, address)
            while self.queue and self.queue[0][0] <= self.now:
                when, _, data, src, dst = heapq.heappop(self.queue)
                if dst == BCAST:  # on the client's interface: destination the broadcast, interface its own
                    self.broadcasts.append(data)
                    outs = self.client.receive_datagram(data, (src, 123), BCAST, when, interface=CLIENT)
                    host_address = CLIENT
                else:
                    host = self.client if dst == CLIENT else self.server
                    outs = host.receive_datagram(data, (src, 123), dst, when)
                    host_address = dst
                for out in outs:
                    self._send(out, host_address)
            self.now += 0.05

    def client_assoc(self):
        return next((a for a in self.client.associations.values() if a.srcadr[0] == SERVER), None)


def test_broadcast_client_volley_leaves_from_the_interface_address(vectors):
    net = LanNet(vectors)

    def listening() -> bool:
        assoc = net.client_assoc()
        return assoc is not None and assoc.hmode == MODE_BCLIENT and assoc.bcast_delay is not None

    net.run(60, listening)
    assoc = net.client_assoc()
    assert assoc is not None, net.client.events()
    # the volley association answers from the interface (ntpd's rbufp->dstadr), never the broadcast address
    assert assoc.dstadr == CLIENT and net.refused == 0
    assert listening(), (net.client.events(), net.stats[-10:])
    assert assoc.auth_state.crypto == IFF_FLAGS


def test_broadcaster_keys_its_broadcasts_from_its_address_to_the_broadcast_address(vectors):
    net = LanNet(vectors)
    net.run(20, lambda: len(net.broadcasts) >= 2)
    bcast = next(a for a in net.server.associations.values() if a.hmode == MODE_BROADCAST)
    assert bcast.dstadr == SERVER
    for data in net.broadcasts:  # session key (source, destination, key ID, cookie 0), as ntpd's make_keylist
        pkt = decode(data)
        key = session_key(SERVER, BCAST, pkt.keyid, 0)
        assert mac(key, pkt.keyid, data[: pkt.mac_covered])[4:] == pkt.mac
