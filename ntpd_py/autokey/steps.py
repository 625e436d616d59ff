"""The order of a client's Autokey steps, as data (RFC 5906 section 6; ntpd 4.2.8's peer_xmit).

Each step names the flag bit its answer earns and the request that asks for it.  The exchange
(`exchange.py`) sends the request of the first step whose bit is still missing; how soon it is sent is the
pacing policy's business (`pacing.py`), not this table's.

    ASSOC ─► CERT (issuer by issuer, up to a trusted root) ─► IDENT (IFF | GQ | MV, the server's scheme;
    only with `ident`) ─► COOK (not a broadcast client) ─► AUTO ─► once this host is synchronized:
    SIGN ─► LEAP
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..protocol import MODE_ACTIVE, MODE_BCLIENT, MODE_CLIENT, MODE_PASSIVE
from .flags import CryptoFlag


class Request(enum.Enum):
    """The request a step sends (IDENT: the identity challenge of the scheme the server offers)."""

    ASSOC = "ASSOC"
    CERT = "CERT"
    IDENT = "IDENT"
    COOK = "COOK"
    AUTO = "AUTO"
    SIGN = "SIGN"
    LEAP = "LEAP"


ALL_MODES = frozenset({MODE_CLIENT, MODE_ACTIVE, MODE_PASSIVE, MODE_BCLIENT})


@dataclass(frozen=True)
class Step:
    """One step: the request sent until its answer sets `sets` (ASSOC: until any status word is known)."""

    request: Request
    sets: int
    modes: frozenset[int] = ALL_MODES  # association modes (ntpd's hmode) that take this step
    after_sync: bool = False  # sent only once this host is synchronized (the answer is signed by us)
    both_synchronized: bool = False  # symmetric modes: only once both peers are synchronized


CLIENT_STEPS: tuple[Step, ...] = (
    Step(Request.ASSOC, 0),
    Step(Request.CERT, CryptoFlag.CERT),
    Step(Request.IDENT, CryptoFlag.VRFY),
    # a broadcast client's cookie is 0 and its AUTO values come from the broadcaster's association
    Step(Request.COOK, CryptoFlag.COOK, frozenset({MODE_CLIENT, MODE_ACTIVE, MODE_PASSIVE}), both_synchronized=True),
    Step(Request.AUTO, CryptoFlag.AUTO),
    Step(Request.SIGN, CryptoFlag.SIGN, after_sync=True),
    Step(Request.LEAP, CryptoFlag.LEAP, after_sync=True),
)


def pending(flags: int, hmode: int) -> Step | None:
    """The first step an association in mode `hmode` with crypto `flags` has not done, or None."""
    if not flags:
        return CLIENT_STEPS[0]
    for step in CLIENT_STEPS[1:]:
        if hmode in step.modes and not flags & step.sets:
            return step
    return None


__all__ = ["CLIENT_STEPS", "Request", "Step", "pending"]
