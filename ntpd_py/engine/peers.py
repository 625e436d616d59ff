"""Associations made and ended (ntpd's ntp_peer.c): ephemeral ones bounded, addresses, IDs.

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations

import ipaddress

from ..wire.packet import NtpPacket
from .association import Association, MODE_ACTIVE, MODE_BCLIENT, MODE_BROADCAST, MODE_PASSIVE
from .authenticator import Verdict
from .status import PEVNT_DEMOBIL, PEVNT_MOBIL
from .events import DatagramToSend
from .state import ASSOCIATION_MAX, Address, EPHEMERAL_MAX, IPPEERLIMIT_PREFIX, is_ip


class AssociationTable:
    """Mixed into `NtpHost`; no state of its own."""

    def _mobilize(self, srcadr: Address, hmode: int, **kwargs) -> Association:
        if len(self.associations) >= ASSOCIATION_MAX:
            raise RuntimeError("no free association ID")  # unreachable: ephemeral ones are capped far below
        self._next_assid = self._next_assid % ASSOCIATION_MAX + 1
        while self._next_assid in self.associations:  # ends: fewer than ASSOCIATION_MAX IDs are in use
            self._next_assid = self._next_assid % ASSOCIATION_MAX + 1
        dstadr = kwargs.pop("dstadr", None) or self._local_for(srcadr[0])
        assoc = Association(assid=self._next_assid, srcadr=srcadr, hmode=hmode, dstadr=dstadr, **kwargs)
        assoc.filter.precision = 2.0**self.sys.precision
        self.associations[assoc.assid] = assoc
        self._by_address[srcadr] = assoc
        assoc.start(self._now, self.rng)
        self._peer_event(assoc, PEVNT_MOBIL)
        return assoc

    def _ephemeral_refused(self, src: Address, flags: frozenset[str]) -> str | None:
        """Why a new ephemeral association from `src` may not be made (None: it may): ntpd's newpeer()
        limits per address (`ippeerlimit`); we also cap their number (EPHEMERAL_MAX)."""
        limit = next((int(f[len(IPPEERLIMIT_PREFIX):]) for f in flags if f.startswith(IPPEERLIMIT_PREFIX)), None)
        if limit is not None and sum(1 for a in self.associations.values() if a.srcadr[0] == src[0]) >= limit:
            return "ippeerlimit"
        if sum(1 for a in self.associations.values() if not a.configured) >= EPHEMERAL_MAX:
            return "ephemeral associations at their limit"
        return None

    def _demobilize(self, assoc: Association) -> None:
        self._peer_event(assoc, PEVNT_DEMOBIL)
        self.associations.pop(assoc.assid, None)
        if self._by_address.get(assoc.srcadr) is assoc:
            del self._by_address[assoc.srcadr]
            self._pacers.pop(assoc.srcadr, None)
        if self.sys.peer == assoc.assid:
            self.sys.peer = None

    def _local_for(self, remote: str) -> str | None:
        if not self.local_addresses:
            return None
        try:
            version = ipaddress.ip_address(remote).version
        except ValueError:
            return self.local_addresses[0]
        for local in self.local_addresses:
            if is_ip(local) and ipaddress.ip_address(local).version == version:
                return local
        return self.local_addresses[0]

    def _new_ephemeral(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None, flags: frozenset[str],
                       now: float, interface: str | None = None) -> list[DatagramToSend]:
        """ntpd's AM_NEWPASS / AM_NEWBCL: may this symmetric-active or broadcast packet make an association?

        Every cheap refusal comes before the MAC is computed, and nothing here signs: a stranger's packet
        costs a restrict lookup, a rate-limit entry and at most one digest. `nopeer`/`notrust` demand a MAC
        that authenticates its sender, which Autokey's cookie-0 MACs do not (`Authenticator.mobilizes`)."""
        counters = self.counters
        mode = pkt.mode
        strict = "nopeer" in flags or "notrust" in flags
        if strict and not self.authenticator.mobilizes(pkt, None):
            counters["restricted"] += 1
            return []
        if mode == MODE_ACTIVE and "noepeer" in flags:
            counters["declined"] += 1
            return []
        if "limited" in flags and self.restrict.rate_limited(src[0], now):
            counters["limited"] += 1
            return []
        if self._ephemeral_refused(src, flags) is not None:
            counters["declined"] += 1
            return []
        verdict = self.authenticator.check(pkt, data, src, dst, None, now)
        if verdict.verdict is Verdict.DECLINED:  # Autokey group rules
            counters["declined"] += 1
            return []
        if verdict.verdict in (Verdict.ERROR, Verdict.CRYPTO_NAK):
            counters["badauth"] += 1
            return []
        if strict and not self.authenticator.mobilizes(pkt, verdict):
            counters["restricted"] += 1
            return []
        if "auth" in self.config.enabled and not verdict.ok:
            counters["declined"] += 1
            return []
        hmode = MODE_PASSIVE if mode == MODE_ACTIVE else MODE_BCLIENT
        session = verdict.keyid is not None and verdict.keyid > 65535  # [autokey] session key IDs change per packet
        if mode == MODE_BROADCAST and (session or self.config.broadcastdelay is None):
            return self._start_broadcast_volley(pkt, data, src, dst, verdict, session, now, interface)
        assoc = self._mobilize(src, hmode, configured=False, version=pkt.version,
                               keyid=None if session else verdict.keyid, autokey=session,
                               dstadr=interface or dst, minpoll=6, maxpoll=10)
        verdict = self.authenticator.check(pkt, data, src, dst, assoc, now)
        out = self._process(assoc, pkt, verdict, now)
        self._follow_authenticator(assoc, now)
        return out
