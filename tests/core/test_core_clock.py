"""clock/: the clock filter, selection on synthetic samples, and the discipline on a simulated clock."""

from __future__ import annotations

from ntpd_py.clock.discipline import ClockDiscipline, NullClock, SimulatedClock
from ntpd_py.clock.filter import MAXDISPERSE, PHI, ClockFilter
from ntpd_py.clock.select import (SEL_CANDIDATE, SEL_FALSETICK, SEL_OUTLIER, SEL_REJECT, SEL_SYSPEER, Candidate,
                                  SelectOptions, select)


def test_filter_picks_lowest_delay_and_weights_dispersion():
    f = ClockFilter(precision=1e-6)
    samples = [(0.010, 0.020), (0.002, 0.004), (0.008, 0.016), (0.005, 0.010)]
    for i, (offset, delay) in enumerate(samples):
        result = f.add(offset, delay, 1e-5, 100.0 + i)
    assert f.offset == 0.002 and f.delay == 0.004
    assert not result.fresh or f.offset == 0.002
    assert 0.9 < f.dispersion < 1.1  # four empty stages of 16 s weighted 1/32..1/256 (plus the rest)
    assert f.jitter > 0.003
    stages = f.stages()
    assert stages[0][1] == 0.005 and stages[4][2] == MAXDISPERSE


def test_filter_dispersion_grows_with_age():
    f = ClockFilter()
    f.add(0.0, 0.001, 0.0, 1000.0)
    f.age(2000.0)
    assert abs(f.dispersions[0] - 1000 * PHI) < 1e-9


def cand(key, offset, *, jitter=0.001, stratum=2, reach=0xFF, leap=0, dispersion=0.01, **kw):
    return Candidate(key=key, offset=offset, delay=0.002, dispersion=dispersion, jitter=jitter, root_delay=0.01,
                     root_dispersion=0.01, stratum=stratum, reach=reach, leap=leap, updated=100.0, **kw)


def test_select_falseticker_and_sys_peer():
    cands = [cand(1, 0.001), cand(2, 0.002), cand(3, 0.0015), cand(4, 0.9)]
    sel = select(cands, 100.0)
    assert sel.status[4] == SEL_FALSETICK
    assert sel.sys_peer in (1, 2, 3)
    assert sel.status[sel.sys_peer] == SEL_SYSPEER
    assert abs(sel.offset - 0.0015) < 0.001


def test_select_rejects_unfit():
    cands = [cand(1, 0.0, reach=0), cand(2, 0.0, leap=3), cand(3, 0.0, stratum=16), cand(4, 0.0, dispersion=5.0)]
    sel = select(cands, 100.0)
    assert sel.sys_peer is None
    assert all(code == SEL_REJECT for code in sel.status.values())


def test_cluster_prunes_outlier_beyond_minclock():
    cands = [cand(i, 0.001 * i, jitter=0.0001) for i in range(1, 5)] + [cand(9, 0.012, jitter=0.0001)]
    sel = select(cands, 100.0, SelectOptions(minclock=3))
    assert sel.status[9] in (SEL_OUTLIER, SEL_FALSETICK)
    assert sum(1 for c in sel.status.values() if c in (SEL_CANDIDATE, SEL_SYSPEER)) >= 3


def test_prefer_wins_and_current_peer_kept():
    cands = [cand(1, 0.001), cand(2, 0.0012, prefer=True), cand(3, 0.0011)]
    assert select(cands, 100.0).sys_peer == 2
    cands[1].prefer = False
    assert select(cands, 100.0, current_sys_peer=3).sys_peer == 3


def test_discipline_converges_on_simulated_clock():
    clock = SimulatedClock(offset=0.05, frequency_error=-20e-6)
    disc = ClockDiscipline(clock)
    now, poll = 0.0, 4
    for _ in range(400):
        disc.update(clock.offset, now, poll)
        clock.advance(16.0)
        now += 16.0
    assert abs(clock.offset) < 0.001
    assert abs(clock.frequency - 20e-6) < 3e-6
    assert clock.steps == 0


def test_discipline_steps_after_stepout_and_panics():
    clock = SimulatedClock(offset=0.5)
    disc = ClockDiscipline(clock, stepout=60.0)
    assert disc.update(0.5, 0.0, 4) == "step"  # first update: no history, step at once
    assert disc.update(0.3, 16.0, 4) == "spike"
    assert disc.update(0.3, 100.0, 4) == "step"
    assert disc.update(5000.0, 116.0, 4) == "panic"


def test_null_clock_changes_nothing():
    null = NullClock()
    ClockDiscipline(null).update(0.01, 0.0, 6)
    assert null.requests == 1
