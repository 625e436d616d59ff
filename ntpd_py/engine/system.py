"""Samples to system variables (ntpd's clock_filter, clock_select, clock_update, orphan mode).

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations


from ..clock.filter import PHI
from ..clock.select import Candidate, SEL_SYSPEER, Selection, select
from ..ntptime import to_ntp64
from ..protocol import LEAP_NOTINSYNC, LEAP_NOWARNING, MINDISPERSE, NTP_MINPOLL, STRATUM_UNSPEC
from ..wire.packet import refid_from_ipv4
from .association import Association, MODE_BROADCAST
from .status import EVNT_NOPEER, PEVNT_NEWPEER, SST_LOCAL, SST_NTP, SST_UNSPEC
from .state import LOOPBACK_REFID, is_ip


class ClockSelection:
    """Mixed into `NtpHost`; no state of its own."""

    def _sample(self, assoc: Association, offset: float, delay: float, disp: float, now: float) -> None:
        result = assoc.filter.add(offset, delay, disp, now)
        assoc.updated = now
        self.record("peerstats", f"{assoc.srcadr[0]} {self.peer_status_word(assoc):x} "
                    f"{assoc.offset:.9f} {assoc.delay:.9f} {assoc.dispersion:.9f} {assoc.jitter:.9f}")
        # ntpd selects only on a fresh best sample; we select on every sample (cheap, and it does not
        # leave a peer unselected when its best sample is an old one) but feed the discipline only fresh ones
        self._clock_select(now, fresh=result.fresh)

    def _candidates(self) -> list[Candidate]:
        out = []
        for a in self.associations.values():
            if a.hmode == MODE_BROADCAST:
                continue
            if a.autokey and not self.authenticator.proven(a):
                continue  # never a candidate before its identity is proven (ntpd: TEST8 discards its packets)
            out.append(Candidate(key=a.assid, offset=a.offset, delay=a.delay, dispersion=a.dispersion,
                                 jitter=a.jitter, root_delay=a.root_delay, root_dispersion=a.root_dispersion,
                                 stratum=a.stratum, reach=a.reach, leap=a.leap, updated=a.updated, poll=a.hpoll,
                                 prefer=a.prefer, noselect=a.noselect, local_clock=a.refclock,
                                 loop=a.stratum > 1 and a.refid in self._own_refids()))
        return out

    def _own_refids(self) -> set[bytes]:
        return {refid_from_ipv4(a) for a in self.local_addresses if is_ip(a)}

    def _clock_select(self, now: float, fresh: bool = False) -> None:
        candidates = self._candidates()
        orphan = self.orphan_stratum
        parents: list[Candidate] = []
        if orphan < STRATUM_UNSPEC:
            # as ntpd's clock_select: sources above the orphan stratum may descend from the orphan parent and
            # sit out; sources at the orphan stratum are orphan parents, elected by lowest address metric
            parents = [c for c in candidates if c.stratum == orphan and c.reach and c.leap != LEAP_NOTINSYNC]
            candidates = [c for c in candidates if c.stratum < orphan or self.associations[c.key].refclock]
        selection = select(candidates, now, self.select_options, self.sys.peer)
        if selection.sys_peer is None and parents:
            parent = min(parents, key=lambda c: self._orphan_metric(self.associations[c.key].srcadr[0]))
            own = min((self._orphan_metric(a) for a in self.local_addresses), default=0)
            if self._orphan_metric(self.associations[parent.key].srcadr[0]) < own:
                selection.status[parent.key] = SEL_SYSPEER
                selection = Selection(selection.status, parent.key, parent.offset, parent.jitter, (parent.key,))
        for assoc in self.associations.values():
            assoc.selection = selection.status.get(assoc.assid, 0)
        if selection.sys_peer is None:
            if self.sys.peer is not None:
                self.sys.peer = None
                self._sys_event(EVNT_NOPEER)
            self._check_orphan(now)
            return
        peer = self.associations[selection.sys_peer]
        changed = peer.assid != self.sys.peer
        if changed:
            self.sys.peer = peer.assid
            self._peer_event(peer, PEVNT_NEWPEER)
        self._clock_update(peer, selection.offset, selection.jitter, now, fresh or changed)

    def _clock_update(self, peer: Association, offset: float, jitter: float, now: float, fresh: bool) -> None:
        s = self.sys
        s.orphan = False
        s.leap = peer.leap
        self.authenticator.synchronized(s.leap != LEAP_NOTINSYNC, now)
        s.stratum = min(peer.stratum + 1, STRATUM_UNSPEC)
        s.source = SST_LOCAL if peer.refclock else SST_NTP
        # as ntpd's clock_update(): a primary server shows its clock's refid, others their peer's address
        s.refid = peer.refclock_refid if s.stratum == 1 and peer.refclock else (
            peer.refid if s.stratum == 1 else refid_from_ipv4(peer.srcadr[0]))
        s.reftime = to_ntp64(peer.updated)
        s.root_delay = peer.root_delay + peer.delay
        s.root_dispersion = max(MINDISPERSE, peer.root_dispersion + peer.dispersion + jitter
                                + PHI * (now - peer.updated) + abs(offset))
        s.offset, s.jitter = offset, jitter
        if not fresh:
            self._rebuild_template()
            return
        self._adjust_poll(offset, jitter)
        if self.discipline_enabled:
            self._clock_action(self.discipline.update(offset, now, s.poll, sample_time=peer.filter.used_epoch), offset)
        # loopstats as ntpd's record_loop_stats: offset, frequency (PPM), jitter, wander (PPM), poll exponent
        self.record("loopstats", f"{offset:.9f} {self.discipline.frequency * 1e6:.3f} "
                                 f"{jitter:.9f} {self.discipline.wander * 1e6:.6f} {s.poll}")
        self._rebuild_template()

    def _adjust_poll(self, offset: float, jitter: float) -> None:
        """RFC 5905's poll adjustment: lengthen while offsets stay within 4 jitters, shorten otherwise."""
        s = self.sys
        limit = max((a.maxpoll for a in self.associations.values() if not a.refclock), default=NTP_MINPOLL)
        if abs(offset) < 4 * max(jitter, 2.0**s.precision):
            s.poll_counter += s.poll
            if s.poll_counter > 30:
                s.poll_counter = 0
                s.poll = min(s.poll + 1, max(limit, NTP_MINPOLL))
        else:
            s.poll_counter -= 2 * s.poll
            if s.poll_counter < -30:
                s.poll_counter = 0
                s.poll = max(s.poll - 1, NTP_MINPOLL)

    @staticmethod
    def _orphan_metric(address: str) -> int:
        """ntpd's orphan parent metric: the IPv4 address as a number (IPv6: its refid hash)."""
        return int.from_bytes(refid_from_ipv4(address), "big")

    def _check_orphan(self, now: float) -> None:
        """`tos orphan N`: with no system peer after orphanwait, become stratum N (refid 127.0.0.1)."""
        if self.orphan_stratum >= STRATUM_UNSPEC or self.sys.peer is not None or now < self.orphan_at:
            return
        s = self.sys
        if s.orphan:
            return
        s.orphan = True
        s.leap, s.stratum, s.refid, s.source = LEAP_NOWARNING, self.orphan_stratum, LOOPBACK_REFID, SST_UNSPEC
        self.authenticator.synchronized(True, now)
        s.root_delay = s.root_dispersion = 0.0
        s.offset = s.jitter = 0.0
        self.log(f"orphan mode: stratum {s.stratum}")
        self._rebuild_template()
