"""Mode-6 (control) frames: the 12-byte header, the data, the padding and the optional MAC.

Layout as RFC 9327 and ntpd's ntp_control.h describe it:

    LI(2) VN(3) Mode(3)=6 | R E M Opcode(5) | Sequence(16)
    Status(16)            | Association ID(16)
    Offset(16)            | Count(16)
    Data (Count octets, then zero padding to a 32-bit boundary)
    [padding to a 64-bit boundary, Key ID(32), digest]  -- authenticated frames only

Pure bytes in and out. `decode` raises ControlFormatError on frames that cannot be parsed; what a server does
with a well-formed but unacceptable frame (a response, a fragment, a bad count) is the responder's business.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from ..protocol import MODE_CONTROL, NTP_OLDVERSION, NTP_VERSION
from .packet import MAX_MAC_LEN  # key ID + SHA1 digest (ntpd's MAX_MAC_LEN)

HEADER = struct.Struct("!BBHHHHH")
HEADER_LEN = HEADER.size  # 12
CTL_MAX_DATA_LEN = 468  # data octets per fragment (ntpd's CTL_MAX_DATA_LEN)
MIN_MAC_LEN = 4 + 16  # key ID + MD5 digest (ntpd's MIN_MAC_LEN)

# r_m_e_op bits
RESPONSE = 0x80
ERROR = 0x40
MORE = 0x20
OPCODE_MASK = 0x1F

# opcodes (ntp_control.h)
OP_UNSPEC = 0
OP_READSTAT = 1
OP_READVAR = 2
OP_WRITEVAR = 3
OP_READCLOCK = 4
OP_WRITECLOCK = 5
OP_SETTRAP = 6
OP_ASYNCMSG = 7
OP_CONFIGURE = 8
OP_SAVECONFIG = 9
OP_READ_MRU = 10
OP_READ_ORDLIST_A = 11
OP_REQ_NONCE = 12
OP_UNSETTRAP = 31

# error codes, carried in the high byte of the status word of an error response
CERR_UNSPEC = 0
CERR_PERMISSION = 1
CERR_BADFMT = 2
CERR_BADOP = 3
CERR_BADASSOC = 4
CERR_UNKNOWNVAR = 5
CERR_BADVALUE = 6
CERR_RESTRICT = 7

ERROR_NAMES = {
    CERR_UNSPEC: "UNSPEC", CERR_PERMISSION: "PERMISSION", CERR_BADFMT: "BADFMT", CERR_BADOP: "BADOP",
    CERR_BADASSOC: "BADASSOC", CERR_UNKNOWNVAR: "UNKNOWNVAR", CERR_BADVALUE: "BADVALUE", CERR_RESTRICT: "RESTRICT",
}


class ControlFormatError(ValueError):
    """A datagram that is not a parseable mode-6 frame."""


@dataclass(frozen=True)
class ControlFrame:
    """One mode-6 datagram. `data` is exactly `count` octets (no padding); `mac` is key ID + digest or b""."""

    opcode: int
    sequence: int = 0
    status: int = 0
    assid: int = 0
    offset: int = 0
    data: bytes = b""
    response: bool = False
    error: bool = False
    more: bool = False
    version: int = 2
    leap: int = 0
    mac: bytes = b""
    count: int | None = None  # as received; None means len(data)

    @property
    def error_code(self) -> int:
        """The CERR_* code of an error response."""
        return (self.status >> 8) & 0xFF

    @property
    def r_m_e_op(self) -> int:
        return ((RESPONSE if self.response else 0) | (ERROR if self.error else 0)
                | (MORE if self.more else 0) | (self.opcode & OPCODE_MASK))

    @property
    def keyid(self) -> int | None:
        return int.from_bytes(self.mac[:4], "big") if len(self.mac) >= 4 else None


def padded(length: int, boundary: int) -> int:
    """`length` rounded up to a multiple of `boundary`."""
    return (length + boundary - 1) // boundary * boundary


def encode(frame: ControlFrame) -> bytes:
    """The datagram for a frame: header, data, zero padding to 4 octets, and when a MAC is given,
    padding to 8 octets then the MAC (the MAC is computed by the caller over `signed_part`)."""
    count = len(frame.data) if frame.count is None else frame.count
    head = HEADER.pack(
        ((frame.leap & 3) << 6) | ((frame.version & 7) << 3) | MODE_CONTROL,
        frame.r_m_e_op, frame.sequence & 0xFFFF, frame.status & 0xFFFF, frame.assid & 0xFFFF,
        frame.offset & 0xFFFF, count & 0xFFFF,
    )
    body = head + frame.data
    body += b"\0" * (padded(len(body), 4) - len(body))
    if frame.mac:
        body += b"\0" * (padded(len(body), 8) - len(body))
        body += frame.mac
    return body


def signed_part(frame: ControlFrame) -> bytes:
    """The octets a MAC covers: header and data padded to 8 octets (as ntpd's authencrypt sees them)."""
    body = encode(replace(frame, mac=b""))
    return body + b"\0" * (padded(len(body), 8) - len(body))


def decode(datagram: bytes) -> ControlFrame:
    """Parse a mode-6 datagram. Checks only what makes it unparseable: length, mode, version, count."""
    if len(datagram) < HEADER_LEN:
        raise ControlFormatError(f"short control frame: {len(datagram)} octets")
    li_vn_mode, remop, sequence, status, assid, offset, count = HEADER.unpack_from(datagram)
    mode = li_vn_mode & 7
    version = (li_vn_mode >> 3) & 7
    if mode != MODE_CONTROL:
        raise ControlFormatError(f"not a control frame: mode {mode}")
    if not NTP_OLDVERSION <= version <= NTP_VERSION:
        raise ControlFormatError(f"unknown version {version}")
    available = len(datagram) - HEADER_LEN
    if count > available:
        raise ControlFormatError(f"count {count} exceeds the {available} data octets received")
    data = datagram[HEADER_LEN : HEADER_LEN + count]
    mac = b""
    proper = padded(HEADER_LEN + count, 8)
    trailer = len(datagram) - proper
    if len(datagram) % 4 == 0 and MIN_MAC_LEN <= trailer <= MAX_MAC_LEN:
        mac = datagram[proper:]
    return ControlFrame(
        opcode=remop & OPCODE_MASK, sequence=sequence, status=status, assid=assid, offset=offset, data=data,
        response=bool(remop & RESPONSE), error=bool(remop & ERROR), more=bool(remop & MORE),
        version=version, leap=li_vn_mode >> 6, mac=mac, count=count,
    )


def request(opcode: int, sequence: int, assid: int = 0, data: bytes = b"", version: int = 2) -> bytes:
    """A client request datagram (what ntpq sends)."""
    return encode(ControlFrame(opcode=opcode, sequence=sequence, assid=assid, data=data, version=version))


def error_response(req: ControlFrame, code: int, leap: int = 0) -> ControlFrame:
    """The error reply to `req`: R and E bits set, the code in the status word's high byte, no data."""
    return ControlFrame(opcode=req.opcode, sequence=req.sequence, status=(code << 8) & 0xFF00, assid=req.assid,
                        response=True, error=True, version=req.version, leap=leap)


def fragment(req: ControlFrame, status: int, payload: bytes, leap: int = 0) -> list[ControlFrame]:
    """Split a response payload into fragments of at most CTL_MAX_DATA_LEN octets, offsets ascending,
    the MORE bit on all but the last. An empty payload still gives one (empty) frame."""
    edges = list(range(0, len(payload), CTL_MAX_DATA_LEN)) or [0]
    frames = []
    for i, start in enumerate(edges):
        frames.append(ControlFrame(
            opcode=req.opcode, sequence=req.sequence, status=status, assid=req.assid, offset=start,
            data=payload[start : start + CTL_MAX_DATA_LEN], response=True, more=i < len(edges) - 1,
            version=req.version, leap=leap,
        ))
    return frames
