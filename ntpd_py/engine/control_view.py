"""What mode 6 may read of the engine: a read-only view in ntpd's names and value formats.

`ControlView` is the contract with the mode-6 responder (ntpd_py/control/). Values are the strings
ntpd 4.2.8's ntp_control.c puts on the wire (ntpq reformats some: `leap=0` shows as `leap=00`,
`reach=0x1` as `reach=001`): times in milliseconds with %.3f (offset and sys_jitter %.6f), timestamps
as `0x%08x.%08x`, refid dotted-quad above stratum 1 and text otherwise, strings in double quotes.
Variables are returned in ntpd's default order (def_sys_var / def_peer_var); `named_system_variables`
adds those only read by name (ntpd's ss_* counters, and our malformed-packet counters).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Protocol

from ..clock.select import SELECTION_NAMES
from .association import Association

if TYPE_CHECKING:
    from .host import NtpHost

STRATUM_UNSPEC = 16
MALFORMED_REASONS = ("short", "version", "length", "extension", "mode")  # PacketError reasons, plus mode 0


class ControlView(Protocol):
    def system_status(self) -> int:
        """The 16-bit system status word (leap, clock source, event count, last event)."""

    def system_variables(self) -> list[tuple[str, str]]:
        """`rv 0` without names: ordered (name, value) pairs."""

    def named_system_variables(self) -> list[tuple[str, str]]:
        """Every system variable readable by name (a superset of system_variables)."""

    def associations(self) -> list[tuple[int, int]]:
        """(assid, peer status word) for READSTAT on association 0, in association order."""

    def peer_status(self, assid: int) -> int | None:
        """Peer status word, or None for an unknown association."""

    def peer_variables(self, assid: int) -> list[tuple[str, str]] | None:
        """`rv ASSID`: ordered (name, value) pairs, or None for an unknown association."""

    def clear_peer_events(self, assid: int) -> None:
        """ntpd resets a peer's event count when an authenticated request reads it."""


def fmt_ts(stamp: int) -> str:
    return f"0x{stamp >> 32 & 0xFFFFFFFF:08x}.{stamp & 0xFFFFFFFF:08x}"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def fmt_ms6(seconds: float) -> str:
    return f"{seconds * 1e3:.6f}"


def fmt_refid(refid: bytes, stratum: int) -> str:
    if stratum <= 1 or stratum >= STRATUM_UNSPEC:
        text = "".join(chr(b) for b in refid.rstrip(b"\0") if 32 < b < 127)
        return text
    return str(ipaddress.IPv4Address(refid))


