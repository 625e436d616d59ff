"""Schnorr (IFF) identity parameters, kept in a DSA-shaped container as ntp-keygen does.

Slots: p, q, g as in DSA; priv = b (the private group key, servers only; 1 in client files);
pub = v = g^(q-b) mod p.  Clients need p, q, g, v; servers need b.  A PKCS#8 container drops `pub`, so a
PKCS#8 client file (ntp-keygen 4.2.8's `-e` output) has lost v for good and is refused here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import dsa

from ..pem import RawKey, dsa_private_der, traditional_pem
from ..primes import is_probable_prime, random_bits, random_prime
from . import IdentityError

SCHEME = "iff"
DEFAULT_BITS = 512
Q_BITS = 160  # what OpenSSL's DSA_generate_parameters_ex picks below 2048 bits


@dataclass(frozen=True)
class IffParams:
    """IFF group parameters; `b` is None on clients."""

    p: int
    q: int
    g: int
    v: int
    b: int | None = None

    @property
    def modulus_bits(self) -> int:
        """The modulus size in bits (ntp-keygen's -b), which a key policy such as identity_modulus compares."""
        return self.p.bit_length()

    @property
    def is_server(self) -> bool:
        return self.b is not None

    def client(self) -> "IffParams":
        """What clients get (the group key removed)."""
        return IffParams(self.p, self.q, self.g, self.v, None)

    def check(self) -> None:
        """Raise IdentityError unless the numbers satisfy IFF's relations."""
        if not (1 < self.g < self.p) or pow(self.g, self.q, self.p) != 1:
            raise IdentityError("g is not an element of order q mod p")
        if (self.p - 1) % self.q:
            raise IdentityError("q does not divide p - 1")
        if pow(self.v, self.q, self.p) != 1:
            raise IdentityError("v is not in the subgroup of order q")
        if self.b is not None and self.v != pow(self.g, self.q - self.b, self.p):
            raise IdentityError("v != g^(q-b) mod p")
        if self.v == self.g:
            raise IdentityError("v equals g: the public value was recomputed from priv=1 (a PKCS#8 export)")

    def dump(self, password: str | bytes | None = None) -> str:
        """Traditional ``BEGIN DSA PRIVATE KEY`` (keeps v); client files have priv = 1 as ntp-keygen writes."""
        der = dsa_private_der(self.p, self.q, self.g, self.v, self.b if self.b is not None else 1)
        return traditional_pem("dsa", der, password)


def from_raw(raw: RawKey, server: bool) -> IffParams:
    """IFF parameters from a DSA-shaped key; raises IdentityError for lost public values or wrong shapes."""
    if raw.algorithm != "dsa":
        raise IdentityError(f"IFF parameters must be DSA-shaped, found {raw.algorithm.upper()}")
    p, q, g, pub, priv = (raw["p"], raw["q"], raw["g"], raw["pub"], raw["priv"])
    assert p is not None and q is not None and g is not None and priv is not None
    if server or priv != 1:
        if priv == 1:
            raise IdentityError("this is a client parameter file (priv = 1), not the server IFF key")
        params = IffParams(p, q, g, pow(g, q - priv, p), priv)
        if pub is not None and pub != params.v and pub != pow(g, priv, p):
            raise IdentityError("stored public value does not match g^(q-b) mod p")
        if not server:
            return params.client()
        return params
    if pub is None:
        raise IdentityError(
            "PKCS#8 IFF client parameters have lost the public value v (PKCS#8 has no slot for it; "
            "readers recompute g^1 and identity never verifies). Regenerate with "
            "`ntpd-py-keygen -e -p <server password> -s HOST@GROUP` on the trusted authority, which writes the "
            "traditional DSA form"
        )
    return IffParams(p, q, g, pub, None)


def generate(bits: int = DEFAULT_BITS) -> IffParams:
    """New IFF parameters: DSA-style p, q, g (cryptography for 1024+ bits, pure Python below), then b, v."""
    if bits < 256:
        raise IdentityError("IFF modulus must have at least 256 bits")
    if bits in (1024, 2048, 3072):
        numbers = dsa.generate_parameters(bits).parameter_numbers()
        p, q, g = numbers.p, numbers.q, numbers.g
    else:
        p, q, g = _dsa_parameters(bits, Q_BITS if bits < 2048 else 256)
    b = 1 + secrets.randbelow(q - 1)
    params = IffParams(p, q, g, pow(g, q - b, p), b)
    params.check()
    return params


def _dsa_parameters(bits: int, q_bits: int) -> tuple[int, int, int]:
    """p of `bits` bits with a `q_bits` prime q dividing p - 1, and g of order q."""
    q_bits = min(q_bits, bits - 64)
    q = random_prime(q_bits)
    while True:
        x = random_bits(bits)
        p = x - (x % (2 * q)) + 1
        if p.bit_length() != bits or not is_probable_prime(p):
            continue
        break
    exponent = (p - 1) // q
    h = 2
    while True:
        g = pow(h, exponent, p)
        if g > 1:
            return p, q, g
        h += 1
