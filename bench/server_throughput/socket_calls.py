#!/usr/bin/env python3
"""Per-datagram cost of Python's socket calls against the batched system calls, on loopback: would recvmmsg and
sendmmsg (through ctypes, since the socket module lacks them) make the daemon's shell cheaper?

    taskset -c 0 .venv/bin/python bench/server_throughput/socket_calls.py [--rounds 2000]

Linux only. Each round queues 64 requests on a server socket, then reads them with 64 recvfrom calls or one
recvmmsg (turning each into the bytes and (address, port) the core takes, as the shell would); the replies go
out with 64 sendto calls or one sendmmsg. Microseconds per datagram, minimum of three runs.
"""

from __future__ import annotations

import argparse
import ctypes
import socket
import struct
import sys
import time

N, SLOT, NAME = 64, 2048, 28
REQUEST, REPLY = b"\x23" + bytes(47), b"\x24" + bytes(47)


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", MsgHdr), ("len", ctypes.c_uint)]


class Batch:
    """Preallocated buffers, names and headers for one recvmmsg or sendmmsg of up to N datagrams."""

    def __init__(self) -> None:
        self.data = (ctypes.c_char * (N * SLOT))()
        self.names = (ctypes.c_char * (N * NAME))()
        self.iovs, self.msgs = (IoVec * N)(), (MMsgHdr * N)()
        for i in range(N):
            self.iovs[i].base, self.iovs[i].len = ctypes.addressof(self.data) + i * SLOT, SLOT
            hdr = self.msgs[i].hdr
            hdr.name, hdr.namelen = ctypes.addressof(self.names) + i * NAME, NAME
            hdr.iov, hdr.iovlen = ctypes.addressof(self.iovs[i]), 1
        self.msg_view, self.data_view = memoryview(self.msgs).cast("B"), memoryview(self.data).cast("B")
        self.name_view, self.iov_view = memoryview(self.names).cast("B"), memoryview(self.iovs).cast("B")


def pair() -> tuple[socket.socket, socket.socket]:
    server, client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock, address in ((server, "127.0.0.1"), (client, "127.0.0.2")):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.bind((address, 0))
        sock.setblocking(False)
    return server, client


def drain(sock: socket.socket) -> None:
    try:
        while True:
            sock.recv(SLOT)
    except BlockingIOError:
        pass


def measure(rounds: int) -> dict[str, float]:
    libc = ctypes.CDLL(None, use_errno=True)
    recvmmsg, sendmmsg = libc.recvmmsg, libc.sendmmsg
    recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    server, client = pair()
    dst, src = server.getsockname(), client.getsockname()
    batch, size, len_at = Batch(), ctypes.sizeof(MMsgHdr), MMsgHdr.len.offset
    msg_len, iov_len, port = struct.Struct("I"), struct.Struct("Q"), struct.Struct(">H")
    names: dict[bytes, tuple[str, int]] = {}
    times = {"recvfrom": 0.0, "recvmmsg": 0.0, "sendto": 0.0, "sendmmsg": 0.0}
    for _ in range(rounds):
        for _ in range(N):
            client.sendto(REQUEST, dst)
        t = time.perf_counter()
        for _ in range(N):
            data, addr = server.recvfrom(SLOT)
        times["recvfrom"] += time.perf_counter() - t
        assert data == REQUEST and addr == src
        for _ in range(N):
            client.sendto(REQUEST, dst)
        t = time.perf_counter()
        got = recvmmsg(server.fileno(), batch.msgs, N, socket.MSG_DONTWAIT, None)
        for i in range(got):
            length = msg_len.unpack_from(batch.msg_view, i * size + len_at)[0]
            raw = bytes(batch.name_view[i * NAME:i * NAME + 16])
            addr = names.get(raw)
            if addr is None:
                addr = names[raw] = (socket.inet_ntoa(raw[4:8]), port.unpack(raw[2:4])[0])
            data = bytes(batch.data_view[i * SLOT:i * SLOT + length])
        times["recvmmsg"] += time.perf_counter() - t
        assert got == N and data == REQUEST and addr == src, (got, ctypes.get_errno())
        t = time.perf_counter()
        for _ in range(N):
            server.sendto(REPLY, src)
        times["sendto"] += time.perf_counter() - t
        drain(client)
        t = time.perf_counter()  # the names recvmmsg filled are the replies' destinations
        for i in range(N):
            batch.data_view[i * SLOT:i * SLOT + len(REPLY)] = REPLY
            iov_len.pack_into(batch.iov_view, i * ctypes.sizeof(IoVec) + IoVec.len.offset, len(REPLY))
        sent = sendmmsg(server.fileno(), batch.msgs, N, 0)
        times["sendmmsg"] += time.perf_counter() - t
        assert sent == N, ctypes.get_errno()
        drain(client)
    server.close()
    client.close()
    return {k: v / rounds / N * 1e6 for k, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("recvmmsg/sendmmsg: Linux only")
    runs = [measure(min(args.rounds, 20000)) for _ in range(3)]
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    print(f"{'call':<10} {'us/datagram':>12}")
    for call in ("recvfrom", "recvmmsg", "sendto", "sendmmsg"):
        print(f"{call:<10} {best[call]:>12.2f}")
    print(f"\nbatched / one call per datagram: receive {best['recvmmsg'] / best['recvfrom']:.2f}, "
          f"send {best['sendmmsg'] / best['sendto']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
