"""Prime generation for identity parameters of any size.

`cryptography` only generates RSA keys of 1024 bits or more and DSA parameters of 1024/2048/3072 bits, while
ntp-keygen's identity moduli start at 256 bits and MV needs p = 2q + 1 with q a product of small primes.
Miller-Rabin with a small-prime sieve is quick enough in pure Python for these sizes.
"""

from __future__ import annotations

import math
import secrets

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]
_PRIMORIAL = 1
for _p in _SMALL_PRIMES:
    _PRIMORIAL *= _p
_ROUNDS = 32


def is_probable_prime(n: int, rounds: int = _ROUNDS) -> bool:
    """Miller-Rabin with random bases after trial division by small primes."""
    if n < 2:
        return False
    if n in (2, 3):
        return True
    if n % 2 == 0:
        return False
    if n <= _SMALL_PRIMES[-1]:
        return n in _SMALL_PRIMES
    if math.gcd(n, _PRIMORIAL) != 1:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = 2 + secrets.randbelow(n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def sieve_passes(n: int) -> bool:
    """Cheap pre-test: no factor below 2000 (one gcd with their product)."""
    return n > _SMALL_PRIMES[-1] and n % 2 == 1 and math.gcd(n, _PRIMORIAL) == 1


def random_bits(bits: int) -> int:
    """A random integer with exactly `bits` bits (top bit set)."""
    return secrets.randbits(bits) | (1 << (bits - 1))


def random_prime(bits: int) -> int:
    """A random prime of exactly `bits` bits."""
    if bits < 2:
        raise ValueError("a prime needs at least 2 bits")
    while True:
        candidate = random_bits(bits) | 1
        if is_probable_prime(candidate):
            return candidate


def random_below(limit: int) -> int:
    """Uniform random integer in [1, limit)."""
    return 1 + secrets.randbelow(limit - 1)
