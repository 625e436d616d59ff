"""Request records for loadgen.c: plain, symmetric-key MAC'd, and Autokey session-key MAC'd client requests.

    python records.py plain OUT N
    python records.py symmetric OUT N KEYID SECRET
    python records.py autokey OUT N SERVER SOURCE KEYSDIR HOST PASSWORD

Each record is a request and the key that must verify its reply's MAC (empty for plain requests).  Request i
carries transmit timestamp (0xBE7C4000 << 32 | i), so a reply's origin timestamp names its request.  For the
Autokey mix this runs a real exchange (ASSOC, CERT, COOK) with the server from SOURCE, as an ntpd-py client
would, to learn the server's cookie; the requests then carry key IDs of a real key list and session-key MACs
(RFC 5906: MD5 of source, destination, key ID, cookie), and each reply must carry the server's session-key MAC.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARK = 0xBE7C4000


def header(i: int) -> bytes:
    from ntpd_py.wire.packet import NtpPacket, encode_header

    return encode_header(NtpPacket(mode=3, version=4, poll=6, xmt=(MARK << 32) | i))


def write(out: Path, records: list[tuple[bytes, bytes]]) -> None:
    with open(out, "wb") as f:
        f.write(struct.pack("=I", len(records)))
        for request, key in records:
            f.write(struct.pack("=HH", len(request), len(key)) + request + key)


def plain(n: int) -> list[tuple[bytes, bytes]]:
    return [(header(i), b"") for i in range(n)]


def symmetric(n: int, keyid: int, secret: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        h = header(i)
        out.append((h + struct.pack("!I", keyid) + hashlib.md5(secret + h).digest(), secret))
    return out


@dataclass
class _Assoc:  # what the Autokey authenticator reads of an association
    assid: int
    srcadr: tuple[str, int]
    dstadr: str
    hmode: int = 3
    keyid: int | None = None
    autokey: bool = True
    ident: str | None = None
    auth_state: Any = None
    hpoll: int = 6


def autokey_cookie(server: str, source: str, keysdir: str, host: str, password: str, port: int = 123) -> int:
    """Run ASSOC, CERT and COOK against `server` from `source` (a real UDP exchange); return the cookie."""
    from ntpd_py.autokey.authenticator import AutokeyAuth
    from ntpd_py.autokey.flags import CryptoFlag
    from ntpd_py.autokey.local_host import AutokeyHost
    from ntpd_py.daemon.autokey_wiring import credentials_from_config
    from ntpd_py.config.parser import parse_text
    from ntpd_py.wire.packet import NtpPacket, decode, encode_header

    config = parse_text(f"crypto host {host} pw {password}\nkeysdir {keysdir}\n", "bench.conf").config
    client = AutokeyAuth(AutokeyHost(credentials_from_config(config)))
    client.set_synchronized(True, time.time())
    assoc = _Assoc(1, (server, port), source)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(1.0)
        for _ in range(60):
            now = time.time()
            head = encode_header(NtpPacket(mode=3, version=4, poll=6))
            sock.sendto(head + client.request_tail(assoc, head, now), (server, port))
            try:
                data, _ = sock.recvfrom(4096)
            except TimeoutError:
                continue
            client.check(decode(data), data, (server, port), source, assoc, time.time())
            state = assoc.auth_state
            if state is not None and state.crypto & CryptoFlag.COOK:
                return state.pcookie
            time.sleep(0.3)
    raise SystemExit(f"no cookie from {server} (flags {getattr(assoc.auth_state, 'crypto', 0):#x})")


def autokey(n: int, server: str, source: str, keysdir: str, host: str, password: str) -> list[tuple[bytes, bytes]]:
    from ntpd_py.autokey.session import KeyList, session_key

    cookie = autokey_cookie(server, source, keysdir, host, password)
    keys: list[int] = []
    while len(keys) < n:
        keys.extend(KeyList.generate(source, server, cookie, poll_log2=6).keys)
    out = []
    for i in range(n):
        keyid, h = keys[i], header(i)
        request = h + struct.pack("!I", keyid) + hashlib.md5(session_key(source, server, keyid, cookie) + h).digest()
        out.append((request, session_key(server, source, keyid, cookie)))
    return out


def main(argv: list[str]) -> int:
    kind, out, n = argv[0], Path(argv[1]), int(argv[2])
    if kind == "plain":
        records = plain(n)
    elif kind == "symmetric":
        records = symmetric(n, int(argv[3]), argv[4].encode())
    else:
        records = autokey(n, *argv[3:8])
    write(out, records)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
