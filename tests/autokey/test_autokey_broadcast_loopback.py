"""Broadcast to a real broadcast address through the daemon shell, on loopback: 127.255.255.255 is lo's
broadcast address, and a wildcard socket reads a datagram sent there with IP_PKTINFO ipi_addr 127.255.255.255
and ipi_spec_dst 127.0.0.1 (the interface's address), as a LAN broadcast arrives at 10.x.255 on an interface
with another address. Found against the reference ntpd (tests/interop_ref, broadcast cells). Not on port 123:
the `port N` extension with a random free port, as test_autokey_wildcard.py."""

from __future__ import annotations

import time

import pytest
from autokey_daemons import free_loopback, make_keys
from test_autokey_wildcard import _log, free_port, start

from ntpd_py.control.client import ControlClient, ControlError
from ntpd_py.daemon import main as daemon_main

LO_BROADCAST = "127.255.255.255"
TC_FLAGS = 0x87F01  # trusted certificate scheme, every step done, no leap file


def test_wildcard_broadcaster_keys_and_sends_from_the_interface_address(tmp_path):
    """`broadcast ADDR` on a wildcard socket: the association's local address (Autokey's session-key source,
    and the packets' source) is the interface the broadcast leaves from, never 0.0.0.0."""
    conf = tmp_path / "ntp.conf"
    conf.write_text(f"port {free_port()}\ndisable ntp\nserver 127.127.1.0\nbroadcast {LO_BROADCAST} minpoll 3\n")
    daemon = daemon_main.Daemon(str(conf), logfile=str(tmp_path / "log"))
    assert daemon.addresses == ["0.0.0.0"]
    bcast = next(a for a in daemon.host.associations.values() if a.srcadr[0] == LO_BROADCAST)
    assert bcast.dstadr == "127.0.0.1"
    assert daemon_main.route_source(LO_BROADCAST, 123) == "127.0.0.1"


def _bclient_flags(port: int, server: str) -> int | None:
    try:
        with ControlClient("127.0.0.1", port, timeout=0.5, retries=1) as client:
            for assoc in client.associations():
                values = client.read_peer(assoc.assid, ["srcadr", "flags", "dstadr"])
                if values.get("srcadr", "").split(":")[0] == server:
                    return int(values["flags"], 0)
    except (ControlError, OSError, KeyError, ValueError):
        return None
    return None


@pytest.mark.slow
@pytest.mark.interop
def test_broadcast_client_on_a_wildcard_socket_runs_its_volley_from_the_interface(tmp_path):
    """A broadcast to 127.255.255.255 mobilizes a volley association whose packets leave from 127.0.0.1 (the
    receiving interface): sent from the broadcast address they would never leave, and no flag would be set."""
    port = free_port()
    alice_addr = free_loopback(port)
    make_keys(tmp_path, None, ["bob"], time.time() - 60)
    alice = start(tmp_path / "alice", alice_addr, port,
                  "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ncrypto host alice pw serverpw\n"
                  f"broadcast {LO_BROADCAST} autokey minpoll 3\n")
    try:
        bob = start(tmp_path / "bob", None, port, "crypto host bob pw clientpw\nbroadcastclient\n")
        try:
            flags, deadline = None, time.monotonic() + 40
            while flags != TC_FLAGS and time.monotonic() < deadline:
                time.sleep(0.25)
                flags = _bclient_flags(port, alice_addr)
            assert flags == TC_FLAGS, (hex(flags or 0), _log(tmp_path / "bob")[-2000:],
                                       _log(tmp_path / "alice")[-2000:])
            with ControlClient("127.0.0.1", port, timeout=1, retries=2) as client:
                assert client.read_system(["io_sendfailed"])["io_sendfailed"] == "0"
        finally:
            bob.terminate()
            bob.wait(10)
    finally:
        alice.terminate()
        alice.wait(10)
