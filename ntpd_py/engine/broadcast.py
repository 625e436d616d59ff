"""Broadcast client volleys: measured delay, then listen only (RFC 5905 §8, ntpd's MODE_BCLIENT).

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations


from ..wire.packet import NtpPacket
from .association import Association, MODE_BCLIENT, MODE_CLIENT
from .authenticator import AuthResult
from .events import DatagramToSend
from .state import Address, BROADCAST_DELAY_LIMIT, NTP_MINPOLL


class BroadcastClient:
    """Mixed into `NtpHost`; no state of its own."""

    def _start_broadcast_volley(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None,
                                verdict: AuthResult, session: bool, now: float,
                                interface: str | None = None) -> list[DatagramToSend]:
        """As ntpd's AM_NEWBCL without `broadcastdelay`: a new broadcaster gets a client/server volley first
        (iburst, at the broadcaster's poll), which measures the delay and runs Autokey; the association
        listens to broadcasts only when it is done (`_end_broadcast_volley`)."""
        poll = max(NTP_MINPOLL, min(10, pkt.poll))
        ident = self.config.crypto.ident if session else None  # sys_ident
        assoc = self._mobilize(src, MODE_CLIENT, configured=False, version=pkt.version,
                               keyid=None if session else verdict.keyid, autokey=session, ident=ident,
                               dstadr=interface or dst, minpoll=poll, maxpoll=poll, iburst=True)
        assoc.bcast_volley = True
        if session:  # [autokey] the broadcast names the broadcaster's association (ntpd: crypto_recv here)
            result = self.authenticator.check(pkt, data, src, dst, assoc, now)
            if not result.ok:
                self._demobilize(assoc)
                self.counters["badauth"] += 1
        return []

    def _end_broadcast_volley(self, assoc: Association, now: float) -> None:
        """The volley gave a sample (and, with Autokey, every flag): listen to the broadcasts from now on."""
        if assoc.autokey and not self.authenticator.broadcast_ready(assoc):
            return
        assoc.hmode = MODE_BCLIENT
        assoc.iburst = assoc.burst = False
        assoc.burst_left = 0
        assoc.next_poll = now + assoc.poll_interval()
        self.log(f"{assoc.srcadr[0]}: broadcast client volley done, listening")

    def _broadcast_sample(self, assoc: Association, offset: float) -> float:
        """The delay for a broadcast sample: measured from the volley at the first broadcast after it
        (ntpd: twice the difference of the client-mode and broadcast offsets), else `broadcastdelay`."""
        if assoc.bcast_volley:
            assoc.bcast_volley = False
            if assoc.updated:
                measured = abs(assoc.offset - offset) * 2
                limit = self.config.broadcastdelay or BROADCAST_DELAY_LIMIT
                if measured <= limit:
                    assoc.bcast_delay = max(measured, 2.0**self.sys.precision)
                    self.log(f"{assoc.srcadr[0]}: broadcast delay calibrated: {assoc.bcast_delay:.6f} s")
                else:
                    self.log(f"{assoc.srcadr[0]}: broadcast delay {measured:.6f} s exceeds {limit:.3f} s, "
                             f"using broadcastdelay {self.broadcast_delay:.6f} s")
        return assoc.bcast_delay if assoc.bcast_delay is not None else self.broadcast_delay
