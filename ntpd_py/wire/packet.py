"""NTP v1-4 packets (modes 1-5) as bytes and back, split the way ntpd 4.2.8p15's receive() splits them.

After the 48-byte header comes an optional run of extension fields and an optional MAC. ntpd tells them
apart by length alone: while more than MAX_MAC_LEN (24) bytes remain, the next word starts an extension
field (its low 16 bits are the field length, a multiple of 4, at least 4, within the packet); the last
4..24 bytes are the MAC: a 4-byte key ID alone (a crypto-NAK), or the key ID plus a 16-byte (MD5) or
20-byte (SHA1) digest. The MAC covers every byte before it (`mac_covered`). Extension field contents are
left raw here: the Autokey layer (wire/extension.py) decodes them.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from dataclasses import dataclass, field

HEADER_LEN = 48  # LEN_PKT_NOMAC
MIN_MAC_LEN = 4  # key ID alone: crypto-NAK
MAX_MAC_LEN = 24  # key ID + SHA1 digest
MD5_DIGEST_LEN = 16
SHA1_DIGEST_LEN = 20
from ..protocol import (LEAP_ADDSECOND, LEAP_DELSECOND, LEAP_NOTINSYNC, LEAP_NOWARNING, MODE_ACTIVE,  # noqa: F401
                        MODE_BROADCAST, MODE_CLIENT, MODE_CONTROL, MODE_PASSIVE, MODE_PRIVATE, MODE_SERVER, MODE_UNSPEC,
                        NTP_OLDVERSION, NTP_VERSION)

HEADER = struct.Struct("!BBbbII4sQQQQ")
_WORD = struct.Struct("!I")


class PacketError(ValueError):
    """A datagram that is not a well-formed NTP packet; `reason` is a short counter-friendly tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(slots=True)
class NtpPacket:
    """A decoded packet. Timestamps stay 64-bit NTP integers, root delay/dispersion 32-bit short format."""

    leap: int = LEAP_NOWARNING
    version: int = NTP_VERSION
    mode: int = MODE_CLIENT
    stratum: int = 0
    poll: int = 0
    precision: int = 0
    root_delay: int = 0
    root_dispersion: int = 0
    refid: bytes = b"\0\0\0\0"
    reftime: int = 0
    org: int = 0
    rec: int = 0
    xmt: int = 0
    extensions: list[bytes] = field(default_factory=list)  # each raw field, header word included
    keyid: int | None = None  # None: no MAC at all
    mac: bytes = b""  # digest; empty with keyid set means crypto-NAK
    mac_covered: int = HEADER_LEN  # bytes [0, mac_covered) are what the MAC covers

    @property
    def is_crypto_nak(self) -> bool:
        return self.keyid is not None and not self.mac

    @property
    def root_delay_s(self) -> float:
        return self.root_delay / 65536.0

    @property
    def root_dispersion_s(self) -> float:
        return self.root_dispersion / 65536.0


def decode(data: bytes) -> NtpPacket:
    """Parse a datagram; raise PacketError (never anything else) when ntpd would drop it for its shape."""
    size = len(data)
    if size < HEADER_LEN:
        raise PacketError("short", f"{size} bytes")
    (lvm, stratum, poll, precision, rdelay, rdisp, refid, reftime, org, rec, xmt) = HEADER.unpack_from(data)
    version = (lvm >> 3) & 7
    if version < NTP_OLDVERSION or version > NTP_VERSION:
        raise PacketError("version", f"version {version}")
    pkt = NtpPacket(lvm >> 6, version, lvm & 7, stratum, poll, precision, rdelay, rdisp, refid, reftime, org, rec, xmt)
    offset = HEADER_LEN
    remaining = size - HEADER_LEN
    while remaining > 0:
        if remaining % 4 or remaining < MIN_MAC_LEN:
            raise PacketError("length", f"{remaining} bytes after header/extensions")
        if remaining <= MAX_MAC_LEN:
            pkt.keyid = _WORD.unpack_from(data, offset)[0]
            pkt.mac = bytes(data[offset + 4:])
            pkt.mac_covered = offset
            return pkt
        length = _WORD.unpack_from(data, offset)[0] & 0xFFFF
        if length % 4 or length < 4 or offset + length > size:
            raise PacketError("extension", f"field length {length} at offset {offset}")
        pkt.extensions.append(bytes(data[offset:offset + length]))
        offset += length
        remaining -= length
    pkt.mac_covered = offset
    return pkt


def encode_header(pkt: NtpPacket) -> bytes:
    """The 48 header bytes."""
    lvm = ((pkt.leap & 3) << 6) | ((pkt.version & 7) << 3) | (pkt.mode & 7)
    return HEADER.pack(lvm, pkt.stratum & 0xFF, pkt.poll, pkt.precision, pkt.root_delay & 0xFFFFFFFF,
                       pkt.root_dispersion & 0xFFFFFFFF, bytes(pkt.refid[:4]).ljust(4, b"\0"),
                       pkt.reftime, pkt.org, pkt.rec, pkt.xmt)


def encode_unsigned(pkt: NtpPacket) -> bytes:
    """Header plus extension fields: the bytes a MAC covers."""
    return encode_header(pkt) + b"".join(pkt.extensions)


def encode(pkt: NtpPacket) -> bytes:
    """The exact inverse of decode()."""
    body = encode_unsigned(pkt)
    if pkt.keyid is None:
        return body
    return body + _WORD.pack(pkt.keyid & 0xFFFFFFFF) + pkt.mac


def refid_from_text(text: str) -> bytes:
    """A kiss code or reference clock id ("LOCL", "RATE") as the 4 refid bytes."""
    return text.encode("ascii", "replace")[:4].ljust(4, b"\0")


def refid_from_ipv4(address: str) -> bytes:
    """The refid naming a peer: its IPv4 address, or for IPv6 the first 4 octets of the MD5 of the
    16 address octets (ntpd's addr2refid)."""
    try:
        return socket.inet_aton(address)
    except OSError:
        pass
    try:
        return hashlib.md5(socket.inet_pton(socket.AF_INET6, address.split("%", 1)[0])).digest()[:4]
    except OSError:
        return hashlib.md5(address.encode()).digest()[:4]  # not an address at all: stable, never a loop


def ntp_diff(a: int, b: int) -> float:
    """a - b in seconds for 64-bit NTP timestamps, modulo the era (difference assumed < 68 years)."""
    d = (a - b) & 0xFFFFFFFFFFFFFFFF
    if d >= 1 << 63:
        d -= 1 << 64
    return d / 4294967296.0
