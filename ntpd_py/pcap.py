"""A tiny reader for classic libpcap files, enough to replay NTP captures in tests and tools.

Supports Ethernet (with 802.1Q tags), Linux cooked (SLL, SLL2) and raw IP link types, IPv4 and IPv6,
UDP only.  Anything else is skipped; a truncated or malformed file raises `PcapError` naming the file.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


class PcapError(ValueError):
    """The capture file is not a classic pcap file or is truncated."""


@dataclass(frozen=True)
class UdpDatagram:
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


def _ip_payload(frame: bytes, linktype: int) -> bytes | None:
    """Strip the link layer; None when the frame is not IP."""
    if linktype == LINKTYPE_ETHERNET:
        off, ethertype = 14, struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= off + 4:
            ethertype = struct.unpack_from("!H", frame, off + 2)[0]
            off += 4
        return frame[off:] if ethertype in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        return frame[16:] if struct.unpack_from("!H", frame, 14)[0] in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None
        return frame[20:] if struct.unpack_from("!H", frame, 0)[0] in (0x0800, 0x86DD) else None
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return frame
    return None


def _udp(ip: bytes) -> tuple[str, int, str, int, bytes] | None:
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        if ip[9] != 17 or len(ip) < ihl + 8:
            return None
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        udp = ip[ihl:total] if total >= ihl + 8 else ip[ihl:]
    elif version == 6 and len(ip) >= 48:
        if ip[6] != 17:
            return None
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        udp = ip[40:]
    else:
        return None
    sport, dport, length = struct.unpack_from("!HHH", udp, 0)
    return src, sport, dst, dport, udp[8:length] if 8 <= length <= len(udp) else udp[8:]


def read_pcap(path: str | Path) -> Iterator[UdpDatagram]:
    """Yield every UDP datagram of a classic pcap file, in file order."""
    data = Path(path).read_bytes()
    if len(data) < 24 or data[:4] not in _MAGICS:
        raise PcapError(f"{path}: not a classic pcap file")
    endian, unit = _MAGICS[data[:4]]
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    off = 24
    while off < len(data):
        if off + 16 > len(data):
            raise PcapError(f"{path}: truncated record header at offset {off}")
        sec, frac, incl, _orig = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        if off + incl > len(data):
            raise PcapError(f"{path}: truncated record at offset {off}")
        frame = data[off : off + incl]
        off += incl
        ip = _ip_payload(frame, linktype)
        parsed = _udp(ip) if ip is not None else None
        if parsed is not None:
            src, sport, dst, dport, payload = parsed
            yield UdpDatagram(sec + frac * unit, src, sport, dst, dport, payload)
