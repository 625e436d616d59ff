"""The local clock driver (127.127.1.u) and what `ntpq -c cv` reads of it, in simulated time: which clock
association 0 means, the fudge values, `noselect`. tests/control/test_clockvar.py compares the same answers with
the reference ntpd's over the classic ntpq."""

from __future__ import annotations

from core_sim import T0, SimNet, make_host

from ntpd_py.control.view import HostControlView

FUDGED = "fudge 127.127.1.0 stratum 10 time1 0.25 time2 -0.5 refid ABCD flag1 1 flag4 1\n"


def _clock(host, address: str):
    return next(a for a in host.associations.values() if a.srcadr[0] == address)


def test_association_zero_is_the_system_peer_when_it_is_a_clock() -> None:
    net = SimNet()
    host = net.add("127.0.0.1", make_host("server 127.127.1.0\nserver 127.127.1.3\n" + FUDGED, "127.0.0.1"))
    view = HostControlView(host)
    first, last = _clock(host, "127.127.1.0"), _clock(host, "127.127.1.3")
    status, before = view.clock_variables(0)
    assert status == 0 and dict(before)["stratum"] == "5" and dict(before)["poll"] == "0"  # the last configured
    net.run(T0, 10)
    assert host.sys.peer in (first.assid, last.assid)  # whichever clock answered first is kept
    assert view.clock_variables(0) == view.clock_variables(host.sys.peer)
    for clock, refid in ((first, "ABCD"), (last, "LOCL")):
        host.sys.peer = clock.assid
        assert dict(view.clock_variables(0)[1])["refid"] == refid


def test_clock_variables_default_and_by_name() -> None:
    net = SimNet()
    host = net.add("127.0.0.1", make_host("server 127.127.1.0 minpoll 4\n" + FUDGED, "127.0.0.1"))
    net.run(T0, 40)
    view = HostControlView(host)
    assid = _clock(host, "127.127.1.0").assid
    status, items = view.clock_variables(assid)
    assert items == [("device", '"Undisciplined local clock"'), ("timecode", '""'), ("poll", "3"),
                     ("noreply", "0"), ("badformat", "0"), ("baddata", "0"), ("fudgetime1", "250.000"),
                     ("fudgetime2", "-500.000"), ("stratum", "10"), ("refid", "ABCD"), ("flags", "9")]
    named = [name for name, _ in view.clock_variables(assid, named=True)[1]]
    assert named[:3] == ["type", "timecode", "poll"] and named[-2:] == ["device", "clock_var_list"]


def test_zero_fudge_times_are_left_out_by_default_only() -> None:
    host = make_host("server 127.127.1.2\n", "127.0.0.1")
    view = HostControlView(host)
    default = dict(view.clock_variables(0)[1])
    assert "fudgetime1" not in default and "fudgetime2" not in default and default["flags"] == "0"
    named = dict(view.clock_variables(0, named=True)[1])
    assert named["fudgetime1"] == named["fudgetime2"] == "0.000" and named["type"] == "1"


def test_no_clock_variables_without_a_clock() -> None:
    net = SimNet()
    net.add("127.0.0.1", make_host("server 127.127.1.0\n", "127.0.0.1"))
    client = net.add("127.0.0.2", make_host("server 127.0.0.1 iburst\n", "127.0.0.2"))
    net.run(T0, 20)
    view = HostControlView(client)
    (assid, _), = view.associations()
    assert client.sys.peer == assid
    assert view.clock_variables(0) is None and view.clock_variables(assid) is None
    assert view.clock_variables(assid + 1) is None


def test_noselect_clock_is_never_the_system_peer() -> None:
    net = SimNet()
    host = net.add("127.0.0.1", make_host("server 127.127.1.0 noselect\n", "127.0.0.1"))
    net.run(T0, 30)
    clock = _clock(host, "127.127.1.0")
    assert clock.reach and host.sys.peer is None
    assert view_poll(host, clock.assid) >= 1


def view_poll(host, assid: int) -> int:
    return int(dict(HostControlView(host).clock_variables(assid)[1])["poll"])


def test_local_clock_polls_every_minpoll_and_shifts_its_reach_register() -> None:
    """As the reference's local driver (its ntpq showed reach 1, 3, 7, 17, 37 at 16-s polls): one poll every
    2^minpoll s, each shifting a 1 into the reach register; the first fills the clock filter with zero-offset,
    zero-delay samples of the host's precision, so that an isolated root is synchronised at once."""
    net = SimNet()
    host = net.add("127.0.0.1", make_host("server 127.127.1.0 minpoll 4\n", "127.0.0.1"))
    clock = _clock(host, "127.127.1.0")
    polls: list[tuple[float, int]] = []  # (when, reach) at each poll: each shifts a sample into the filter
    t, last_sample = T0, clock.filter.updated
    while len(polls) < 5 and t < T0 + 120:
        net.run(t, 0.25)
        t += 0.25
        if clock.filter.updated != last_sample:
            last_sample = clock.filter.updated
            polls.append((t, clock.reach))
            if len(polls) == 1:
                f = clock.filter
                assert f.offsets == [0.0] * 8 and f.delays == [0.0] * 8, (f.offsets, f.delays)
                assert f.dispersions == [2.0**host.sys.precision] * 8, f.dispersions
    assert [reach for _, reach in polls] == [0o1, 0o3, 0o7, 0o17, 0o37]
    gaps = [b - a for (a, _), (b, _) in zip(polls, polls[1:])]
    assert all(abs(gap - 16) <= 0.5 for gap in gaps), gaps
    assert host.sys.peer == clock.assid and clock.delay == 0.0
