"""Attackers for the adversarial suite, and the real ntpd-py daemons they attack, all on loopback.

An attacker is a UDP responder on a free loopback address (port 123) in a thread, speaking the real wire
format with ntpd_py's codecs:
- `NoKeysServer`: holds no keys at all; answers Autokey requests with an ASSOC response naming the server
  the victim expects and MACs made with cookie 0, which anyone can compute; its clock is `skew` ahead.
- `EngineServer`: a real ntpd-py engine (NtpHost with Autokey from a keys directory) behind the socket,
  its clock `skew` ahead; `outgoing` may drop or record what it sends (a relay in front of it).
- `Replayer`: answers with signed fields recorded from a real server, re-wrapped in fresh headers with the
  victim's origin timestamp and fresh cookie-0 MACs (what a replay attacker can do, and no more).
The victim is a real `ntpd-py` process (`start_client`), started through conftest's safe_cmd.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from conftest import ROOT, free_loopback, safe_cmd, stop_started

from ntpd_py.daemon.autokey_wiring import attach_from_config as attach
from ntpd_py.config.parser import parse_text
from ntpd_py.control.client import ControlClient, ControlError
from ntpd_py.engine.host import NtpHost
from ntpd_py.keys.keygen import KeygenOptions, generate
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.extension import ExtensionField, Opcode, decode_field
from ntpd_py.wire.packet import NtpPacket, PacketError, decode, encode_header
from ntpd_py.autokey.session import NTP_MAXKEY, mac, session_key

SKEW = 1000.0  # the attackers' clocks are this far ahead: a victim that took their time would show it
FULL_STATUS = 0x80021  # an IFF server's ASSOC status word: NID 8 (md5WithRSA) << 16, IFF, ENAB


# --------------------------------------------------------------------------------------------- keys

def make_group(base: Path, group_dir: str = "alice", clients: tuple[str, ...] = ("bob",), t: float | None = None,
               *, trusted: bool = True) -> dict[str, Path]:
    """A trust group: authority `alice` (IFF) and clients holding the group's IFF client parameters."""
    t = time.time() - 60 if t is None else t
    server = base / group_dir / "keys"
    server.mkdir(parents=True)
    generate(KeygenOptions(host_key=True, host="alice", trusted=trusted, iff=trusted, password="serverpw",
                           modulus=1024), server, t)
    dirs = {"alice": server}
    for i, client in enumerate(clients):
        d = base / client / "keys"
        d.mkdir(parents=True)
        generate(KeygenOptions(export=True, host="alice", password="serverpw", export_dir=d, write_certificate=False),
                 server, t + 1 + i)
        generate(KeygenOptions(host_key=True, host=client, password="clientpw", modulus=1024), d, t)
        dirs[client] = d
    return dirs


# --------------------------------------------------------------------------------------------- victim

@dataclass
class Victim:
    """A real ntpd-py process: the Autokey client under attack."""

    addr: str
    dir: Path
    proc: subprocess.Popen

    def stop(self) -> float:
        """SIGTERM; returns the seconds it took to exit (killed after 10 s)."""
        t0 = time.monotonic()
        stop_started(self.proc)
        return time.monotonic() - t0

    def text(self, name: str) -> str:
        path = self.dir / name
        return path.read_text() if path.exists() else ""

    def system(self, names: list[str]) -> dict[str, str]:
        with ControlClient(self.addr, timeout=1.0, retries=2) as client:
            return client.read_system(names).as_dict()

    def peers(self) -> list[tuple[object, dict[str, str]]]:
        """(association row, its variables) for every association."""
        with ControlClient(self.addr, timeout=1.0, retries=2) as client:
            return [(row, client.read_peer(row.assid).as_dict()) for row in client.associations()]


