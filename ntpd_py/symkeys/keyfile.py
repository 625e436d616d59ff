"""ntpd's symmetric keys file (`keys FILE`): `KEYID TYPE KEY [ADDRESSES]` per line, `#` comments.

As 4.2.8p15's authreadkeys(): key IDs 1..65535; TYPE "M"/"MD5", "SHA1" or another OpenSSL digest name;
a key of 20 characters or fewer is taken as ASCII text, a longer one as hex (up to 64 digits = 32 bytes).
Errors name the file and line. `format_keys_file` writes the same format (ntp-keygen's MD5key file).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..protocol import NTP_MAXKEY
MAX_ASCII_KEY = 20
MAX_KEY_BYTES = 32
DIGEST_ALIASES = {"M": "MD5", "MD5": "MD5", "SHA": "SHA1", "SHA1": "SHA1", "SHA-1": "SHA1"}


class KeyFileError(ValueError):
    """A problem in a keys file; str() starts with FILE:LINE."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass(frozen=True)
class SymmetricKey:
    """One key: its ID, digest name (upper case, "MD5", "SHA1", ...) and secret bytes."""

    keyid: int
    algorithm: str
    secret: bytes

    @property
    def text(self) -> str:
        """The key as a keys file writes it: ASCII when printable and short, else hex."""
        printable = all(33 <= b < 127 and b != ord("#") for b in self.secret)
        if printable and len(self.secret) <= MAX_ASCII_KEY:
            return self.secret.decode("ascii")
        return self.secret.hex()


def digest_name(token: str) -> str | None:
    """Normalise a key type token; None when no digest of that name exists."""
    upper = token.upper()
    if upper in DIGEST_ALIASES:
        return DIGEST_ALIASES[upper]
    try:
        hashlib.new(upper.replace("-", "").lower())
    except ValueError:
        return None
    return upper.replace("-", "")


def parse_keys(text: str, path: str = "<keys>") -> dict[int, SymmetricKey]:
    """Parse keys file text; raise KeyFileError(path, line) on the first malformed line."""
    keys: dict[int, SymmetricKey] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        if len(tokens) < 3:
            raise KeyFileError(path, number, "expected 'KEYID TYPE KEY'")
        try:
            keyid = int(tokens[0])
        except ValueError:
            raise KeyFileError(path, number, f"key ID {tokens[0]!r} is not a number") from None
        if not 1 <= keyid <= NTP_MAXKEY:
            raise KeyFileError(path, number, f"key ID {keyid} outside 1..{NTP_MAXKEY}")
        algorithm = digest_name(tokens[1])
        if algorithm is None:
            raise KeyFileError(path, number, f"unknown key type {tokens[1]!r}")
        token = tokens[2]
        if len(token) <= MAX_ASCII_KEY:
            secret = token.encode("ascii", "strict") if token.isascii() else None
            if secret is None:
                raise KeyFileError(path, number, "key must be printable ASCII")
        else:
            digits = token[: 2 * MAX_KEY_BYTES]
            if len(digits) % 2:
                digits = digits[:-1]
            try:
                secret = bytes.fromhex(digits)
            except ValueError:
                raise KeyFileError(path, number, f"invalid hex digit in key {keyid}") from None
        if keyid in keys:
            raise KeyFileError(path, number, f"key {keyid} defined twice")
        keys[keyid] = SymmetricKey(keyid, algorithm, secret)
    return keys


def read_keys_file(path: str | os.PathLike[str]) -> dict[int, SymmetricKey]:
    """Read a keys file; OSError and KeyFileError both name the file."""
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as exc:
        raise KeyFileError(name, 0, f"not ASCII text ({exc})") from None
    return parse_keys(text, name)


def format_keys_file(keys: Iterable[SymmetricKey], header: Iterable[str] = ()) -> str:
    """Keys file text: header lines as `# ...` comments, then `%2d TYPE KEY  # TYPE key` like ntp-keygen."""
    lines = [f"# {h}" if not h.startswith("#") else h for h in header]
    for key in keys:
        lines.append(f"{key.keyid:2d} {key.algorithm} {key.text}  # {key.algorithm} key")
    return "\n".join(lines) + "\n"
