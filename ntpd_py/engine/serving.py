"""Client requests answered (ntpd's fast_xmit), with restrict and the rate limiter (ntp_monitor).

A part of `NtpHost` (engine/host.py), which owns the state these methods read.
"""

from __future__ import annotations

import struct

from ..ntptime import FRAC, NTP_UNIX_OFFSET, STAMP_MASK
from ..wire.packet import HEADER_LEN, NtpPacket
from .association import MODE_SERVER
from .authenticator import Verdict
from .restrict import Limit
from .events import DatagramToSend
from .state import Address, LEAP_NOTINSYNC, NOT_QUICK, REPLY_HEADER, REPLY_MID, STRATUM_UNSPEC


class ServerReplies:
    """Mixed into `NtpHost`; no state of its own."""

    def quick_reply(self, data: bytes, src: Address, now: float) -> bytes | None:
        """The hot path for the shell: a plain 48-byte NTPv4 client request from an unrestricted source,
        answered from the template. None means "not that case": call receive_datagram instead."""
        if len(data) != HEADER_LEN or data[0] & 0x3F != 0x23:  # version 4, mode 3
            return None
        if self._restricting:  # _quick_rflags, inline: this path is the server's busiest
            rflags = self.restrict.quick_bits(src[0], NOT_QUICK)
            if rflags is None:
                return None
        else:
            rflags = 0
        self.mru.note(src, now, 0x23, rflags)
        counters = self.counters
        counters["received"] += 1
        counters["thisver"] += 1
        return self._reply_header(data, 4, now)

    def _quick_rflags(self, address: str) -> int | None:
        """The MRU's restrict bits for a source a quick path may serve; None when its restrict flags need the
        full path (ignore, noserve, notrust, limited, version). Shared by quick_reply and fastpath.py."""
        if not self._restricting:
            return 0
        return self.restrict.quick_bits(address, NOT_QUICK)

    def _rebuild_template(self) -> None:
        s = self.sys
        stratum = 0 if s.stratum >= STRATUM_UNSPEC else s.stratum
        self._template_stratum = stratum
        self._template_mid = REPLY_MID.pack(
            int(round(s.root_delay * 65536)) & 0xFFFFFFFF, int(round(s.root_dispersion * 65536)) & 0xFFFFFFFF,
            s.refid, s.reftime)
        self._leap_bits = (s.leap & 3) << 6

    def _rate_check(self, src: Address, dst: str | None, flags: frozenset[str], data: bytes,
                    now: float) -> list[DatagramToSend] | None:
        """None when the request may be served; otherwise what to send (a RATE KoD or nothing). As ntpd, the
        limiter itself spaces the KoDs (at most one per average headway), so a flood gets few kisses."""
        verdict = self.restrict.monitor(src[0], now)
        if verdict is Limit.OK:
            return None
        self.counters["limited"] += 1
        if verdict is not Limit.KOD or "kod" not in flags:
            return []
        self.counters["kodsent"] += 1
        # as ntpd's fast_xmit for a KoD: unsynchronised, stratum 0, refid RATE, every timestamp the client's
        # transmit time, and a poll no lower than the rate we want (the client's poll when higher)
        version = (data[0] >> 3) & 7
        poll = max(struct.unpack_from("!b", data, 2)[0], self.restrict.average)
        lvm = (LEAP_NOTINSYNC << 6) | (version << 3) | MODE_SERVER
        kod = struct.pack("!BBbb", lvm, 0, poll, self.sys.precision) + bytes(8) + b"RATE" + data[40:48] * 4
        return [DatagramToSend(kod, src, dst)]

    def _serve_fast(self, data: bytes, src: Address, dst: str | None, flags: frozenset[str], now: float,
                    version: int) -> list[DatagramToSend]:
        """A plain 48-byte client request: the hot path, from the precomputed template."""
        if "notrust" in flags:
            self.counters["restricted"] += 1
            return []
        limited = self._rate_check(src, dst, flags, data, now) if "limited" in flags else None
        if limited is not None:
            return limited
        return [DatagramToSend(self._reply_header(data, version, now), src, dst)]

    def _reply_header(self, data: bytes, version: int, now: float) -> bytes:
        """A served request's 48-byte answer from the template; the request counts as processed. The receive
        stamp is `now`; the transmit stamp is read from `send_clock` here, just before any MAC is computed
        over it (ntpd's fast_xmit does the same), so a client sees the server's real processing time."""
        self.counters["processed"] += 1
        sent = self.send_clock() if self.send_clock is not None else now
        if sent < now:
            sent = now
        # ntptime.ntp64_stamp twice, inline (the hot path)
        return REPLY_HEADER.pack(self._leap_bits | (version << 3) | MODE_SERVER, self._template_stratum, data[2],
                                 self.sys.precision, self._template_mid, data[40:48],
                                 int((now + NTP_UNIX_OFFSET) * FRAC) & STAMP_MASK,
                                 int((sent + NTP_UNIX_OFFSET) * FRAC) & STAMP_MASK)

    def _serve(self, pkt: NtpPacket, data: bytes, src: Address, dst: str | None, flags: frozenset[str],
               now: float) -> list[DatagramToSend]:
        # as ntpd's receive(): the limiter comes before any digest or signature work, so a flood costs little
        limited = self._rate_check(src, dst, flags, data, now) if "limited" in flags else None
        if limited is not None:
            return limited
        verdict = self.authenticator.check(pkt, data, src, dst, None, now)
        if verdict.verdict is Verdict.DECLINED:
            self.counters["declined"] += 1
            return []
        if verdict.verdict is Verdict.CRYPTO_NAK:
            self.counters["badauth"] += 1
            return []
        if verdict.verdict is Verdict.ERROR:
            self.counters["badauth"] += 1
        elif "notrust" in flags and not verdict.ok:
            self.counters["restricted"] += 1
            return []
        header = self._reply_header(data, pkt.version, now)
        tail = self.authenticator.reply_tail(pkt, verdict, src, dst, header, now)
        return [DatagramToSend(header + tail, src, dst)]
