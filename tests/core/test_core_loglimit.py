"""Bad packets are counted always and logged a few times a minute (issue 10: 15,000 spoofed crypto-NAKs
made 15,001 log lines)."""

from __future__ import annotations

from core_sim import T0, log_lines, make_host

from ntpd_py.engine.events import PeerEvent

from ntpd_py.engine.loglimit import BURST, LogLimiter
from ntpd_py.ntptime import to_ntp64
from ntpd_py.wire.packet import NtpPacket, encode


def spoofed_nak(xmt: float) -> bytes:
    """A server-mode packet claiming to be from the server, with a 4-byte crypto-NAK instead of a MAC."""
    return encode(NtpPacket(version=4, mode=4, stratum=2, xmt=to_ntp64(xmt))) + (1).to_bytes(4, "big")


def test_15000_spoofed_naks_make_a_handful_of_lines():
    client = make_host("server 127.0.0.1 key 1\ntrustedkey 1\n", "127.0.0.2")
    client.events()
    for i in range(15000):
        now = T0 + i * 0.01  # 150 s of flood
        client.receive_datagram(spoofed_nak(now), ("127.0.0.1", 123), "127.0.0.2", now)
        if i % 100 == 0:
            client.handle_timers(now)
    client.handle_timers(T0 + 400)
    events = client.events()
    lines = log_lines(events)
    assert client.counters["badauth"] == 15000
    bad = [line for line in lines if "bad_auth" in line]
    summaries = [line for line in bad if "suppressed" in line]
    assert len(bad) <= 4 * (BURST + 1)  # three windows of 60 s: a few lines and one summary each
    assert sum(int(line.split()[0]) for line in summaries) + len(bad) - len(summaries) == 15000
    protostats = [e for e in events if isinstance(e, PeerEvent) and e.name == "bad_auth"]  # report_event's
    assert len(protostats) <= 3 * BURST + BURST


def test_limiter_windows_and_kinds():
    limiter = LogLimiter(window=60, burst=2)
    assert [limiter.allow("a", T0 + i) for i in range(4)] == [True, True, False, False]
    assert limiter.allow("b", T0 + 1)  # another kind has its own allowance
    assert limiter.flush(T0 + 30) == []
    assert limiter.allow("a", T0 + 61)  # a new window: the owed summary comes out at the next flush
    out = limiter.flush(T0 + 62)
    assert out == ["2 more 'a' lines suppressed in 60 s (the counters count them all: ntpq -c \"rv 0\")"]
    assert limiter.suppressed_total == 2


def test_real_events_are_still_logged():
    client = make_host("server 127.0.0.1 iburst\n", "127.0.0.2")
    lines = log_lines(client.events())
    assert any("mobilize" in line for line in lines)
