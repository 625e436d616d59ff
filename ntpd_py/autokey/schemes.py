"""Autokey identity schemes IFF (Schnorr), GQ (Guillou-Quisquater) and MV (Mu-Varadharajan): the mathematics.

Pure functions over integers and the DER values that travel in the IFF/GQ/MV extension fields:
the client rolls a challenge r, the server answers, the client checks.  TC and PC have no exchange
(trusted certificate alone, or the private certificate both sides hold).

Slot mapping (RFC 5906 and ntp-keygen): GQ server key = RSA-shaped (n, e=b group key, p=u private key,
q=v public key), client parameters = (n, e=b), v also in the server certificate's subject key identifier.
Stock 4.2.8p15 reads the wrong slots (b from e as the private key, d=1 as b) and never verifies; we
follow the RFC mapping, which the gq/ reference capture (made with the 3-line fix) uses.
"""

from __future__ import annotations

import hashlib
import secrets
from asn1crypto import core

from ..keys.identity.gq import GqParams
from ..keys.identity.iff import IffParams
from ..keys.identity.mv import MvClientKey, MvServerKey

from .errors import AutokeyError, Xevnt


def bn2bin(n: int) -> bytes:
    """OpenSSL BN_bn2bin: minimal big-endian bytes, empty for zero."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""


def bighash(n: int) -> int:
    """ntpd's bighash(): MD5 of the minimal big-endian bytes, read back as an integer."""
    return int.from_bytes(hashlib.md5(bn2bin(n)).digest(), "big")


def _rand_below(modulus: int, nbytes: int) -> int:
    """BN_rand(len*8 bits, top=-1, bottom=odd) mod modulus, as crypto_alice*() roll r."""
    while True:
        r = (secrets.randbits(nbytes * 8) | 1) % modulus
        if r:
            return r


class _Pair(core.Sequence):  # DSA_SIG: the IFF and GQ responses
    _fields = [("y", core.Integer), ("hash", core.Integer)]


class _Triple(core.Sequence):  # DSAparams: the MV response (p=y, q=gbar^k, g=ghat^k)
    _fields = [("p", core.Integer), ("q", core.Integer), ("g", core.Integer)]


def _decode(spec, value: bytes, what: str) -> tuple[int, ...]:
    try:
        parsed = spec.load(value)
        nums = tuple(parsed[field[0]].native for field in spec._fields)
    except Exception as exc:  # asn1crypto raises many types on garbage
        raise AutokeyError(Xevnt.ERR, f"{what} response is not valid DER: {exc}") from None
    if any(n is None or n < 0 for n in nums):
        raise AutokeyError(Xevnt.ERR, f"{what} response holds a missing or negative integer")
    return nums


def _encode(spec, *nums: int) -> bytes:
    return spec({field[0]: n for field, n in zip(spec._fields, nums)}).dump()


def challenge_value(r: int) -> bytes:
    return bn2bin(r)


def parse_challenge(value: bytes) -> int:
    if not value:
        raise AutokeyError(Xevnt.LEN, "empty identity challenge")
    return int.from_bytes(value, "big")


# --- IFF -----------------------------------------------------------------------------------------


def iff_challenge(group: IffParams) -> int:
    return _rand_below(group.q, (group.q.bit_length() + 7) // 8)


def iff_response(group: IffParams, challenge: bytes, k: int | None = None) -> bytes:
    """Bob: y = k + b r mod q, x = g^k mod p; sends DER(y, hash(x))."""
    if group.b is None:
        raise AutokeyError(Xevnt.ID, "IFF server key (b) unavailable")
    r = parse_challenge(challenge)
    if k is None:
        k = secrets.randbits(len(challenge) * 8) or 1
    y = (k + group.b * r) % group.q
    x = pow(group.g, k, group.p)
    return _encode(_Pair, y, bighash(x))


def iff_verify(group: IffParams, r: int, response: bytes) -> None:
    """Alice: hash(g^y v^r mod p) must equal hash(x); XEVNT_ID when it does not."""
    if group.v is None:
        raise AutokeyError(Xevnt.ID, "IFF client parameters (v) unavailable")
    y, h = _decode(_Pair, response, "IFF")
    if bighash(pow(group.v, r, group.p) * pow(group.g, y, group.p) % group.p) != h:
        raise AutokeyError(Xevnt.ID, "IFF identity not verified")


# --- GQ ------------------------------------------------------------------------------------------


def gq_challenge(group: GqParams) -> int:
    return _rand_below(group.n, (group.n.bit_length() + 7) // 8)


def gq_response(group: GqParams, challenge: bytes, k: int | None = None) -> bytes:
    """Bob: y = k u^r mod n, x = k^b mod n; sends DER(y, hash(x))."""
    if group.u is None:
        raise AutokeyError(Xevnt.ID, "GQ server key (u) unavailable")
    r = parse_challenge(challenge)
    if k is None:
        k = (secrets.randbits(len(challenge) * 8) | 1) % group.n
    y = k * pow(group.u, r, group.n) % group.n
    return _encode(_Pair, y, bighash(pow(k, group.b, group.n)))


def gq_verify(group: GqParams, r: int, response: bytes, v: int | None = None) -> None:
    """Alice: hash(v^r y^b mod n) must equal hash(x).  v comes from the server certificate."""
    v = group.v if v is None else v
    if v is None:
        raise AutokeyError(Xevnt.ID, "GQ public key missing from the server certificate")
    y, h = _decode(_Pair, response, "GQ")
    if bighash(pow(v, r, group.n) * pow(y, group.b, group.n) % group.n) != h:
        raise AutokeyError(Xevnt.ID, "GQ identity not verified")


# --- MV ------------------------------------------------------------------------------------------


def mv_challenge(key: MvClientKey) -> int:
    return _rand_below(key.p, (key.p.bit_length() + 7) // 8)


def mv_response(key: MvServerKey, challenge: bytes, k: int | None = None) -> bytes:
    """Bob: k coprime to q; sends DER(y = r E^k mod p, gbar^k mod p, ghat^k mod p)."""
    from math import gcd

    r = parse_challenge(challenge)
    while k is None or gcd(k, key.q) != 1:
        k = secrets.randbits(key.q.bit_length()) % key.q
    return _encode(
        _Triple,
        pow(key.e, k, key.p) * r % key.p,
        pow(key.gbar, k, key.p),
        pow(key.ghat, k, key.p),
    )


def mv_verify(key: MvClientKey, r: int, response: bytes) -> None:
    """Alice: y (gbar^k)^xhat (ghat^k)^xbar mod p must give back r."""
    y, gbar_k, ghat_k = _decode(_Triple, response, "MV")
    if pow(gbar_k, key.xhat, key.p) * pow(ghat_k, key.xbar, key.p) * y % key.p != r:
        raise AutokeyError(Xevnt.ID, "MV identity not verified")
