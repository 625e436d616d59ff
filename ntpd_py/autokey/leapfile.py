"""NIST leap-seconds.list: the table Autokey's LEAP exchange carries (TAI offset, era start, expiry).

Format: `#$ <NTP update time>`, `#@ <NTP expiry>`, data lines `<NTP time> <TAI-UTC offset> [# comment]`,
`#h <five 32-bit hex words>`: the SHA-1 of the *digits only* of the `#$` and `#@` values and of each data
line (up to its comment), in file order.  NIST prints the hash words without leading zeros, so they are
compared as numbers.  Every error names the file and line.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

DAY = 86400


class LeapFileError(ValueError):
    """A leap-seconds file that is malformed, fails its hash, or is missing pieces."""


@dataclass(frozen=True)
class LeapEra:
    tai_offset: int
    start: int  # NTP seconds of the leap that began this era
    next_leap: int | None  # NTP seconds of an announced leap, if any


@dataclass(frozen=True)
class LeapTable:
    path: str
    updated: int
    expires: int
    entries: tuple[tuple[int, int], ...]  # (NTP seconds, TAI - UTC from then on)
    hash_ok: bool

    def era(self, ntp_now: int) -> LeapEra:
        current = (self.entries[0][0], self.entries[0][1]) if self.entries else (0, 0)
        upcoming = None
        for when, offset in self.entries:
            if when <= ntp_now:
                current = (when, offset)
            elif upcoming is None:
                upcoming = when
        return LeapEra(current[1], current[0], upcoming)

    def expired(self, ntp_now: int) -> bool:
        return ntp_now >= self.expires

    def autokey_values(self, ntp_now: int) -> tuple[int, int, int]:
        """(TAI offset, era start, expiry) as crypto_update() fills the LEAP value (expiry is ntpd's fake)."""
        era = self.era(ntp_now)
        if era.tai_offset <= 10:
            return (0, 0, 0)
        end = era.next_leap + 7 * DAY if era.next_leap is not None else era.start + 25 * DAY
        return (era.tai_offset, era.start & 0xFFFFFFFF, end & 0xFFFFFFFF)

    def autokey_value(self, ntp_now: int) -> bytes:
        return struct.pack("!III", *self.autokey_values(ntp_now))


def _digits(text: str) -> bytes:
    """NIST's hash input for one line: its digits, stopping at a comment."""
    out = []
    for ch in text:
        if ch == "#":
            break
        if ch.isdigit():
            out.append(ch)
    return "".join(out).encode()


def parse(text: str, path: str = "<leapfile>", *, require_hash: bool = True) -> LeapTable:
    sha = hashlib.sha1()
    updated = expires = None
    given_hash: tuple[int, ...] | None = None
    entries: list[tuple[int, int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{path}:{lineno}"
        if not line:
            continue
        try:
            if line.startswith("#$"):
                updated = int(line[2:].split()[0])
                sha.update(_digits(line[2:]))
            elif line.startswith("#@"):
                expires = int(line[2:].split()[0])
                sha.update(_digits(line[2:]))
            elif line.startswith("#h"):
                words = line[2:].split()
                if len(words) != 5:
                    raise LeapFileError(f"{where}: hash line needs five words, has {len(words)}")
                given_hash = tuple(int(w, 16) for w in words)
            elif line.startswith("#"):
                continue
            else:
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2:
                    raise LeapFileError(f"{where}: data line needs a time and an offset: {raw!r}")
                when, offset = int(fields[0]), int(fields[1])
                if entries and when <= entries[-1][0]:
                    raise LeapFileError(f"{where}: entries out of order")
                entries.append((when, offset))
                sha.update(_digits(line))
        except LeapFileError:
            raise
        except (ValueError, IndexError):
            raise LeapFileError(f"{where}: missing or bad number in {raw.strip()!r}") from None
    if updated is None or expires is None:
        raise LeapFileError(f"{path}: missing the #$ (update) or #@ (expiry) line")
    if not entries:
        raise LeapFileError(f"{path}: no leap entries")
    hash_ok = given_hash is not None and given_hash == struct.unpack("!5I", sha.digest())
    if require_hash and given_hash is None:
        raise LeapFileError(f"{path}: no #h hash line")
    if require_hash and not hash_ok:
        raise LeapFileError(f"{path}: hash mismatch (file altered or truncated)")
    return LeapTable(path, updated, expires, tuple(entries), hash_ok)


def load(path: str | Path, *, require_hash: bool = True) -> LeapTable:
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise LeapFileError(f"{path}: {exc.strerror}") from None
    return parse(text, str(path), require_hash=require_hash)


def parse_autokey_value(value: bytes) -> tuple[int, int, int]:
    """The 12-byte LEAP value: TAI offset, era start, expiry (XEVNT_LEN if not 12 bytes)."""
    from .errors import AutokeyError, Xevnt

    if len(value) != 12:
        raise AutokeyError(Xevnt.LEN, f"leap value has {len(value)} bytes, not 12")
    return struct.unpack("!III", value)
