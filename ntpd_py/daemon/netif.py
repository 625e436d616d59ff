"""This host's interface addresses, from the kernel (rtnetlink RTM_GETADDR), for the `interface` rules.

Linux only, no extra dependency; on any failure the list is empty and only explicitly named addresses are
bound (config/interfaces.py), which is what the lab and the tests use.
"""

from __future__ import annotations

import fcntl
import socket
import struct

from ..config.interfaces import LocalAddress

RTM_NEWADDR, RTM_GETADDR, NLMSG_DONE, NLMSG_ERROR = 20, 22, 3, 2
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
SIOCGIFFLAGS, IFF_LOOPBACK = 0x8913, 0x8
_NLMSG = struct.Struct("=IHHII")
_IFADDR = struct.Struct("=BBBBI")
_RTA = struct.Struct("=HH")


def _flags(name: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            data = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16sH14x", name.encode()[:15], 0))
        except OSError:
            return 0
    return struct.unpack_from("16sH", data)[1]


def _parse(message: bytes) -> tuple[int, int, str | None, bytes | None] | None:
    family, _plen, _flags_, _scope, index = _IFADDR.unpack_from(message, 0)
    offset, address, label = _IFADDR.size, None, None
    local = None
    while offset + _RTA.size <= len(message):
        length, kind = _RTA.unpack_from(message, offset)
        if length < _RTA.size:
            break
        value = message[offset + _RTA.size: offset + length]
        if kind == IFA_ADDRESS:
            address = value
        elif kind == IFA_LOCAL:
            local = value
        elif kind == IFA_LABEL:
            label = value.rstrip(b"\0").decode(errors="replace")
        offset += (length + 3) & ~3
    return family, index, label, local or address


def system_addresses() -> list[LocalAddress]:
    """Every IPv4/IPv6 address of this host with its interface name and loopback flag (ntpd's INT_LOOPBACK:
    a loopback interface's 127.x or ::1 address)."""
    out: list[LocalAddress] = []
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except (OSError, AttributeError):
        return out
    with sock:
        try:
            sock.bind((0, 0))
            body = _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
            sock.send(_NLMSG.pack(_NLMSG.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
            done = False
            while not done:
                data = sock.recv(65536)
                offset = 0
                while offset + _NLMSG.size <= len(data):
                    length, kind, _f, _seq, _pid = _NLMSG.unpack_from(data, offset)
                    if length < _NLMSG.size:
                        done = True
                        break
                    if kind in (NLMSG_DONE, NLMSG_ERROR):
                        done = True
                        break
                    if kind == RTM_NEWADDR:
                        parsed = _parse(data[offset + _NLMSG.size: offset + length])
                        if parsed is not None:
                            out.extend(_address(*parsed))
                    offset += (length + 3) & ~3
        except OSError:
            return out
    return out


def _address(family: int, index: int, label: str | None, raw: bytes | None) -> list[LocalAddress]:
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
        return []
    try:
        name = socket.if_indextoname(index)
    except OSError:
        name = label or ""
    text = socket.inet_ntop(family, raw)
    loopback = bool(_flags(name) & IFF_LOOPBACK) and (text.startswith("127.") or text == "::1")
    if family == socket.AF_INET6 and text.lower().startswith("fe80:"):
        text = f"{text}%{name}"  # link-local: only meaningful with its interface
    return [LocalAddress(name=label or name, address=text, loopback=loopback)]


__all__ = ["system_addresses"]
