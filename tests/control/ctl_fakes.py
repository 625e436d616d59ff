"""Test doubles for mode-6 tests: a ControlView with the reference's values, and a UDP server around the
real ControlResponder (the thing under test), so that the real ntpq and our client can talk to it."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from ntpd_py.wire import control_values as v
from ntpd_py.control.responder import ControlResponder

BOB_ASSID = 58699
BOB_PEER_STATUS = 0xF61A
BOB_SYS_STATUS = 0x0616


@dataclass
class FakeView:
    """A ControlView holding fixed values (what the engine would render)."""

    status: int = BOB_SYS_STATUS
    sysvars: list[tuple[str, str]] = field(default_factory=list)
    assocs: list[tuple[int, int]] = field(default_factory=list)
    peervars: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def system_status(self) -> int:
        return self.status

    def system_variables(self) -> list[tuple[str, str]]:
        return list(self.sysvars)

    def associations(self) -> list[tuple[int, int]]:
        return list(self.assocs)

    def named_system_variables(self) -> list[tuple[str, str]]:
        return self.system_variables()

    def peer_status(self, assid: int) -> int | None:
        return dict(self.assocs).get(assid)

    def peer_variables(self, assid: int) -> list[tuple[str, str]] | None:
        return self.peervars.get(assid)

    def named_peer_variables(self, assid: int) -> list[tuple[str, str]] | None:
        return self.peervars.get(assid)

    def clear_peer_events(self, assid: int) -> None:
        pass

    def clock_variables(self, assid: int, *, named: bool = False) -> tuple[int, list[tuple[str, str]]] | None:
        return None  # no reference clock

    def interface_rows(self) -> list[list[tuple[str, str]]]:
        return []

    def restriction_rows(self) -> list[list[tuple[str, str]]]:
        return []

    mru: list[tuple[str, float, float, int, int, int]] = field(default_factory=list)

    def mru_entries(self) -> list[tuple[str, float, float, int, int, int]]:
        """(address:port, first seen, last seen, count, version<<3|mode, restrict flags), newest first."""
        return list(self.mru)


def bob_view() -> FakeView:
    """bob of the gq/ reference run (client of alice, Autokey GQ), as ntpd 4.2.8p15 rendered it."""
    sysvars = [
        ("version", v.quoted("ntpd-py 0.1.0")), ("processor", v.quoted("x86_64")),
        ("system", v.quoted("Linux")), ("leap", "0"), ("stratum", "6"), ("precision", "-24"),
        ("rootdelay", v.fixed(0.110)), ("rootdisp", v.fixed(187.596)), ("refid", "10.99.0.1"),
        ("reftime", v.timestamp(0xEEAD243AEBAD7B37)), ("clock", v.timestamp(0xEEAD243DBCC71E41)),
        ("peer", str(BOB_ASSID)), ("tc", "6"), ("mintc", "3"), ("offset", v.fixed(0.0, 6)),
        ("frequency", v.fixed(0.0)), ("sys_jitter", v.fixed(0.0, 6)), ("clk_jitter", v.fixed(0.0)),
        ("clk_wander", v.fixed(0.0)), ("tai", "37"), ("host", v.quoted("bob")),
        ("flags", v.hexadecimal(0x80003)), ("digest", v.quoted("md5")),
        ("signature", v.quoted("md5WithRSAEncryption")), ("update", "202611220820"),
        ("cert", v.quoted("bob alice 0x4")), ("until", "202711220820"),
        ("cert", v.quoted("alice alice 0x5")), ("until", "202711220811"),
        ("cert", v.quoted("bob bob 0x0")), ("until", "202711220811"),
    ]
    peer = [
        ("srcadr", "10.99.0.1"), ("srcport", "123"), ("dstadr", "10.99.0.2"), ("dstport", "123"),
        ("leap", "0"), ("stratum", "5"), ("precision", "-24"), ("rootdelay", v.fixed(0.0)),
        ("rootdisp", v.fixed(0.0)), ("refid", "127.0.0.1"), ("reftime", v.timestamp(0)),
        ("rec", v.timestamp(0xEEAD243AEBAD7B37)), ("reach", v.reach(1)), ("unreach", "0"), ("hmode", "3"),
        ("pmode", "4"), ("hpoll", "6"), ("ppoll", "6"), ("headway", "360"), ("flash", v.hexadecimal(0)),
        ("keyid", v.hexadecimal(0x7D8BF5D9)), ("offset", v.fixed(0.039)), ("delay", v.fixed(0.110)),
        ("dispersion", v.fixed(187.527)), ("jitter", v.fixed(0.278)), ("xleave", v.fixed(0.130)),
        ("filtdelay", v.array_ms([0.00011, 0.00011, 0.00011, 0.00006, 0.00119, 0.00033, 0, 0])),
        ("filtoffset", v.array_ms([0.00004, 0.00004, 0.00004, 0.00001, -0.00056, -0.00012, 0, 0])),
        ("filtdisp", v.array_ms([0, 0.00003, 0.00006, 0.00009, 0.00012, 0.00015, 16, 16])),
        ("host", v.quoted("alice")), ("flags", v.hexadecimal(0x87F43)),
        ("signature", v.quoted("md5WithRSAEncryption")), ("ident", v.quoted("alice")),
    ]
    return FakeView(sysvars=sysvars, assocs=[(BOB_ASSID, BOB_PEER_STATUS)], peervars={BOB_ASSID: peer})


class UdpControlServer:
    """Serves a ControlResponder on a real UDP socket in a thread (a stand-in for the daemon's shell)."""

    def __init__(self, responder: ControlResponder, address: str, port: int = 123) -> None:
        self.responder = responder
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.05)
        self.address = self.sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            for reply in self.responder.handle(data, time.time(), peer[0]):
                self.sock.sendto(reply, peer)

    def __enter__(self) -> "UdpControlServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
