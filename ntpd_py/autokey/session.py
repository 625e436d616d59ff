"""Autokey session keys, key lists, autokey values and cookies, computed as ntpd 4.2.8p15 computes them.

- session key  = digest(source address | destination address | key ID | cookie), all big-endian;
  its first four bytes are the *next* key ID of a key list (session_key() in ntp_crypto.c).
- key list     = key IDs hashed forward from a random seed, then used in reverse order, so that each
  packet's key ID hashes to the previous packet's key ID; the last hash is the signed autokey value.
- cookie       = the server's first four digest bytes of (client, server, 0, private value): stateless.
  Packets carrying extension fields always use cookie 0 (both directions).
- the cookie travels RSA-OAEP encrypted under the client's host public key; symmetric peers XOR theirs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import AutokeyError, Xevnt

from ..protocol import NTP_AUTOMAX, NTP_MAXKEY, NTP_REVOKE  # key IDs above NTP_MAXKEY are session keys
NTP_MAXSESSION = 100  # maximum entries on a key list


def address_bytes(addr: str) -> bytes:
    """An address as ntpd hashes it: 4 bytes for IPv4, 16 for IPv6 (network order)."""
    return ipaddress.ip_address(addr.split("%")[0]).packed


def session_key(src: str, dst: str, keyid: int, cookie: int, digest: str = "md5") -> bytes:
    """The session key (the full digest) for packets from `src` to `dst` with `keyid` and `cookie`."""
    s, d = address_bytes(src), address_bytes(dst)
    if len(s) != len(d):
        raise ValueError(f"address families differ: {src} / {dst}")
    return hashlib.new(digest, s + d + struct.pack("!II", keyid & 0xFFFFFFFF, cookie & 0xFFFFFFFF)).digest()


def next_keyid(src: str, dst: str, keyid: int, cookie: int, digest: str = "md5") -> int:
    """The key ID that follows `keyid` in a key list: the first four bytes of its session key."""
    return struct.unpack("!I", session_key(src, dst, keyid, cookie, digest)[:4])[0]


def mac(key: bytes, keyid: int, data: bytes, digest: str = "md5") -> bytes:
    """Key ID followed by digest(key || data): the MAC trailer ntpd appends (authencrypt)."""
    return struct.pack("!I", keyid) + hashlib.new(digest, key + data).digest()


def server_cookie(client: str, server: str, private: int, digest: str = "md5") -> int:
    """The stateless server cookie for a client (fast_xmit: session_key(client, server, 0, sys_private))."""
    return next_keyid(client, server, 0, private, digest)


def random_keyid(rng: secrets.SystemRandom | None = None) -> int:
    """A random key ID above NTP_MAXKEY, the seed of a key list."""
    while True:
        keyid = secrets.randbits(32) if rng is None else rng.getrandbits(32)
        if keyid > NTP_MAXKEY:
            return keyid


@dataclass
class KeyList:
    """One key list: `keys[0]` is the seed; packets use keys[-1], keys[-2], ... (make_keylist)."""

    src: str
    dst: str
    cookie: int
    keys: list[int]
    final: int  # hash of the last entry: the autokey value `key`, with seq = len(keys) - 1
    digest: str = "md5"
    used: int = field(default=0)

    @classmethod
    def generate(
        cls,
        src: str,
        dst: str,
        cookie: int,
        *,
        poll_log2: int = 6,
        automax_log2: int = NTP_AUTOMAX,
        synchronized: bool = True,
        seed: int | None = None,
        digest: str = "md5",
    ) -> "KeyList":
        """As make_keylist(): entries while their lifetime lasts (at most 100); one entry if unsynchronized."""
        keyid = random_keyid() if seed is None else seed
        mpoll = 1 << poll_log2
        lifetime = min(1 << automax_log2, NTP_MAXSESSION * mpoll)
        keys: list[int] = []
        for _ in range(NTP_MAXSESSION):
            keys.append(keyid)
            keyid = next_keyid(src, dst, keyid, cookie, digest)
            lifetime -= mpoll
            if keyid <= NTP_MAXKEY or keyid in keys or lifetime < 0 or not synchronized:
                break
        return cls(src, dst, cookie, keys, keyid, digest)

    @property
    def seq(self) -> int:
        return len(self.keys) - 1

    @property
    def exhausted(self) -> bool:
        return self.used >= len(self.keys)

    def next(self) -> int:
        """The next key ID to send with, walking the list backwards."""
        if self.exhausted:
            raise IndexError("key list exhausted")
        self.used += 1
        return self.keys[len(self.keys) - self.used]


def autokey_value(seq: int, key: int) -> bytes:
    """The 8-byte autokey value (struct autokey): sequence number and last key ID."""
    return struct.pack("!II", seq, key)


def parse_autokey_value(value: bytes) -> tuple[int, int]:
    if len(value) != 8:
        raise AutokeyError(Xevnt.LEN, f"autokey value has {len(value)} bytes, not 8")
    seq, key = struct.unpack("!II", value)
    return seq, key


def verify_keyid_chain(src: str, dst: str, keyid: int, previous: int, cookie: int, digest: str = "md5", max_steps: int = 1) -> bool:
    """True when hashing `keyid` forward (up to max_steps times, for lost packets) reaches `previous`."""
    current = keyid
    for _ in range(max_steps):
        current = next_keyid(src, dst, current, cookie, digest)
        if current == previous:
            return True
    return False


def encrypt_cookie(cookie: int, public_key: rsa.RSAPublicKey) -> bytes:
    """RSA-OAEP (SHA-1, MGF1-SHA-1, as OpenSSL's RSA_PKCS1_OAEP_PADDING) of the 4-byte cookie."""
    return public_key.encrypt(struct.pack("!I", cookie & 0xFFFFFFFF), _OAEP)


def decrypt_cookie(blob: bytes, private_key: rsa.RSAPrivateKey) -> int:
    """Inverse of encrypt_cookie; XEVNT_CKY when the blob is not exactly one 4-byte cookie for this key."""
    if len(blob) != private_key.key_size // 8 + (1 if private_key.key_size % 8 else 0):
        raise AutokeyError(Xevnt.CKY, f"encrypted cookie has {len(blob)} bytes for a {private_key.key_size}-bit key")
    try:
        plain = private_key.decrypt(blob, _OAEP)
    except ValueError as exc:
        raise AutokeyError(Xevnt.CKY, "cookie does not decrypt") from exc
    if len(plain) != 4:
        raise AutokeyError(Xevnt.CKY, f"decrypted cookie has {len(plain)} bytes, not 4")
    return struct.unpack("!I", plain)[0]


def symmetric_cookie(host_cookie: int, received_cookie: int) -> int:
    """Symmetric modes: the working cookie is the XOR of this host's and the peer's (crypto_recv COOK)."""
    return (host_cookie ^ received_cookie) & 0xFFFFFFFF


def random_cookie() -> int:
    return secrets.randbits(32)


@dataclass
class PrivateValue:
    """The server's private value, renewed every 2**revoke seconds; old cookies then stop working."""

    revoke_log2: int = NTP_REVOKE
    value: int = field(default_factory=lambda: secrets.randbits(32))
    renewed_at: float | None = None

    def current(self, now: float) -> int:
        if self.renewed_at is None:
            self.renewed_at = now
        elif now - self.renewed_at >= (1 << self.revoke_log2):
            self.value = secrets.randbits(32)
            self.renewed_at = now
        return self.value


_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
