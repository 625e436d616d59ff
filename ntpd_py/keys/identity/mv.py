"""Mu-Varadharajan (MV) identity parameters, kept in DSA-shaped containers as ntp-keygen's gen_mvkey does.

Trusted-authority file (ntpkey_MVta_<group>): one DSA-shaped key per line of the scheme, in this order
  TA      p, q, g,         priv = A (master encryption key), pub = b (group key)
  server  p, q, g = E,     priv = gbar, pub = ghat       (also the servers' ntpkey_mvkey_<group>)
  client  p, q = 1, g = 1, priv = xbar[j], pub = xhat[j] (j = 1..n; ntpkey_mvpar_<group> holds one)
Math: q = s1[1]...s1[n] (distinct primes), p = 2q + 1 prime, g of order dividing q; roots x[j];
A = g^(-sum x[j]^n); s = q / s1[n] (client n is always revoked); E = A^s, gbar = g^s, ghat = g^(s b);
xbar[j] = b^-1 sum_{i!=j} x[i]^n, xhat[j] = x[j]^n (q / s1[j] + 1), all exponents mod q.
A client j works when gbar^xhat[j] * ghat^xbar[j] * E == 1 mod p.
PKCS#8 drops every `pub` (b, ghat, xhat), which is why ntp-keygen's own exports never verify.
"""

from __future__ import annotations

import itertools
import math
import secrets
from dataclasses import dataclass

from ..pem import RawKey, dsa_private_der, traditional_pem
from ..primes import is_probable_prime, random_prime, sieve_passes
from . import IdentityError

SCHEME = "mv"
DEFAULT_BITS = 512
MAX_KEYS = 98  # ntp-keygen's MVMAX (100) less the TA and server entries

_REGENERATE = "Regenerate with `ntpd-py-keygen -V N -p <password>` (traditional DSA form keeps every value)"


@dataclass(frozen=True)
class MvServerKey:
    """What servers hold: p, q (to roll k), E, gbar, ghat."""

    p: int
    q: int
    e: int
    gbar: int
    ghat: int

    def dump(self, password: str | bytes | None = None) -> str:
        return traditional_pem("dsa", dsa_private_der(self.p, self.q, self.e, self.ghat, self.gbar), password)

    def check(self) -> None:
        for name in ("e", "gbar", "ghat"):
            if not 0 < getattr(self, name) < self.p:
                raise IdentityError(f"MV server value {name} out of range")


@dataclass(frozen=True)
class MvClientKey:
    """What a client holds: p and its private pair (xbar, xhat)."""

    p: int
    xbar: int
    xhat: int

    def dump(self, password: str | bytes | None = None) -> str:
        return traditional_pem("dsa", dsa_private_der(self.p, 1, 1, self.xhat, self.xbar), password)

    def works_with(self, server: MvServerKey) -> bool:
        """gbar^xhat * ghat^xbar * E == 1 mod p: the client can invert the server's session key."""
        if server.p != self.p:
            return False
        product = pow(server.gbar, self.xhat, self.p) * pow(server.ghat, self.xbar, self.p) * server.e
        return product % self.p == 1


@dataclass(frozen=True)
class MvTrustedAuthority:
    """The whole MV scheme as the trusted authority keeps it (ntpkey_MVta_<group>)."""

    p: int
    q: int
    g: int
    a: int
    b: int
    server: MvServerKey
    clients: tuple[MvClientKey, ...]

    def revoked(self) -> list[int]:
        """1-based numbers of client keys that no longer work (ntp-keygen always revokes the last)."""
        return [j for j, client in enumerate(self.clients, 1) if not client.works_with(self.server)]

    def check(self) -> None:
        if self.p != 2 * self.q + 1:
            raise IdentityError("MV modulus p != 2q + 1")
        if pow(self.g, self.q, self.p) != 1:
            raise IdentityError("MV generator g^q != 1 mod p")
        if math.gcd(self.b, self.q) != 1:
            raise IdentityError("MV group key b is not invertible mod q")
        self.server.check()
        if self.server.p != self.p or self.server.q != self.q:
            raise IdentityError("MV server key belongs to another modulus")
        if not any(client.works_with(self.server) for client in self.clients):
            raise IdentityError("no MV client key works with the server key")

    def dump(self, password: str | bytes | None = None) -> str:
        parts = [traditional_pem("dsa", dsa_private_der(self.p, self.q, self.g, self.b, self.a), password)]
        parts.append(self.server.dump(password))
        parts += [client.dump(password) for client in self.clients]
        return "".join(parts)


def server_from_raw(raw: RawKey) -> MvServerKey:
    if raw.algorithm != "dsa":
        raise IdentityError(f"MV keys must be DSA-shaped, found {raw.algorithm.upper()}")
    p, q, g, pub, priv = raw["p"], raw["q"], raw["g"], raw["pub"], raw["priv"]
    if q == 1 and g == 1:
        raise IdentityError("this is an MV client key (q = g = 1), not the server key")
    if pub is None:
        raise IdentityError(
            "PKCS#8 MV server key has lost ghat (PKCS#8 has no slot for the DSA public value), so MV can "
            f"never verify. {_REGENERATE}, then install its ntpkey_mvkey file"
        )
    return MvServerKey(p, q, g, priv, pub)  # type: ignore[arg-type]