def quoted(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


class HostControlView:
    """ControlView over an NtpHost."""

    def __init__(self, host: NtpHost) -> None:
        self.host = host

    def system_status(self) -> int:
        return self.host.system_status_word()

    def system_variables(self) -> list[tuple[str, str]]:
        h, s = self.host, self.host.sys
        info = h.system_info
        from ..ntptime import to_ntp64

        sys_stratum = s.stratum
        refid = (str(ipaddress.IPv4Address(s.refid)) if 1 < sys_stratum < STRATUM_UNSPEC
                 else fmt_refid(s.refid, sys_stratum))
        out = [
            ("version", quoted(info.get("version", "ntpd-py"))),
            ("processor", quoted(info.get("processor", ""))),
            ("system", quoted(info.get("system", ""))),
            ("leap", str(s.leap)),
            ("stratum", str(s.stratum)),
            ("precision", str(s.precision)),
            ("rootdelay", fmt_ms(s.root_delay)),
            ("rootdisp", fmt_ms(s.root_dispersion)),
            ("refid", refid),
            ("reftime", fmt_ts(s.reftime)),
            ("clock", fmt_ts(to_ntp64(h._now))),
            ("peer", str(s.peer or 0)),
            ("tc", str(s.poll)),
            ("mintc", "3"),
            ("offset", fmt_ms6(s.offset)),
            ("frequency", f"{h.discipline.frequency * 1e6:.3f}"),
            ("sys_jitter", fmt_ms6(s.jitter)),
            ("clk_jitter", fmt_ms(h.discipline.jitter)),
            ("clk_wander", "0.000"),
        ]
        out.extend(h.authenticator.system_variables())
        return out

    def named_system_variables(self) -> list[tuple[str, str]]:
        h = self.host
        out = self.system_variables()
        uptime = int(h._now - h.started)
        out.append(("ss_uptime", str(uptime)))
        out.append(("ss_reset", str(uptime)))
        for name in ("received", "thisver", "oldver", "badformat", "badauth", "declined", "restricted",
                     "limited", "kodsent", "processed"):
            out.append((f"ss_{name}", str(h.counters[name])))
        for name in ("badversion", "control", "mode7", "noassoc", "bogus", "duplicate", "sent", "control_errors"):
            out.append((f"ss_{name}", str(h.counters[name])))
        out.append(("ss_malformed", str(sum(h.malformed.values()))))
        reasons = dict.fromkeys(MALFORMED_REASONS, 0) | h.malformed
        for reason, count in sorted(reasons.items()):
            out.append((f"ss_malformed_{reason}", str(count)))
        return out

    def associations(self) -> list[tuple[int, int]]:
        h = self.host
        return [(a.assid, h.peer_status_word(a)) for a in h.associations.values()]

    def peer_status(self, assid: int) -> int | None:
        assoc = self.host.associations.get(assid)
        return None if assoc is None else self.host.peer_status_word(assoc)

    def clear_peer_events(self, assid: int) -> None:
        assoc = self.host.associations.get(assid)
        if assoc is not None:
            assoc.events.count = 0

    def peer_variables(self, assid: int) -> list[tuple[str, str]] | None:
        h = self.host
        a: Association | None = h.associations.get(assid)
        if a is None:
            return None
        stages = a.filter.stages()
        refid = fmt_refid(a.refid, a.stratum) if not a.refclock else fmt_refid(a.refid, 0)
        headway = 0
        out = [
            ("srcadr", a.srcadr[0]),
            ("srcport", str(a.srcadr[1])),
            ("dstadr", a.dstadr or "0.0.0.0"),
            ("dstport", str(h.port)),
            ("leap", str(a.leap)),
            ("stratum", str(a.stratum)),
            ("precision", str(a.precision)),
            ("rootdelay", fmt_ms(a.root_delay)),
            ("rootdisp", fmt_ms(a.root_dispersion)),
            ("refid", refid),
            ("reftime", fmt_ts(a.reftime)),
            ("rec", fmt_ts(a.dst)),
            ("reach", f"0x{a.reach:x}"),
            ("unreach", str(a.unreach)),
            ("hmode", str(a.hmode)),
            ("pmode", str(a.pmode)),
            ("hpoll", str(a.hpoll)),
            ("ppoll", str(a.ppoll)),
            ("headway", str(headway)),
            ("flash", f"0x{a.flash:x}"),
            ("keyid", str(a.keyid or 0)),
            ("offset", fmt_ms(a.offset)),
            ("delay", fmt_ms(a.delay)),
            ("dispersion", fmt_ms(a.dispersion)),
            ("jitter", fmt_ms(a.jitter)),
            ("xleave", "0.000"),
            ("filtdelay", " ".join(f"{d * 1e3:.2f}" for d, _, _ in stages)),
            ("filtoffset", " ".join(f"{o * 1e3:.2f}" for _, o, _ in stages)),
            ("filtdisp", " ".join(f"{p * 1e3:.2f}" for _, _, p in stages)),
        ]
        out.extend(h.authenticator.peer_variables(a))
        return out

    def condition(self, assid: int) -> str:
        """The condition ntpq's `as` prints for an association (sys.peer, candidate, ...)."""
        a = self.host.associations.get(assid)
        return "" if a is None else SELECTION_NAMES[a.selection]