def start_client(addr: str, workdir: Path, body: str) -> Victim:
    conf = workdir / "ntp.conf"
    conf.write_text(
        "interface ignore ipv4\ninterface ignore ipv6\n"  # its own address only (ntpd's rules, last match wins)
        f"interface listen {addr}\n"
        "disable ntp\n"
        f"keysdir {workdir / 'keys'}\n"
        f"statsdir {workdir}/\n"
        "statistics cryptostats\n"
        "filegen cryptostats file cryptostats type none enable\n"
        "restrict 127.0.0.0 mask 255.0.0.0\n" + body)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = safe_cmd([sys.executable, "-m", "ntpd_py.daemon.cli", "-n", "-c", str(conf), "-l", str(workdir / "ntpd.log")])
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr", "w"))
    victim = Victim(addr, workdir, proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            victim.system(["stratum"])
            return victim
        except (ControlError, OSError):
            time.sleep(0.1)
    victim.stop()
    raise RuntimeError(f"ntpd-py did not answer mode 6: {victim.text('stderr')[-2000:]}")


def own_certificate(keysdir: Path, host: str = "alice", password: str = "serverpw") -> tuple[bytes, int]:
    """The DER of `host`'s certificate in `keysdir`, and its filestamp in NTP seconds."""
    from ntpd_py.keys.store import KeyStore

    loaded = KeyStore(keysdir, host=host, password=password).certificate()
    return loaded.value.der, loaded.filestamp or 0


def client_body(server: str, extra: str = "") -> str:
    return f"crypto host bob pw clientpw\nserver {server} iburst autokey ident alice minpoll 4 maxpoll 4\n{extra}"


# --------------------------------------------------------------------------------------------- attackers

class Responder:
    """A UDP socket on (addr, 123) served by `handle(data, src, now)` in a thread until `stop()`."""

    def __init__(self, addr: str | None = None) -> None:
        self.addr = addr or free_loopback()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.addr, 123))
        self.sock.settimeout(0.05)
        self.received = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Responder":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick(time.time())
            try:
                data, src = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received += 1
            for payload, dst in self.handle(data, src, time.time()):
                self.sock.sendto(payload, dst)
                self.sent += 1

    def tick(self, now: float) -> None:
        """Timers (a real engine polls its local clock)."""

    def handle(self, data: bytes, src: tuple[str, int], now: float) -> list[tuple[bytes, tuple[str, int]]]:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def _fields(pkt: NtpPacket) -> list[ExtensionField]:
    return [decode_field(raw)[0] for raw in pkt.extensions]


def forged_reply(request: NtpPacket, server: str, client: str, now: float, fields: list[ExtensionField]) -> bytes:
    """A server reply to `request` with `fields`, its clock at `now`, MAC'd with cookie 0 as anyone can."""
    stamp = to_ntp64(now)
    header = encode_header(NtpPacket(leap=0, version=request.version, mode=4, stratum=2, poll=request.poll,
                                     precision=-20, refid=b"\x7f\x00\x00\x01", reftime=stamp, org=request.xmt,
                                     rec=stamp, xmt=stamp))
    region = b"".join(f.encode() for f in fields)
    if request.keyid is None or request.keyid <= NTP_MAXKEY:
        return header + region
    key = session_key(server, client, request.keyid, 0, "md5")
    return header + region + mac(key, request.keyid, header + region, "md5")


class ForgingServer(Responder):
    """A fake server: each client request (mode 3) is answered by `answer` with extension fields in a forged
    header, its clock `skew` ahead, MAC'd with cookie 0 as anyone can (forged_reply)."""

    skew = SKEW

    def handle(self, data, src, now):
        try:
            request = decode(data)
        except PacketError:
            return []
        if request.mode != 3:
            return []
        out = self.answer(_fields(request)[:1], now)
        return [(forged_reply(request, self.addr, src[0], now + self.skew, out), src)]

    def answer(self, requests: list[ExtensionField], now: float) -> list[ExtensionField]:
        raise NotImplementedError


class NoKeysServer(ForgingServer):
    """A fake server without keys: ASSOC answered as `alice` would, cookie-0 MACs, clock ahead; with
    `certificate` (DER), CERT requests are answered with it (an impostor's untrusted self-signed one)."""

    def __init__(self, skew: float = SKEW, certificate: bytes | None = None, cert_fstamp: int = 0) -> None:
        super().__init__()
        self.skew = skew
        self.certificate, self.cert_fstamp = certificate, cert_fstamp

    def answer(self, requests, now):
        out = []
        for f in requests:
            if f.code == Opcode.ASSOC and not f.response:
                ts = (int(now + self.skew) + 2208988800) & 0xFFFFFFFF
                out.append(ExtensionField(code=Opcode.ASSOC, associd=f.associd, response=True, tstamp=ts,
                                          fstamp=FULL_STATUS, value=b"alice"))
            elif f.code == Opcode.CERT and not f.response and self.certificate is not None:
                ts = (int(now + self.skew) + 2208988800) & 0xFFFFFFFF
                out.append(ExtensionField(code=Opcode.CERT, associd=f.associd, response=True, tstamp=ts,
                                          fstamp=self.cert_fstamp, value=self.certificate))
        return out


