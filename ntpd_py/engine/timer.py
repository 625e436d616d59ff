"""Polls and transmissions (ntpd's ntp_timer.c and peer_xmit), paced for the servers' limiters.

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations


from ..ntptime import to_ntp64
from ..wire.packet import NtpPacket, encode_header
from .association import (MODE_ACTIVE, MODE_BCLIENT, MODE_BROADCAST, MODE_PASSIVE, NTP_IBURST, NTP_UNREACH,
                          Association)
from .status import PEVNT_UNREACH
from .pacing import ServerPacer
from .events import DatagramToSend
from .state import LEAP_NOTINSYNC, PACED_MODES, STRATUM_UNSPEC


class Timers:
    """Mixed into `NtpHost`; no state of its own."""

    def next_timer(self) -> float:
        """The earliest time `handle_timers` has something to do."""
        times = [a.next_poll for a in self.associations.values()]
        if self.orphan_stratum < STRATUM_UNSPEC and not self.sys.orphan and self.sys.peer is None:
            times.append(self.orphan_at)
        return min(times, default=self._now + 60.0)

    def handle_timers(self, now: float) -> list[DatagramToSend]:
        """Poll every association that is due; returns the packets to send."""
        self._now = now
        out: list[DatagramToSend] = []
        for assoc in list(self.associations.values()):
            if assoc.next_poll > now:
                continue
            if assoc.refclock:
                self._poll_local_clock(assoc, now)
                continue
            if assoc.hmode == MODE_BCLIENT:
                # a broadcast client that stopped hearing its broadcaster, or never heard a good broadcast in
                # NTP_UNREACH intervals, is demobilized (ntpd: the timeout of an ephemeral association)
                was = assoc.reach
                assoc.reach = (assoc.reach << 1) & 0xFF
                assoc.unreach += 1
                assoc.next_poll = now + assoc.poll_interval()
                if was and not assoc.reach:
                    self._peer_event(assoc, PEVNT_UNREACH)
                    self._demobilize(assoc)
                elif not assoc.reach and assoc.unreach >= NTP_UNREACH:
                    self._demobilize(assoc)
                continue
            if assoc.hmode in PACED_MODES:
                wait = self._pacer(assoc).delay(now)
                if wait > 0:  # the server's limiter would not take it yet: poll when it will (pacing.py)
                    assoc.next_poll = now + wait
                    continue
            was_reachable = assoc.reach != 0
            if assoc.on_poll(now, self.sys.poll):
                self._demobilize(assoc)
                continue
            if was_reachable and not assoc.reach:
                self._peer_event(assoc, PEVNT_UNREACH)
                self._clock_select(now)
            if assoc.bcast_volley and not assoc.autokey and not assoc.reach and assoc.sent >= NTP_IBURST:
                # no answer to the volley: listen anyway, with `broadcastdelay` (Autokey cannot: it retries)
                assoc.hmode = MODE_BCLIENT
                assoc.burst_left = 0
                assoc.next_poll = now + assoc.poll_interval()
                self.log(f"{assoc.srcadr[0]}: broadcast client volley unanswered, listening")
                continue
            packet = self._transmit(assoc, now)
            if packet is not None:
                out.append(packet)
        if self.sys.peer is None:
            self._check_orphan(now)
        for line in self.log_limiter.flush(now):
            self.log(line)
        return out

    def _pacer(self, assoc: Association) -> ServerPacer:
        pacer = self._pacers.get(assoc.srcadr)
        if pacer is None:
            pacer = self._pacers[assoc.srcadr] = ServerPacer()
        return pacer

    def _transmit(self, assoc: Association, now: float) -> DatagramToSend | None:
        s = self.sys
        if assoc.hmode == MODE_BROADCAST and s.leap == LEAP_NOTINSYNC:
            return None
        xmt = (to_ntp64(now) & ~0xFF) | self.rng.getrandbits(8)
        if assoc.hmode in (MODE_ACTIVE, MODE_PASSIVE):
            org, rec = assoc.rec, assoc.dst
        else:
            org = rec = 0
        pkt = NtpPacket(leap=s.leap, version=assoc.version, mode=assoc.hmode,
                        stratum=0 if s.stratum >= STRATUM_UNSPEC else s.stratum, poll=assoc.hpoll,
                        precision=s.precision, root_delay=int(round(s.root_delay * 65536)) & 0xFFFFFFFF,
                        root_dispersion=int(round(s.root_dispersion * 65536)) & 0xFFFFFFFF, refid=s.refid,
                        reftime=s.reftime, org=org, rec=rec, xmt=xmt)
        header = encode_header(pkt)
        tail = self.authenticator.request_tail(assoc, header, now)
        self._follow_authenticator(assoc, now)  # [autokey] the next step may be due before the next poll
        if assoc.hmode in PACED_MODES:
            self._pacer(assoc).sent(now)
        assoc.aorg = xmt
        assoc.sent_stamps.append(xmt)
        assoc.last_sent = now
        del assoc.sent_stamps[:-4]
        assoc.sent += 1
        self.counters["sent"] += 1
        return DatagramToSend(header + tail, assoc.srcadr, assoc.dstadr)
