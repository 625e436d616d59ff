"""engine/pacing.py: a client that keeps within ntpd's limiter is never kissed, and is not slowed for nothing."""

from __future__ import annotations

import random

from core_sim import T0, make_host

from ntpd_py.engine.pacing import JITTER_MARGIN, ServerPacer
from ntpd_py.engine.restrict import Limit, RestrictTable
from ntpd_py.wire.packet import decode


def drive(pacer: ServerPacer, want_every: float, duration: float, jitter: float, seed: int = 7) -> list[Limit]:
    """A client that would like to send every `want_every` s; the server sees each send after a random
    network delay and judges it with ntpd's limiter (default discard)."""
    rng = random.Random(seed)
    server = RestrictTable()
    now, verdicts = T0, []
    while now < T0 + duration:
        wait = pacer.delay(now)
        if wait > 0:
            now += wait
            continue
        pacer.sent(now)
        verdicts.append(server.monitor("10.0.0.2", now + rng.uniform(0, jitter)))
        now += want_every
    return verdicts


def test_eager_client_is_never_limited_even_with_jitter():
    # path delays that differ by up to the pacer's margin between two packets cannot make ntpd count
    # an interval shorter than intended
    for seed in range(20):
        out = drive(ServerPacer(), 0.2, 300, jitter=JITTER_MARGIN - 0.01, seed=seed)
        assert set(out) == {Limit.OK}, seed
        assert len(out) > 300 / 8  # and it still uses the whole allowance (one per 6-8 s in the long run)


def test_without_pacing_the_same_client_is_kissed():
    server = RestrictTable()
    out = [server.monitor("10.0.0.2", T0 + i * 0.5) for i in range(40)]
    assert Limit.KOD in out


def test_handshake_burst_is_quick():
    # the first dozen packets go out a second apart: an Autokey exchange (about 8 packets) is not slowed
    pacer, now, sends = ServerPacer(), T0, []
    while len(sends) < 10:
        wait = pacer.delay(now)
        if wait:
            now += wait
        pacer.sent(now)
        sends.append(now)
        now += 0.1
    assert sends[-1] - sends[0] <= 9 * (0.5 + JITTER_MARGIN) + 0.5


def test_iburst_volley_is_untouched():
    pacer = ServerPacer()
    for i in range(6):
        assert pacer.delay(T0 + 2 * i) == 0
        pacer.sent(T0 + 2 * i)


def test_a_rate_kiss_fills_the_model():
    pacer = ServerPacer()
    pacer.sent(T0)
    pacer.kissed(kiss_poll=6, our_poll=3)  # the kiss names an average above our poll: the server's average
    assert pacer.average == 6
    assert pacer.delay(T0 + 1) > 60  # its bucket is full: wait for it to drain well below the limit


def test_engine_client_paces_its_polls():
    """The host's poll timer honours the pacer: a client whose polls are due every 0.5 s (a forced short
    schedule) reaches an ntpd-py server with `limited kod` without one RATE kiss."""
    server = make_host("server 127.127.1.0\nfudge 127.127.1.0 stratum 8\nrestrict default limited kod\n", "127.0.0.1")
    client = make_host("server 127.0.0.1 iburst minpoll 3 maxpoll 3\n", "127.0.0.2")
    server.handle_timers(T0 + 1)
    assoc = next(iter(client.associations.values()))
    now, kods, sent = T0, 0, 0
    while now < T0 + 120:
        for out in client.handle_timers(now):
            sent += 1
            for reply in server.receive_datagram(out.data, ("127.0.0.2", 123), "127.0.0.1", now + 0.001):
                kods += decode(reply.data).refid == b"RATE"
                client.receive_datagram(reply.data, ("127.0.0.1", 123), "127.0.0.2", now + 0.002)
        assoc.next_poll = min(assoc.next_poll, now + 0.5)  # as an eager Autokey exchange would ask
        now += 0.25
    assert kods == 0 and server.counters["limited"] == 0
    assert sent >= 15
