"""ntp-keygen -M: the symmetric keys file (``ntpkey_MD5key_<name>.<filestamp>``, linked as ``ntp.keys``).

Format of ntp-keygen 4.2.8's gen_md5(): after the two header lines, ten MD5 keys 1..10 of 20 printable
ASCII characters (0x21-0x7e except '#'), then ten SHA1 keys 11..20 of 40 hex digits, each line
``%2d MD5 <key>  # MD5 key`` / ``%2d SHA1 <key>  # SHA1 key`` -- what ntpd's ``keys`` directive reads.
"""

from __future__ import annotations

import secrets

KEYS_PER_TYPE = 10
KEY_CHARS = 20
LINK_NAME = "ntp.keys"
FILE_KIND = "MD5key"

_PRINTABLE = [chr(c) for c in range(0x21, 0x7F) if chr(c) != "#"]


def random_ascii_key(length: int = KEY_CHARS) -> str:
    """A key of printable characters without '#', as ntp-keygen rolls them."""
    return "".join(secrets.choice(_PRINTABLE) for _ in range(length))


def keys_file_body(count: int = KEYS_PER_TYPE) -> str:
    """The key lines (no header): MD5 keys 1..count, then SHA1 keys count+1..2*count."""
    lines = [f"{i:2d} MD5 {random_ascii_key()}  # MD5 key" for i in range(1, count + 1)]
    lines += [f"{i + count:2d} SHA1 {secrets.token_bytes(20).hex()}  # SHA1 key" for i in range(1, count + 1)]
    return "\n".join(lines) + "\n"