def client_from_raw(raw: RawKey) -> MvClientKey:
    if raw.algorithm != "dsa":
        raise IdentityError(f"MV keys must be DSA-shaped, found {raw.algorithm.upper()}")
    p, q, g, pub, priv = raw["p"], raw["q"], raw["g"], raw["pub"], raw["priv"]
    if pub is None:
        raise IdentityError(
            "PKCS#8 MV client parameters have lost xhat (PKCS#8 has no slot for the DSA public value; "
            "readers see pub = 1) and MV never verifies. If the group's ntpkey_MVta file was written by "
            "ntpd-py-keygen, export them again there with `ntpd-py-keygen -e -p <server password> -s "
            "HOST@GROUP`; if stock ntp-keygen wrote it, it has lost the group key b as well and nothing can "
            f"repair it: make a new MV group on the trusted authority ({_REGENERATE[0].lower()}{_REGENERATE[1:]}), "
            "install its ntpkey_mvkey on every server and export new client parameters with -e"
        )
    if not (q == 1 and g == 1):
        raise IdentityError("this is not an MV client key (expected q = g = 1)")
    return MvClientKey(p, priv, pub)  # type: ignore[arg-type]


def authority_from_raw(raws: list[RawKey]) -> MvTrustedAuthority:
    """The TA file: TA key, server key, then client keys."""
    if len(raws) < 3:
        raise IdentityError(f"MV trusted-authority file needs at least 3 keys, found {len(raws)}")
    ta = raws[0]
    if ta.algorithm != "dsa":
        raise IdentityError("MV keys must be DSA-shaped")
    if ta["pub"] is None:
        raise IdentityError(
            "PKCS#8 MV trusted-authority file has lost the group key b and every public value; it can no "
            f"longer produce working keys. {_REGENERATE}"
        )
    server = server_from_raw(raws[1])
    clients = tuple(client_from_raw(raw) for raw in raws[2:])
    return MvTrustedAuthority(ta["p"], ta["q"], ta["g"], ta["priv"], ta["pub"], server, clients)  # type: ignore[arg-type]


def _random_mod(q: int) -> int:
    """A random unit mod q (gcd(x, q) = 1), as gen_mvkey rolls roots and b."""
    while True:
        x = secrets.randbelow(q)
        if x > 1 and math.gcd(x, q) == 1:
            return x


def _distinct_primes(count: int, bits: int, exclude: list[int] | None = None) -> list[int]:
    primes: list[int] = []
    while len(primes) < count:
        candidate = random_prime(bits)
        if candidate not in primes and candidate not in (exclude or ()):
            primes.append(candidate)
    return primes


def _safe_modulus(n: int, prime_bits: int) -> tuple[list[int], int, int]:
    """n distinct primes s1 whose product q makes p = 2q + 1 prime.

    ntp-keygen swaps one prime at a time until p is prime (hundreds of fresh primes at 1024 bits); trying
    the combinations of a small pool of primes needs the same number of tests on p but few primes.
    """
    pool = _distinct_primes(n + 7, prime_bits)
    tried: set[tuple[int, ...]] = set()
    while True:
        for combo in itertools.combinations(range(len(pool)), n):
            if combo in tried:
                continue
            tried.add(combo)
            factors = [pool[i] for i in combo]
            q = math.prod(factors)
            p = 2 * q + 1
            if sieve_passes(p) and is_probable_prime(p, 1) and is_probable_prime(p):
                secrets.SystemRandom().shuffle(factors)
                return factors, q, p
        pool += _distinct_primes(1, prime_bits, exclude=pool)


def generate(keys: int, bits: int = DEFAULT_BITS) -> MvTrustedAuthority:
    """New MV scheme with `keys` client keys (the last one revoked, as ntp-keygen -V does)."""
    n = keys
    if not 2 <= n <= MAX_KEYS:
        raise IdentityError(f"MV needs between 2 and {MAX_KEYS} keys (-V N), got {n}")
    prime_bits = bits // n
    if prime_bits < 16:
        raise IdentityError(f"{bits}-bit MV modulus is too small for {n} keys; raise -b")
    s1, q, p = _safe_modulus(n, prime_bits)
    while True:
        g = secrets.randbits(p.bit_length() - 1) % p
        if g > 1 and math.gcd(g, p - 1) == 1 and pow(g, q, p) == 1:
            break
    roots = [_random_mod(q) for _ in range(n)]
    powers = [pow(x, n, q) for x in roots]
    total = sum(powers) % q
    a = pow(g, (q - total) % q, p)  # prod_j prod_{i<n} g^(a_i x_j^i) = g^(-sum x_j^n)
    b = _random_mod(q)
    b_inverse = pow(b, -1, q)
    clients = []
    for j in range(n):
        w = q // s1[j] + 1
        xbar = (total - powers[j]) * b_inverse % q
        xhat = powers[j] * w % q
        clients.append(MvClientKey(p, xbar, xhat))
    s = q // s1[n - 1]
    server = MvServerKey(p, q, pow(a, s, p), pow(g, s, p), pow(g, s * b % q, p))
    authority = MvTrustedAuthority(p, q, g, a, b, server, tuple(clients))
    authority.check()
    return authority
