"""The MAC as ntpd computes it: digest(key || bytes-before-MAC), MD5 16 bytes, SHA1 20 bytes.

Longer digests (SHA256, ...) are truncated to 20 bytes, the most a MAC trailer can hold. Autokey
session keys (16 bytes, MD5) go through the same functions.
"""

from __future__ import annotations

import hashlib
import hmac

MAX_DIGEST = 20
_CONSTRUCTORS = {"MD5": hashlib.md5, "SHA1": hashlib.sha1}


def _hasher(algorithm: str):
    ctor = _CONSTRUCTORS.get(algorithm)
    if ctor is not None:
        return ctor()
    return hashlib.new(algorithm.lower())


def compute_mac(algorithm: str, secret: bytes, data: bytes) -> bytes:
    """The digest ntpd appends after the key ID."""
    h = _hasher(algorithm)
    h.update(secret)
    h.update(data)
    return h.digest()[:MAX_DIGEST]


def verify_mac(algorithm: str, secret: bytes, data: bytes, mac: bytes) -> bool:
    """Constant-time check of a received digest."""
    return hmac.compare_digest(compute_mac(algorithm, secret, data), mac)


def digest_length(algorithm: str) -> int:
    return min(_hasher(algorithm).digest_size, MAX_DIGEST)
