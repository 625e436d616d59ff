"""Autokey extension fields exactly as ntpd 4.2.8p15 puts them on the wire.

Layout (all big-endian 32-bit words)::

    word 0   R(0x80000000) | E(0x40000000) | version(2) << 24 | code << 16 | length
    word 1   association ID
    -- the rest is present only when length >= 24 ("value" form) --
    word 2   timestamp      word 3   filestamp      word 4   value length
    value (padded to 4)     signature length         signature (padded to 4)

Note the byte order of word 0: ntpd puts the R/E/version/code in the upper half, not RFC 5906's order.
Short requests (AUTO, LEAP; every request that ntpd does not fill) are 8 bytes.  The parser is strict:
every length is checked against the buffer, and `ExtensionError` names what is wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

CRYPTO_RESP = 0x80000000
CRYPTO_ERROR = 0x40000000
CRYPTO_VERSION = 2
HEADER_LEN = 8
VALUE_LEN = 24  # header + tstamp + fstamp + vallen + siglen, ntpd's VALUE_LEN
MAX_VALLEN = 65535 - VALUE_LEN


class Opcode(IntEnum):
    """Autokey message codes (ntp_crypto.h CRYPTO_*)."""

    NULL = 0
    ASSOC = 1
    CERT = 2
    COOK = 3
    AUTO = 4
    LEAP = 5
    SIGN = 6
    IFF = 7
    GQ = 8
    MV = 9


class ExtensionError(ValueError):
    """A malformed extension field: the message says which length or word is wrong."""


def _pad4(n: int) -> int:
    return (n + 3) & ~3


@dataclass(frozen=True)
class ExtensionField:
    """One Autokey message.  `tstamp is None` marks the 8-byte short form (no value structure)."""

    code: int
    associd: int = 0
    response: bool = False
    error: bool = False
    tstamp: int | None = None
    fstamp: int = 0
    value: bytes = b""
    signature: bytes = b""
    version: int = CRYPTO_VERSION
    length_override: int | None = field(default=None, compare=False, repr=False)

    @property
    def short(self) -> bool:
        return self.tstamp is None

    @property
    def name(self) -> str:
        try:
            return Opcode(self.code).name
        except ValueError:
            return f"CODE{self.code}"

    @property
    def opcode(self) -> int:
        """Word 0 without the length: what ntpd's `code` and `CRYPTO_*` constants compare against."""
        word = (self.version & 0x3F) << 24 | (self.code & 0xFF) << 16
        if self.response:
            word |= CRYPTO_RESP
        if self.error:
            word |= CRYPTO_ERROR
        return word

    @property
    def length(self) -> int:
        if self.short:
            return max(HEADER_LEN, self.length_override or 0)
        computed = VALUE_LEN + _pad4(len(self.value)) + _pad4(len(self.signature))
        return max(computed, self.length_override or 0)

    def signed_bytes(self) -> bytes:
        """What the signature covers: timestamp, filestamp, value length and value (crypto_verify)."""
        if self.short:
            raise ExtensionError(f"{self.name}: short field carries no signed value")
        return struct.pack("!III", self.tstamp or 0, self.fstamp, len(self.value)) + self.value

    def encode(self) -> bytes:
        if self.short:
            length = max(HEADER_LEN, self.length_override or 0)
            return struct.pack("!II", self.opcode | length, self.associd) + bytes(length - HEADER_LEN)
        vlen, slen = len(self.value), len(self.signature)
        if vlen > MAX_VALLEN or slen > MAX_VALLEN:
            raise ExtensionError(f"{self.name}: value or signature longer than {MAX_VALLEN}")
        length = self.length
        if length > 0xFFFF:
            raise ExtensionError(f"{self.name}: field length {length} exceeds 65535")
        out = bytearray(struct.pack("!IIIII", self.opcode | length, self.associd, self.tstamp or 0, self.fstamp, vlen))
        out += self.value + bytes(_pad4(vlen) - vlen)
        out += struct.pack("!I", slen) + self.signature + bytes(_pad4(slen) - slen)
        return bytes(out) + bytes(length - len(out))

    def with_(self, **changes: object) -> "ExtensionField":
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]


def decode_field(data: bytes, offset: int = 0) -> tuple[ExtensionField, int]:
    """Decode the field at `offset`; return it and the offset of the next field."""
    remaining = len(data) - offset
    if remaining < HEADER_LEN:
        raise ExtensionError(f"field at offset {offset}: {remaining} bytes, need at least {HEADER_LEN}")
    word0, associd = struct.unpack_from("!II", data, offset)
    length = word0 & 0xFFFF
    if length < HEADER_LEN or length % 4:
        raise ExtensionError(f"field at offset {offset}: bad length {length} (must be >= 8 and a multiple of 4)")
    if length > remaining:
        raise ExtensionError(f"field at offset {offset}: length {length} exceeds the {remaining} bytes left")
    version = (word0 >> 24) & 0x3F
    code = (word0 >> 16) & 0xFF
    common = dict(
        code=code,
        associd=associd,
        response=bool(word0 & CRYPTO_RESP),
        error=bool(word0 & CRYPTO_ERROR),
        version=version,
    )
    if length < VALUE_LEN:
        return ExtensionField(**common, length_override=length), offset + length
    tstamp, fstamp, vallen = struct.unpack_from("!III", data, offset + 8)
    body = length - 20  # bytes after the vallen word
    if vallen > MAX_VALLEN or _pad4(vallen) + 4 > body:
        raise ExtensionError(f"{_name(code)} at offset {offset}: value length {vallen} does not fit in field length {length}")
    value = bytes(data[offset + 20 : offset + 20 + vallen])
    sig_at = offset + 20 + _pad4(vallen)
    (siglen,) = struct.unpack_from("!I", data, sig_at)
    if siglen > MAX_VALLEN or _pad4(siglen) > body - _pad4(vallen) - 4:
        raise ExtensionError(f"{_name(code)} at offset {offset}: signature length {siglen} does not fit in field length {length}")
    signature = bytes(data[sig_at + 4 : sig_at + 4 + siglen])
    return (
        ExtensionField(**common, tstamp=tstamp, fstamp=fstamp, value=value, signature=signature, length_override=length),
        offset + length,
    )


def decode_fields(region: bytes) -> list[ExtensionField]:
    """Decode a whole extension-field region (what lies between the NTP header and the MAC)."""
    fields, offset = [], 0
    while offset < len(region):
        ext, offset = decode_field(region, offset)
        fields.append(ext)
    return fields


def encode_fields(fields: list[ExtensionField]) -> bytes:
    return b"".join(f.encode() for f in fields)


def _name(code: int) -> str:
    try:
        return Opcode(code).name
    except ValueError:
        return f"CODE{code}"


def request(code: int, associd: int, tstamp: int | None = None, fstamp: int = 0, value: bytes = b"", signature: bytes = b"") -> ExtensionField:
    """A request; `tstamp=None` gives the 8-byte short form."""
    return ExtensionField(code=code, associd=associd, tstamp=tstamp, fstamp=fstamp, value=value, signature=signature)


def response(code: int, associd: int, tstamp: int | None, fstamp: int = 0, value: bytes = b"", signature: bytes = b"", error: bool = False) -> ExtensionField:
    return ExtensionField(code=code, associd=associd, response=True, error=error, tstamp=tstamp, fstamp=fstamp, value=value, signature=signature)
