"""RFC 5905 source selection: fitness, intersection (Marzullo), cluster pruning, combining.

Each candidate gets one of ntpd's selection codes, which ntpq prints as the association's condition:
reject, falsetick, excess, outlier, candidate, backup, sys.peer. Pure functions over `Candidate`s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..protocol import LEAP_NOTINSYNC, MAXDISPERSE, MINDISPERSE, STRATUM_UNSPEC
from .filter import PHI

SEL_REJECT, SEL_FALSETICK, SEL_EXCESS, SEL_OUTLIER, SEL_CANDIDATE, SEL_BACKUP, SEL_SYSPEER, SEL_PPSPEER = range(8)
SELECTION_NAMES = ("reject", "falsetick", "excess", "outlier", "candidate", "backup", "sys.peer", "pps.peer")
TALLY = " x.-+#*o"  # ntpq -p's first column for each selection code

MAXDISTANCE = 1.5  # tos maxdist


@dataclass
class Candidate:
    """What selection needs to know about one association at `now`."""

    key: int  # association id
    offset: float
    delay: float
    dispersion: float
    jitter: float
    root_delay: float
    root_dispersion: float
    stratum: int
    reach: int
    leap: int
    updated: float
    poll: int = 6
    prefer: bool = False
    noselect: bool = False
    loop: bool = False
    local_clock: bool = False  # the local clock driver: a last resort unless `prefer`


@dataclass
class SelectOptions:
    minsane: int = 1
    minclock: int = 3
    maxclock: int = 10
    maxdist: float = MAXDISTANCE
    mindist: float = MINDISPERSE
    ceiling: int = STRATUM_UNSPEC - 1


@dataclass
class Selection:
    status: dict[int, int]  # association id -> selection code
    sys_peer: int | None
    offset: float = 0.0
    jitter: float = 0.0
    survivors: tuple[int, ...] = ()


def root_distance(c: Candidate, now: float, mindist: float = MINDISPERSE) -> float:
    """Half the round trip to the primary source plus all dispersion, as ntpd's root_distance()."""
    return (max(mindist, c.root_delay + c.delay) / 2 + c.root_dispersion + c.dispersion
            + PHI * max(0.0, now - c.updated) + c.jitter)


def is_fit(c: Candidate, now: float, opts: SelectOptions) -> bool:
    if c.noselect or c.reach == 0 or c.leap == LEAP_NOTINSYNC or c.loop:
        return False
    if c.stratum > opts.ceiling or c.stratum >= STRATUM_UNSPEC:
        return False
    return root_distance(c, now, opts.mindist) <= opts.maxdist + PHI * (1 << max(0, c.poll))


def select(candidates: Sequence[Candidate], now: float, opts: SelectOptions | None = None,
           current_sys_peer: int | None = None) -> Selection:
    """Run the whole selection; the current system peer is kept when it survives (no clock hopping)."""
    opts = opts or SelectOptions()
    status = {c.key: SEL_REJECT for c in candidates}
    fit = [c for c in candidates if is_fit(c, now, opts)]
    for c in fit:
        status[c.key] = SEL_FALSETICK
    # as ntpd: the local clock driver sits out selection and is chosen only when nothing else survives
    locals_ = sorted((c for c in fit if c.local_clock and not c.prefer), key=lambda c: root_distance(c, now))
    fit = [c for c in fit if not (c.local_clock and not c.prefer)]
    selection = _select_sources(fit, status, now, opts, current_sys_peer)
    if selection.sys_peer is None and locals_:
        chosen = locals_[0]
        for c in locals_[1:]:
            status[c.key] = SEL_BACKUP
        status[chosen.key] = SEL_SYSPEER
        return Selection(status, chosen.key, chosen.offset, chosen.jitter, (chosen.key,))
    for c in locals_:
        status[c.key] = SEL_BACKUP
    return selection


def _select_sources(fit: list[Candidate], status: dict[int, int], now: float, opts: SelectOptions,
                    current_sys_peer: int | None) -> Selection:
    if not fit:
        return Selection(status, None)
    dist = {c.key: root_distance(c, now, opts.mindist) for c in fit}
    endpoints = []
    for c in fit:
        endpoints.append((c.offset - dist[c.key], -1))
        endpoints.append((c.offset + dist[c.key], 1))
    endpoints.sort()
    n = len(fit)
    low, high = 1e9, -1e9
    allow = 0
    while 2 * allow < n:
        count = 0
        for value, kind in endpoints:
            low = value
            count -= kind
            if count >= n - allow:
                break
        count = 0
        for value, kind in reversed(endpoints):
            high = value
            count += kind
            if count >= n - allow:
                break
        if high > low:
            break
        allow += 1
    # as ntpd 4.2.8: a truechimer's correctness interval overlaps the intersection (RFC 5905's midpoint test
    # would drop a sound but distant-looking source next to a very precise local clock)
    truechimers = [c for c in fit if c.offset + dist[c.key] >= low and c.offset - dist[c.key] <= high] \
        if high > low else []
    if len(truechimers) < opts.minsane:
        return Selection(status, None)
    for c in truechimers:
        status[c.key] = SEL_OUTLIER
    survivors = sorted(truechimers, key=lambda c: c.stratum * opts.maxdist + dist[c.key])  # RFC 5905 A.5.5.2
    while len(survivors) > opts.minclock:
        worst_i, worst = 0, -1.0
        for i, ci in enumerate(survivors):
            s = sum((cj.offset - ci.offset) ** 2 for cj in survivors)
            d = math.sqrt(s / (len(survivors) - 1))
            if d > worst:
                worst_i, worst = i, d
        if worst <= min(c.jitter for c in survivors):
            break
        survivors.pop(worst_i)
    for i, c in enumerate(survivors):
        status[c.key] = SEL_CANDIDATE if i < opts.maxclock else SEL_BACKUP
    survivors = survivors[: opts.maxclock]
    chosen = survivors[0]
    preferred = [c for c in survivors if c.prefer]
    if preferred:
        chosen = preferred[0]
    elif current_sys_peer is not None:
        current = next((c for c in survivors if c.key == current_sys_peer), None)
        if current is not None and current.stratum <= chosen.stratum:
            chosen = current
    status[chosen.key] = SEL_SYSPEER
    offset, jitter = combine(survivors, chosen, now, opts)
    return Selection(status, chosen.key, offset, jitter, tuple(c.key for c in survivors))


def combine(survivors: Sequence[Candidate], chosen: Candidate, now: float, opts: SelectOptions) -> tuple[float, float]:
    """Weighted offset (1/root distance) and system jitter (peer jitter plus selection jitter)."""
    weights = [1.0 / max(root_distance(c, now, opts.mindist), 1e-9) for c in survivors]
    total = sum(weights)
    offset = sum(w * c.offset for w, c in zip(weights, survivors)) / total
    sel = sum(w * (c.offset - chosen.offset) ** 2 for w, c in zip(weights, survivors)) / total
    return offset, math.sqrt(chosen.jitter**2 + sel)


__all__ = ["Candidate", "SelectOptions", "Selection", "select", "root_distance", "is_fit", "SELECTION_NAMES",
           "TALLY", "MAXDISPERSE"]
