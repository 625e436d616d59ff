"""The daemon's one timer is re-armed from the engine's next_timer(), not a 1-s tick (issue 13)."""

from __future__ import annotations

import asyncio
import socket
import time

from conftest import free_loopback

from ntpd_py.daemon import main as daemon_main


def _run(tmp_path, body: str, seconds: float, during=None) -> daemon_main.Daemon:
    conf = tmp_path / "ntp.conf"
    conf.write_text(body)
    daemon = daemon_main.Daemon(str(conf), logfile=str(tmp_path / "log"))
    handle_timers, daemon.runs = daemon.host.handle_timers, []

    def counted(now: float):
        daemon.runs.append(now)
        return handle_timers(now)

    daemon.host.handle_timers = counted

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(daemon.run())
        while daemon._stop is None or not daemon.endpoints:
            await asyncio.sleep(0.01)
        if during is not None:
            await loop.run_in_executor(None, during)
        await asyncio.sleep(seconds)
        daemon._stop.set()
        await task

    asyncio.run(main())
    return daemon


def test_an_idle_daemon_does_not_wake_every_second(tmp_path):
    addr = free_loopback()
    daemon = _run(tmp_path, f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {addr}\n", 3.5)
    assert len(daemon.runs) <= 1, daemon.runs  # the 1-s tick made 4


def test_due_polls_still_run_and_requests_are_answered(tmp_path):
    """A server association's iburst volley (2 s apart) fires on time; a client request is answered at once.
    7 s leave a loaded machine 3 s for the third packet, due at 4 s (the idle test above catches a 1-s tick)."""
    addr, silent = free_loopback(), free_loopback()
    reply = []

    def ask() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(b"\x23" + bytes(47), (addr, 123))
            reply.append(s.recvfrom(100)[0])

    start = time.monotonic()
    daemon = _run(tmp_path, f"interface ignore ipv4\ninterface ignore ipv6\ninterface listen {addr}\nserver {silent} iburst\n", 7.0, ask)
    assert reply and len(reply[0]) == 48 and reply[0][0] & 7 == 4
    assert 3 <= daemon.host.associations[next(iter(daemon.host.associations))].sent <= 5, time.monotonic() - start
    assert len(daemon.runs) <= 8, daemon.runs  # a 1-s tick would make 7 on its own, plus one per packet
