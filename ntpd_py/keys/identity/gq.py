"""Guillou-Quisquater (GQ) identity parameters, kept in an RSA-shaped container as ntp-keygen does.

RFC 5906 / ntp-keygen slot mapping: n = modulus, e = b (group key), d = 1, p = u (server private key),
q = v = (u^-1)^b mod n (server public key, also carried in the certificate's subjectKeyIdentifier),
dmp1 = dmq1 = iqmp = 1.  Client files have p = q = 1: clients hold n and b and take v from the certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from ..pem import RawKey, rsa_private_der, traditional_pem
from ..primes import random_below, random_prime
from . import IdentityError

SCHEME = "gq"
DEFAULT_BITS = 512


@dataclass(frozen=True)
class GqParams:
    """GQ group parameters; `u` and `v` are None on clients."""

    n: int
    b: int
    u: int | None = None
    v: int | None = None

    @property
    def modulus_bits(self) -> int:
        """The modulus size in bits (ntp-keygen's -b), which a key policy such as identity_modulus compares."""
        return self.n.bit_length()

    @property
    def is_server(self) -> bool:
        return self.u is not None

    def client(self) -> "GqParams":
        return GqParams(self.n, self.b, None, None)

    def check(self) -> None:
        """Raise IdentityError unless u^b * v == 1 mod n (servers) and the values fit n."""
        if self.n < 3 or not (1 < self.b < self.n):
            raise IdentityError("group key b must lie in 1 < b < n")
        if self.u is None:
            return
        if self.v is None or not (0 < self.u < self.n and 0 < self.v < self.n):
            raise IdentityError("server key u and public key v must lie in 0 < x < n")
        if pow(self.u, self.b, self.n) * self.v % self.n != 1:
            raise IdentityError("u^b * v != 1 mod n")

    def dump(self, password: str | bytes | None = None) -> str:
        """Traditional ``BEGIN RSA PRIVATE KEY`` with every slot as ntp-keygen fills it."""
        u = self.u if self.u is not None else 1
        v = self.v if self.v is not None else 1
        der = rsa_private_der(self.n, self.b, 1, u, v, 1, 1, 1)
        return traditional_pem("rsa", der, password)

    def with_new_key(self) -> "GqParams":
        """A fresh server key pair (u, v) for the same group, as ntp-keygen rolls with each certificate."""
        u, v = _key_pair(self.n, self.b)
        return GqParams(self.n, self.b, u, v)


def from_raw(raw: RawKey, server: bool) -> GqParams:
    """GQ parameters from an RSA-shaped key (either container form keeps every value)."""
    if raw.algorithm != "rsa":
        raise IdentityError(f"GQ parameters must be RSA-shaped, found {raw.algorithm.upper()}")
    n, b, u, v = raw["n"], raw["e"], raw["p"], raw["q"]
    assert n is not None and b is not None
    if u in (None, 1) or v in (None, 1):
        if server:
            raise IdentityError("this is a client GQ parameter file (p = q = 1): the server key u is missing")
        return GqParams(n, b)
    params = GqParams(n, b, u, v)
    return params if server else params.client()


def _key_pair(n: int, b: int) -> tuple[int, int]:
    while True:
        u = random_below(n)
        try:
            inverse = pow(u, -1, n)
        except ValueError:
            continue
        return u, pow(inverse, b, n)


def generate(bits: int = DEFAULT_BITS) -> GqParams:
    """New GQ parameters: an RSA modulus n, random group key b, server key pair (u, v)."""
    if bits < 256:
        raise IdentityError("GQ modulus must have at least 256 bits")
    if bits >= 1024:
        n = rsa.generate_private_key(65537, bits).private_numbers().public_numbers.n
    else:
        while True:
            n = random_prime(bits - bits // 2) * random_prime(bits // 2)
            if n.bit_length() == bits:
                break
    b = random_below(n)
    u, v = _key_pair(n, b)
    params = GqParams(n, b, u, v)
    params.check()
    return params
