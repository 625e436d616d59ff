"""What mode 6 may read of the engine: a read-only view in ntpd's names and value formats.

`ControlView` is the contract with the mode-6 responder (ntpd_py/control/). Values are the strings
ntpd 4.2.8's ntp_control.c puts on the wire (ntpq reformats some: `leap=0` shows as `leap=00`,
`reach=0x1` as `reach=001`): times in milliseconds with %.3f (offset and sys_jitter %.6f), timestamps
as `0x%08x.%08x`, refid dotted-quad above stratum 1 and text otherwise, strings in double quotes.
Variables are returned in ntpd's default order (def_sys_var / def_peer_var), then, in `rv 0`, the drop
counters (the engine's ss_badformat, ss_malformed_*, ..., the responder's ctl_*, the shell's io_*);
`named_system_variables` adds those only read by name (ntpd's other ss_* counters).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from ..clock.select import SELECTION_NAMES
from ..control import values
from .association import Association

if TYPE_CHECKING:
    from .host import NtpHost

STRATUM_UNSPEC = 16
MALFORMED_REASONS = ("short", "version", "length", "extension", "mode")  # PacketError reasons, plus mode 0
DROP_COUNTERS = ("badformat", "badversion", "badauth", "declined", "restricted", "limited", "noassoc", "bogus",
                 "duplicate", "control_errors", "notproven")
CounterSource = Callable[[], Iterable[tuple[str, str]]]


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


def fmt_ms(seconds: float, places: int = 3) -> str:
    """Seconds shown as ntpd shows them: milliseconds with fixed decimals (ctl_putdbl / ctl_putdbl6)."""
    return values.fixed(seconds * 1e3, places)


def fmt_refid(refid: bytes, stratum: int) -> str:
    """ntpd's refid: text (ctl_putrefid) at stratum 0, 1 and 16, a dotted quad otherwise."""
    if stratum <= 1 or stratum >= STRATUM_UNSPEC:
        return values.refid_text(refid)
    return str(ipaddress.IPv4Address(refid))


class HostControlView:
    """ControlView over an NtpHost."""

    def __init__(self, host: NtpHost, counter_sources: Sequence[CounterSource] = ()) -> None:
        self.host = host
        # counters kept outside the engine (the mode-6 responder's ctl_*, the shell's io_*), shown with ours
        self.counter_sources: list[CounterSource] = list(counter_sources)

    def system_status(self) -> int:
        return self.host.system_status_word()

    def system_variables(self) -> list[tuple[str, str]]:
        h, s = self.host, self.host.sys
        info = h.system_info
        from ..ntptime import to_ntp64

        sys_stratum = s.stratum
        refid = fmt_refid(s.refid, sys_stratum)
        out = [
            ("version", values.quoted(info.get("version", "ntpd-py"))),
            ("processor", values.quoted(info.get("processor", ""))),
            ("system", values.quoted(info.get("system", ""))),
            ("leap", str(s.leap)),
            ("stratum", str(s.stratum)),
            ("precision", str(s.precision)),
            ("rootdelay", fmt_ms(s.root_delay)),
            ("rootdisp", fmt_ms(s.root_dispersion)),
            ("refid", refid),
            ("reftime", values.timestamp(s.reftime)),
            ("clock", values.timestamp(to_ntp64(h._now))),
            ("peer", str(s.peer or 0)),
            ("tc", str(s.poll)),
            ("mintc", "3"),
            ("offset", fmt_ms(s.offset, 6)),
            ("frequency", f"{h.discipline.frequency * 1e6:.3f}"),
            ("sys_jitter", fmt_ms(s.jitter, 6)),
            ("clk_jitter", fmt_ms(h.discipline.jitter)),
            ("clk_wander", "0.000"),
        ]
        out.extend(h.authenticator.system_variables())
        out.extend(self.drop_counters())
        return out

    def named_system_variables(self) -> list[tuple[str, str]]:
        h = self.host
        out = self.system_variables()
        uptime = int(h._now - h.started)
        out.append(("ss_uptime", str(uptime)))
        out.append(("ss_reset", str(uptime)))
        for name in ("received", "thisver", "oldver", "kodsent", "processed", "control", "mode7", "sent"):
            out.append((f"ss_{name}", str(h.counters[name])))
        return out

    def drop_counters(self) -> list[tuple[str, str]]:
        """Why packets were dropped, listed in `rv 0` and readable by name: the engine's ss_* drop counters
        (ss_malformed_* say which shape was wrong), then the counters of `counter_sources` (ctl_*, io_*)."""
        h = self.host
        out = [(f"ss_{name}", str(h.counters[name])) for name in DROP_COUNTERS]
        out.append(("ss_malformed", str(sum(h.malformed.values()))))
        reasons = dict.fromkeys(MALFORMED_REASONS, 0) | h.malformed
        out.extend((f"ss_malformed_{reason}", str(count)) for reason, count in sorted(reasons.items()))
        for source in self.counter_sources:
            out.extend(source())
        return out

    def mru_entries(self) -> list[tuple[str, float, float, int, int, int]]:
        """`ntpq -c mrulist`: (address:port, first, last, count, version<<3|mode, restrict bits), newest first."""
        return self.host.mru.entries()

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
            ("reftime", values.timestamp(a.reftime)),
            ("rec", values.timestamp(a.dst)),
            ("reach", values.reach(a.reach)),
            ("unreach", str(a.unreach)),
            ("hmode", str(a.hmode)),
            ("pmode", str(a.pmode)),
            ("hpoll", str(a.hpoll)),
            ("ppoll", str(a.ppoll)),
            ("headway", str(headway)),
            ("flash", values.hexadecimal(a.flash)),
            ("keyid", str(a.keyid or 0)),
            ("offset", fmt_ms(a.offset)),
            ("delay", fmt_ms(a.delay)),
            ("dispersion", fmt_ms(a.dispersion)),
            ("jitter", fmt_ms(a.jitter)),
            ("xleave", "0.000"),
            ("filtdelay", values.array_ms(d for d, _, _ in stages)),
            ("filtoffset", values.array_ms(o for _, o, _ in stages)),
            ("filtdisp", values.array_ms(p for _, _, p in stages)),
        ]
        out.extend(h.authenticator.peer_variables(a))
        return out

    def condition(self, assid: int) -> str:
        """The condition ntpq's `as` prints for an association (sys.peer, candidate, ...)."""
        a = self.host.associations.get(assid)
        return "" if a is None else SELECTION_NAMES[a.selection]

