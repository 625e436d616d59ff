"""A packet for an association (ntpd's receive/process_packet): peer tests, proof of identity, kisses.

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations


from ..clock.filter import PHI
from ..ntptime import to_ntp64
from ..wire.packet import NtpPacket, ntp_diff
from .association import (BURST_INTERVAL, MODE_ACTIVE, MODE_BCLIENT, MODE_BROADCAST, MODE_CLIENT, MODE_PASSIVE,
                          MODE_SERVER, NTP_IBURST, TEST_AUTH, TEST_AUTOKEY, TEST_BOGUS, TEST_DUPLICATE, TEST_INVALID,
                          TEST_UNSYNC, Association)
from .authenticator import AuthResult, Verdict
from .status import PEVNT_AUTH, PEVNT_DENY, PEVNT_RATE, PEVNT_REACH
from .events import DatagramToSend
from .state import Address, LEAP_NOTINSYNC, STRATUM_UNSPEC


class PacketProcessing:
    """Mixed into `NtpHost`; no state of its own."""

    def _peer_packet(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None, flags: frozenset[str],
                     now: float, interface: str | None = None) -> list[DatagramToSend]:
        assoc = self._by_address.get(src)
        mode = pkt.mode
        if assoc is None and mode == MODE_SERVER:  # a server answering from another port
            assoc = next((a for a in self.associations.values()
                          if a.srcadr[0] == src[0] and a.hmode == MODE_CLIENT), None)
        if assoc is not None:
            expected = {MODE_CLIENT: (MODE_SERVER,), MODE_ACTIVE: (MODE_ACTIVE, MODE_PASSIVE),
                        MODE_PASSIVE: (MODE_ACTIVE,), MODE_BCLIENT: (MODE_BROADCAST,), MODE_BROADCAST: ()}
            if mode not in expected.get(assoc.hmode, ()):
                self.counters["declined"] += 1
                return []
        elif mode == MODE_ACTIVE or (mode == MODE_BROADCAST and self.broadcast_client):
            return self._new_ephemeral(pkt, data, src, dst, flags, now, interface)
        else:
            self.counters["noassoc"] += 1
            return []
        verdict = self.authenticator.check(pkt, data, src, dst, assoc, now)
        out = self._process(assoc, pkt, verdict, now)
        self._follow_authenticator(assoc, now)
        return out

    def _follow_authenticator(self, assoc: Association, now: float) -> None:
        """The authenticator may want this association's next packet sooner than its poll (an Autokey step)."""
        due = self.authenticator.next_step(assoc, now)  # asked even when gone: the answer is handed over once
        if due is not None and assoc.assid in self.associations:
            assoc.next_poll = min(assoc.next_poll, due)

    def _process(self, assoc: Association, pkt: NtpPacket, verdict: AuthResult, now: float) -> list[DatagramToSend]:
        if verdict.verdict is Verdict.DECLINED:
            self.counters["declined"] += 1
            return []
        if verdict.verdict is Verdict.CRYPTO_NAK:
            assoc.flash |= TEST_AUTH
            assoc.bad_auth += 1
            self.counters["badauth"] += 1
            self._peer_event(assoc, PEVNT_AUTH)
            return []
        wrong_key = assoc.keyid is not None and not (verdict.ok and verdict.keyid == assoc.keyid)
        if verdict.verdict is Verdict.ERROR or wrong_key or (assoc.autokey and not verdict.ok):
            assoc.flash |= TEST_AUTH
            assoc.bad_auth += 1
            if assoc.hmode != MODE_BCLIENT:  # a spoofed broadcast must not change a listening client's state
                assoc.authentic = False
            self.counters["badauth"] += 1
            self._peer_event(assoc, PEVNT_AUTH)
            return []
        t4 = to_ntp64(now)
        if pkt.xmt == 0:
            assoc.flash |= TEST_INVALID
            self.counters["bogus"] += 1
            return []
        if pkt.xmt == assoc.rec or (assoc.hmode == MODE_BCLIENT and assoc.rec and ntp_diff(pkt.xmt, assoc.rec) < 0):
            assoc.flash |= TEST_DUPLICATE  # broadcast: an older transmit time is a replay too
            assoc.duplicates += 1
            self.counters["duplicate"] += 1
            return []
        symmetric = assoc.hmode in (MODE_ACTIVE, MODE_PASSIVE)
        if assoc.hmode == MODE_CLIENT and (assoc.aorg == 0 or pkt.org != assoc.aorg):
            assoc.flash |= TEST_BOGUS
            assoc.bogus += 1
            self.counters["bogus"] += 1
            return []
        # symmetric packets cross in flight when both sides poll at once: accept an origin that is any of
        # our last few transmit timestamps (t1 is then that packet's send time: the arithmetic still holds)
        if symmetric and pkt.org != 0 and pkt.org not in assoc.sent_stamps:
            assoc.flash |= TEST_BOGUS
            assoc.bogus += 1
            self.counters["bogus"] += 1
            assoc.rec, assoc.dst = pkt.xmt, t4  # resynchronise, as ntpd does in basic symmetric mode
            return []
        assoc.authentic = verdict.ok
        assoc.flash = 0
        assoc.rec, assoc.dst = pkt.xmt, t4
        if assoc.hmode == MODE_CLIENT:
            assoc.aorg = 0  # one answer per request
        assoc.received += 1
        assoc.last_received = now
        if assoc.autokey and not self.authenticator.proven(assoc):
            return self._not_proven(assoc, pkt, now)
        assoc.unreach = 0
        self._use_packet(assoc, pkt, t4, now)
        if assoc.bcast_volley and assoc.hmode == MODE_CLIENT and assoc.updated == now:
            self._end_broadcast_volley(assoc, now)
        if assoc.assid in self.associations:
            return self._passive_answer(assoc, now)
        return []

    def _not_proven(self, assoc: Association, pkt: NtpPacket, now: float) -> list[DatagramToSend]:
        """ntpd's TEST8 (\"not proventic\"): the packet's MAC verifies, but this Autokey association has not
        proven its server's identity (no PROV), so nothing in it reaches the clock: no sample, no reach bit,
        no header values. The exchange goes on (the authenticator consumed its extension fields).
        A configured association stays alive (ntpd resets unreach on a good crypto exchange); an ephemeral
        one does not, so a stranger who cannot finish the exchange is demobilized after NTP_UNREACH polls."""
        assoc.flash |= TEST_AUTOKEY
        assoc.unproven += 1
        self.counters["notproven"] += 1
        if assoc.configured:
            assoc.unreach = 0
        if pkt.stratum == 0 and pkt.leap == LEAP_NOTINSYNC:
            self._kiss(assoc, pkt.refid, pkt.poll)  # a RATE kiss paces the exchange too (ntpd: before TEST8)
        if assoc.assid in self.associations:
            return self._passive_answer(assoc, now)
        return []

    def _use_packet(self, assoc: Association, pkt: NtpPacket, t4: int, now: float) -> None:
        """Packet tests 6-7, the reach register, and a sample for the clock filter."""
        stratum = pkt.stratum or STRATUM_UNSPEC
        if pkt.stratum == 0 and pkt.leap == LEAP_NOTINSYNC:
            self._kiss(assoc, pkt.refid, pkt.poll)
            return
        assoc.leap, assoc.pmode, assoc.stratum, assoc.ppoll = pkt.leap, pkt.mode, stratum, pkt.poll
        assoc.precision, assoc.refid, assoc.reftime = pkt.precision, pkt.refid, pkt.reftime
        assoc.root_delay, assoc.root_dispersion = pkt.root_delay_s, pkt.root_dispersion_s
        if pkt.leap == LEAP_NOTINSYNC or stratum >= STRATUM_UNSPEC:
            assoc.flash |= TEST_UNSYNC
            return
        self.counters["processed"] += 1
        if not assoc.reach:
            assoc.reach |= 1
            self._peer_event(assoc, PEVNT_REACH)
            if assoc.iburst and assoc.hmode in (MODE_CLIENT, MODE_ACTIVE):
                # as ntpd, the iburst volley counts from the first good reply: a handshake that made the
                # first packets useless for time (Autokey) still gets its six samples
                assoc.burst_left = max(assoc.burst_left, NTP_IBURST - 1)
                assoc.next_poll = min(assoc.next_poll, now + BURST_INTERVAL)
        assoc.reach |= 1
        precision = 2.0**self.sys.precision
        if assoc.hmode == MODE_BCLIENT:
            delay = self._broadcast_sample(assoc, ntp_diff(pkt.xmt, t4))
            offset = ntp_diff(pkt.xmt, t4) + delay / 2
            disp = 2.0**pkt.precision + precision
        else:
            if pkt.org == 0 or pkt.rec == 0:
                return  # first symmetric packet: timestamps exchanged, no sample yet
            t1, t2, t3 = pkt.org, pkt.rec, pkt.xmt
            offset = (ntp_diff(t2, t1) + ntp_diff(t3, t4)) / 2
            delay = max(ntp_diff(t4, t1) - ntp_diff(t3, t2), precision)
            disp = 2.0**pkt.precision + precision + PHI * max(0.0, ntp_diff(t4, t1))
        self._sample(assoc, offset, delay, disp, now)

    def _passive_answer(self, assoc: Association, now: float) -> list[DatagramToSend]:
        """A passive association answers an active peer at once (at most once a second), so the active side's
        iburst gets its samples instead of waiting for our poll timer."""
        if assoc.hmode != MODE_PASSIVE or now - assoc.last_sent < 1.0:
            return []
        packet = self._transmit(assoc, now)
        return [packet] if packet is not None else []

    def _kiss(self, assoc: Association, refid: bytes, poll: int) -> None:
        code = refid.rstrip(b"\0").decode("ascii", "replace")
        if code == "RATE":
            self._pacer(assoc).kissed(poll, assoc.hpoll)
            assoc.hpoll = max(assoc.hpoll, min(assoc.maxpoll, max(poll, assoc.minpoll) + 1))
            self._peer_event(assoc, PEVNT_RATE)
        elif code in ("DENY", "RSTR"):
            self._peer_event(assoc, PEVNT_DENY)
            if not assoc.configured:
                self._demobilize(assoc)
            else:
                assoc.hpoll = assoc.maxpoll
        else:
            return  # INIT, STEP...: an unsynchronised server, not an order
        if self._log_allowed(f"kiss code {code}"):
            self.log(f"{assoc.srcadr[0]}: kiss code {code}")
