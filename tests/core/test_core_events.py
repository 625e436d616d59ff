"""The engine's output as typed events (engine/events.py, aioquic's shape): bytes and a time in, datagrams and
events out, no sockets, no clock but a simulated one."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from core_sim import T0, SimNet, make_host

from ntpd_py.clock.discipline import SimulatedClock
from ntpd_py.daemon import main as daemon_main
from ntpd_py.engine.events import (ClockPanic, ClockStepped, DatagramToSend, Event, LogLine, PeerEvent,
                                   StatsRecord, SystemEvent)
from ntpd_py.engine.status import (EVNT_SYSRESTART, PEVNT_MOBIL, PEVNT_NEWPEER, PEVNT_REACH, PST_CONFIG,
                                   PST_REACH)
from ntpd_py.wire.packet import decode

SERVER = "server 127.127.1.0\nfudge 127.127.1.0 stratum 3\n"
CLIENT = "server 127.0.0.1 iburst minpoll 4 maxpoll 6\n"


def of(kind, events):
    return [e for e in events if isinstance(e, kind)]


def test_start_reports_mobilize_then_restart_as_ntpd_words_them():
    client = make_host(CLIENT, "127.0.0.2")
    events = client.events()
    assert [type(e) for e in events] == [PeerEvent, SystemEvent]
    mobilize, restart = events
    assert (mobilize.time, mobilize.address, mobilize.code, mobilize.name) == (T0, "127.0.0.1", PEVNT_MOBIL, "mobilize")
    assert mobilize.assid in client.associations
    assert mobilize.status == client.peer_status_word(client.associations[mobilize.assid])
    assert mobilize.status >> 8 == PST_CONFIG  # configured, nothing heard yet
    assert mobilize.text == f"127.0.0.1 {mobilize.status:04x} 81 mobilize"
    assert (restart.time, restart.code, restart.name) == (T0, EVNT_SYSRESTART, "restart")
    assert restart.text == f"0.0.0.0 {restart.status:04x} 06 restart"
    assert client.next_event() is None and client.events() == []  # drained


def test_next_event_hands_them_out_oldest_first_once():
    host = make_host("", "127.0.0.2")
    host.events()
    host.log("first")
    host.record("cryptostats", "0.0.0.0 second")
    assert host.next_event() == LogLine("first")
    assert host.next_event() == StatsRecord("cryptostats", T0, "0.0.0.0 second")
    assert host.next_event() is None


def test_events_are_values():
    with pytest.raises(dataclasses.FrozenInstanceError):
        LogLine("x").text = "y"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        DatagramToSend(b"x", ("127.0.0.1", 123)).data = b"y"  # type: ignore[misc]


def test_a_poll_and_its_answer_as_datagrams_and_events():
    """Driven by hand: the client's timer makes a request, the server's receive_datagram the reply, and the
    reply makes the association reachable (a peer event) and gives a sample (a peerstats record)."""
    server, client = make_host(SERVER, "127.0.0.1"), make_host(CLIENT, "127.0.0.2")
    for t in range(1, 40):  # the local clock makes the server a stratum-4 server
        server.handle_timers(T0 + t)
    server.events()
    client.events()
    t = client.next_timer()
    (request,) = client.handle_timers(t)
    assert isinstance(request, DatagramToSend)
    assert (request.dst, request.src, decode(request.data).mode) == (("127.0.0.1", 123), "127.0.0.2", 3)
    (reply,) = server.receive_datagram(request.data, ("127.0.0.2", 123), "127.0.0.1", t + 0.001)
    assert (reply.dst, reply.src, decode(reply.data).mode) == (("127.0.0.2", 123), "127.0.0.1", 4)
    assert server.events() == []  # a served client is no event
    assert client.receive_datagram(reply.data, ("127.0.0.1", 123), "127.0.0.2", t + 0.002) == []
    events = client.events()
    (reach,) = of(PeerEvent, events)
    assert (reach.code, reach.name, reach.time, reach.address) == (PEVNT_REACH, "reachable", t + 0.002, "127.0.0.1")
    assert reach.status >> 8 & PST_REACH
    (peerstats,) = [e for e in of(StatsRecord, events) if e.kind == "peerstats"]
    assert peerstats.time == t + 0.002 and peerstats.line.startswith("127.0.0.1 ")


def test_selection_reports_the_system_peer_and_loopstats():
    net = SimNet()
    net.add("127.0.0.1", make_host(SERVER, "127.0.0.1"))
    client = net.add("127.0.0.2", make_host(CLIENT, "127.0.0.2"))
    net.run(T0, 120)
    events = client.events()
    names = [e.name for e in of(PeerEvent, events)]
    assert names[:2] == ["mobilize", "reachable"] and names.count("sys_peer") == 1
    (sys_peer,) = [e for e in of(PeerEvent, events) if e.code == PEVNT_NEWPEER]
    assert sys_peer.address == "127.0.0.1" and sys_peer.assid == client.sys.peer
    assert [e for e in of(StatsRecord, events) if e.kind == "loopstats"]
    assert not of(ClockStepped, events) and not of(ClockPanic, events)  # discipline off: nothing stepped
    times = [e.time for e in events if not isinstance(e, LogLine)]
    assert times == sorted(times)  # in the order they happened


@pytest.mark.parametrize("clock_offset, kind", [(0.5, ClockStepped), (2000.0, ClockPanic)])
def test_discipline_steps_and_panics_are_events(clock_offset, kind):
    """With `enable ntp` on a simulated clock: an offset beyond 128 ms is stepped (once), one beyond 1000 s is
    left alone (ntpd panics); each is reported with the offset, in ntpd's words."""
    net = SimNet()
    net.add("127.0.0.1", make_host(SERVER, "127.0.0.1"))
    clock = SimulatedClock(offset=clock_offset)  # the client's clock reads true time - clock_offset
    client = make_host("enable ntp\n" + CLIENT, "127.0.0.2", now=T0 - clock_offset, clock=clock)
    net.add("127.0.0.2", client, clock=clock)
    net.run(T0, 60)
    reported = [e for e in client.events() if isinstance(e, (ClockStepped, ClockPanic))]
    assert reported and all(type(e) is kind for e in reported)
    if kind is ClockStepped:
        assert len(reported) == 1
    event = reported[0]
    assert event.offset == pytest.approx(clock_offset, abs=0.01)
    assert event.text == f"clock discipline: {'step' if kind is ClockStepped else 'panic'} for offset {event.offset:+.6f} s"
    assert clock.steps == (1 if kind is ClockStepped else 0)