def autokey_engine(keysdir: Path, addr: str, now: float, *, host: str = "alice", password: str = "serverpw",
                   extra: str = "restrict 127.0.0.0 mask 255.0.0.0\n") -> NtpHost:
    """A real ntpd-py engine (sans-IO) serving time from its local clock, with Autokey from `keysdir`."""
    text = (f"keysdir {keysdir}\ncrypto host {host} pw {password}\nserver 127.127.1.0\n"
            f"fudge 127.127.1.0 stratum 5\n{extra}")
    result = parse_text(text, f"{host}-engine.conf")
    assert not result.errors, result.diagnostics
    engine = NtpHost(result.config, now, local_addresses=[addr])
    attach(engine, now)
    return engine


class EngineServer(Responder):
    """A real ntpd-py engine with Autokey from `keysdir`, its clock `skew` ahead; `outgoing(data)` returns
    what actually leaves (None: dropped): the hook a relay in front of the server would be."""

    def __init__(self, keysdir: Path, host: str = "alice", password: str = "serverpw", skew: float = SKEW,
                 outgoing: Callable[[bytes], bytes | None] | None = None, addr: str | None = None) -> None:
        super().__init__(addr)
        self.skew = skew
        self.outgoing = outgoing or (lambda data: data)
        self.host = autokey_engine(keysdir, self.addr, time.time() + skew, host=host, password=password)
        self.lock = threading.Lock()

    def tick(self, now):
        with self.lock:
            if self.host.next_timer() <= now + self.skew:
                self.host.handle_timers(now + self.skew)
            self.host.events()  # log lines and records: nobody reads them here

    def handle(self, data, src, now):
        with self.lock:
            out = self.host.receive_datagram(data, src, self.addr, now + self.skew)
        sent = []
        for o in out:
            payload = self.outgoing(o.data)
            if payload is not None:
                sent.append((payload, o.dst))
        return sent


class Replayer(ForgingServer):
    """Answers each request with a recorded response of the same opcode (signed by the real server), in a
    fresh header carrying the victim's origin and a fresh cookie-0 MAC, its clock `skew` ahead."""

    def __init__(self, recorded: dict[int, ExtensionField], skew: float = SKEW) -> None:
        super().__init__()
        self.recorded, self.skew = recorded, skew
        self.replayed = 0

    def answer(self, requests, now):
        out = []
        for f in requests:
            old = self.recorded.get(f.code)
            if old is not None:
                out.append(old.with_(associd=f.associd))  # the association ID is not signed
                self.replayed += 1
        return out


def response_fields(data: bytes) -> list[ExtensionField]:
    try:
        return [f for f in _fields(decode(data)) if f.response]
    except (PacketError, ValueError):
        return []


# --------------------------------------------------------------------------------------------- observing

@dataclass
class Watch:
    """What the victim showed over a watch: its system peer and offset at every look, and its peers."""

    sys_peers: list[str]
    offsets: list[float]
    notproven: list[int]
    rows: list
    variables: list[dict[str, str]]


def watch(victim: Victim, seconds: float, until: Callable[[Watch], bool] | None = None) -> Watch:
    seen = Watch([], [], [], [], [])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        system = victim.system(["peer", "offset", "ss_notproven"])
        seen.sys_peers.append(system.get("peer", "?"))
        seen.offsets.append(float(system.get("offset", "nan")))
        seen.notproven.append(int(system.get("ss_notproven", "0")))
        peers = victim.peers()
        seen.rows = [row for row, _ in peers]
        seen.variables = [v for _, v in peers]
        if until is not None and until(seen):
            break
        time.sleep(0.5)
    return seen


def ntpq(addr: str, command: str, ntpq_bin: str) -> str:
    out = subprocess.run([ntpq_bin, "-n", "-c", command, addr], capture_output=True, text=True, timeout=10)
    return out.stdout + out.stderr
