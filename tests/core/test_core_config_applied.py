"""ntp.conf applied as written: every association option reaches its association, `tos` reaches selection and the
orphan timer, and what ntpd-py does not do is logged and skipped, never half-applied.

The engine's `_apply_config` had 71 surviving mutants (tests/README.md): no test looked at the options one by one.
"""

from __future__ import annotations

from core_sim import T0, log_lines, make_host

from ntpd_py.protocol import MODE_ACTIVE, MODE_BROADCAST, MODE_CLIENT

CONF = """
server 192.0.2.1 version 3 minpoll 5 maxpoll 7 iburst prefer key 1
server 192.0.2.2 burst noselect minpoll 8 maxpoll 9 autokey ident grp
peer 192.0.2.3 key 2 minpoll 6
broadcast 192.0.2.255 key 1 minpoll 6
server 127.127.1.0 minpoll 4 maxpoll 5 noselect
fudge 127.127.1.0 stratum 7 refid TEST
server 127.127.8.0
pool pool.example
server ntp.example minpoll 6
server unknown.example
manycastserver 239.1.1.1
tos minsane 2 minclock 4 maxclock 8 maxdist 2.5 mindist 0.01 ceiling 12 orphan 9 orphanwait 30
"""

NAMES = {"ntp.example": "192.0.2.9"}


def host_from(conf: str = CONF):
    return make_host(conf, "192.0.2.100", resolve=NAMES.get)


def by_address(host) -> dict[str, object]:
    return {assoc.srcadr[0]: assoc for assoc in host.associations.values()}


def test_every_association_option_reaches_its_association() -> None:
    host = host_from()
    assocs = by_address(host)
    assert sorted(assocs) == ["127.127.1.0", "192.0.2.1", "192.0.2.2", "192.0.2.255", "192.0.2.3", "192.0.2.9"]

    first = assocs["192.0.2.1"]
    assert (first.hmode, first.srcadr[1], first.version, first.minpoll, first.maxpoll) == (MODE_CLIENT, 123, 3, 5, 7)
    assert (first.iburst, first.burst, first.prefer, first.noselect, first.keyid) == (True, False, True, False, 1)
    assert first.configured and not first.refclock and not first.autokey and first.ident is None

    second = assocs["192.0.2.2"]
    assert (second.version, second.minpoll, second.maxpoll, second.autokey, second.ident) == (4, 8, 9, True, "grp")
    assert (second.iburst, second.burst, second.prefer, second.noselect, second.keyid) == (False, True, False, True,
                                                                                          None)
    assert (assocs["192.0.2.3"].hmode, assocs["192.0.2.3"].keyid) == (MODE_ACTIVE, 2)
    assert (assocs["192.0.2.255"].hmode, assocs["192.0.2.255"].keyid) == (MODE_BROADCAST, 1)
    assert (assocs["192.0.2.9"].hmode, assocs["192.0.2.9"].minpoll) == (MODE_CLIENT, 6)  # by the resolved address

    local = assocs["127.127.1.0"]
    assert local.refclock and local.noselect and (local.minpoll, local.maxpoll) == (4, 5)
    assert local.srcadr == ("127.127.1.0", 0)
    assert (local.refclock_stratum, local.refclock_refid) == (7, b"TEST")  # its fudge line
    # the system poll starts at the lowest minpoll of the network associations (5), not the local clock's 4
    assert host.sys.poll == 5


def test_what_is_not_done_is_logged_and_skipped() -> None:
    lines = log_lines(host_from().events())
    expected = ["test.conf:8: reference clock 127.127.8.0: only the local clock 127.127.1.u is supported",
                "test.conf:9: pool pool.example: not supported by ntpd-py, ignored",
                "test.conf:11: cannot resolve 'unknown.example', association skipped",
                "manycastserver 239.1.1.1: manycast is not supported by ntpd-py, ignored"]
    for line in expected:
        assert line in lines, lines


def test_tos_reaches_selection_and_the_orphan_timer() -> None:
    host = host_from()
    options = host.select_options
    assert (options.minsane, options.minclock, options.maxclock) == (2, 4, 8)
    assert (options.maxdist, options.mindist, options.ceiling) == (2.5, 0.01, 12)
    assert host.orphan_stratum == 9 and host.orphan_at == T0 + 30


def test_without_tos_the_defaults_are_ntpds() -> None:
    host = make_host("server 192.0.2.1\n", "192.0.2.100")
    options = host.select_options
    assert (options.minsane, options.minclock, options.maxclock) == (1, 3, 10)
    assert (options.maxdist, options.mindist, options.ceiling) == (1.5, 0.001, 15)
    assert host.orphan_stratum == 16 and host.orphan_at == T0 + 300
    assert host.sys.poll == 6  # the association's default minpoll


def test_only_a_local_clock_sets_no_network_poll() -> None:
    host = make_host("server 127.127.1.0 minpoll 4\n", "192.0.2.100")
    assert host.sys.poll == 3  # NTP_MINPOLL: no network association to take it from, and not the clock's 4
