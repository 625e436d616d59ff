#!/usr/bin/env python3
"""A bounded flood of spoofed NTP packets from many loopback sources, in the real wire format.

    flood.py --target 127.1.2.3 --kind assoc --count 20000 --rate 10000 [--sources 200] [--ports 5]

Kinds:
- `assoc`: symmetric-active (mode 1) packets carrying an Autokey ASSOC request and a cookie-0 MAC, which
  anyone can compute and which therefore verifies: each (address, port) is a would-be ephemeral peer;
- `plain1`: symmetric-active packets without a MAC;
- `iff`: client requests (mode 3) carrying an IFF identity challenge with a cookie-0 MAC: each one asks the
  server for a signature;
- `client`: plain 48-byte client requests.
Sources are `--sources` addresses 127.SRC.x.y (bound, so no raw sockets are needed), `--ports` sockets each.
Stops by itself after `--count` packets; never leaves 127.0.0.0/8. Prints what it sent as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ntpd_py.autokey.session import mac, session_key  # noqa: E402
from ntpd_py.ntptime import to_ntp64  # noqa: E402
from ntpd_py.wire.extension import ExtensionField, Opcode  # noqa: E402
from ntpd_py.wire.packet import NtpPacket, encode_header  # noqa: E402


IP_TRANSPARENT = 19  # linux/in.h: send from an address this host does not have (root, inside a namespace)


def packet(kind: str, src: str, dst: str, rng: random.Random, now: float) -> bytes:
    mode = 3 if kind in ("iff", "client") else 1
    header = encode_header(NtpPacket(leap=3, version=4, mode=mode, stratum=0, poll=6, precision=-20,
                                     xmt=to_ntp64(now) ^ rng.getrandbits(20)))
    if kind in ("client", "plain1"):
        return header
    keyid = rng.randrange(0x10000, 0xFFFFFFFF)
    if kind == "assoc":
        field = ExtensionField(code=Opcode.ASSOC, associd=rng.randrange(1, 65535), tstamp=0, fstamp=0x80021,
                               value=f"spoof{rng.randrange(1 << 20)}@grp".encode())
    else:
        field = ExtensionField(code=Opcode.IFF, associd=rng.randrange(1, 65535), tstamp=0, fstamp=0,
                               value=rng.randbytes(20))
    region = field.encode()
    return header + region + mac(session_key(src, dst, keyid, 0), keyid, header + region)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--port", type=int, default=123)
    ap.add_argument("--kind", choices=("assoc", "plain1", "iff", "client"), default="assoc")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rate", type=float, default=10000.0)
    ap.add_argument("--sources", type=int, default=200)
    ap.add_argument("--ports", type=int, default=5)
    ap.add_argument("--src-octet", type=int, default=None, help="second octet of the source addresses")
    ap.add_argument("--src-prefix", default=None,
                    help="sources PREFIX.N (three octets, sent with IP_TRANSPARENT): inside a network namespace")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    if not args.target.startswith("127.") and not os.environ.get("FLOOD_NETNS"):
        ap.error("loopback targets only (127.0.0.0/8), or inside a network namespace (FLOOD_NETNS=1)")
    if args.count > 200000:
        ap.error("at most 200000 packets")
    rng = random.Random(args.seed)
    octet = args.src_octet if args.src_octet is not None else rng.randrange(200, 250)
    socks = []
    for i in range(args.sources):
        addr = f"{args.src_prefix}.{i % 240 + 10}" if args.src_prefix else f"127.{octet}.{i // 250}.{i % 250 + 2}"
        for _ in range(args.ports):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if args.src_prefix:
                s.setsockopt(socket.IPPROTO_IP, IP_TRANSPARENT, 1)
            try:
                s.bind((addr, 0))
            except OSError:
                s.close()
                continue
            s.setblocking(False)
            socks.append((addr, s))
    sent = errors = 0
    t0 = time.monotonic()
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    deadline = t0 + args.count / max(args.rate, 1.0) + 30  # never runs away
    for n in range(args.count):
        addr, s = socks[n % len(socks)]
        data = packet(args.kind, addr, args.target, rng, time.time())
        try:
            s.sendto(data, (args.target, args.port))
            sent += 1
        except OSError:
            errors += 1
        if interval:
            ahead = t0 + (n + 1) * interval - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        if time.monotonic() > deadline:
            break
    elapsed = time.monotonic() - t0
    for _, s in socks:
        s.close()
    print(json.dumps({"kind": args.kind, "sent": sent, "errors": errors, "seconds": round(elapsed, 3),
                      "sources": len(socks)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