SAMPLES: dict[type, Event] = {
    LogLine: LogLine("orphan mode: stratum 5"),
    StatsRecord: StatsRecord("loopstats", T0, "0.000123000 -12.345 0.000010000 0.250000 6"),
    PeerEvent: PeerEvent(T0, "127.0.0.1", 1234, PEVNT_REACH, 0x9014),
    SystemEvent: SystemEvent(T0, EVNT_SYSRESTART, 0xC016),
    ClockStepped: ClockStepped(T0, 0.5),
    ClockPanic: ClockPanic(T0, 2000.0),
}


def test_the_shell_gives_every_event_its_place(tmp_path, monkeypatch):
    """Daemon._drain_events, the one place the shell consumes events: every kind has a destination (a new kind
    without a sample here fails), lines go to the log, records and ntpd's events to their filegen files."""
    assert set(SAMPLES) == set(typing.get_args(Event))
    stats = tmp_path / "stats"
    stats.mkdir()
    conf = tmp_path / "ntp.conf"
    conf.write_text(f"interface listen 127.0.0.1\nstatsdir {stats}/\nstatistics loopstats protostats\n"
                    "filegen loopstats file loopstats type none enable\n"
                    "filegen protostats file protostats type none enable\n")
    daemon = daemon_main.Daemon(str(conf), logfile=str(tmp_path / "log"))
    daemon.host.events()
    monkeypatch.setattr(daemon.host, "events", lambda: list(SAMPLES.values()))
    daemon._drain_events()
    daemon.log.close()
    for writer in daemon.stats.values():
        writer.close()
    log = (tmp_path / "log").read_text()
    for kind in (LogLine, PeerEvent, SystemEvent, ClockStepped, ClockPanic):
        assert SAMPLES[kind].text in log
    assert "loopstats" not in log  # records are logged only with -D 2
    protostats = (stats / "protostats").read_text()
    assert SAMPLES[PeerEvent].text in protostats and SAMPLES[SystemEvent].text in protostats
    assert "clock discipline" not in protostats
    assert SAMPLES[StatsRecord].line in (stats / "loopstats").read_text()
