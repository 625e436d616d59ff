"""Identity-scheme parameters (IFF, GQ, MV) as ntp-keygen stores them in RSA/DSA-shaped key files."""

from __future__ import annotations


class IdentityError(ValueError):
    """Identity parameters that are inconsistent or unusable; the message says how to fix them."""
