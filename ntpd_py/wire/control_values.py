"""Render mode-6 variable values exactly as ntpd 4.2.8's ntp_control.c does (ctl_put* functions).

The engine builds its ControlView from these so that ntpq (classic or ntpsec) reads our daemon as it reads
ntpd: strings quoted, flags in hex, timestamps as 0xSECONDS.FRACTION, milliseconds with fixed decimals.
"""

from __future__ import annotations

import time
from typing import Iterable

from ..ntptime import NTP_UNIX_OFFSET


def quoted(text: str) -> str:
    """ctl_putstr: "text" (ntpd does not escape; a quote inside would end the string, so we drop it)."""
    return '"' + text.replace('"', "") + '"'


def unsigned(value: int) -> str:
    """ctl_putuint: %lu."""
    return str(int(value))


def signed(value: int) -> str:
    """ctl_putint: %ld."""
    return str(int(value))


def hexadecimal(value: int) -> str:
    """ctl_puthex: 0x%lx (flags, keyid)."""
    return f"0x{int(value):x}"


def fixed(value: float, places: int = 3) -> str:
    """ctl_putdbl (3 places) / ctl_putdbl6 (6 places): %.*f. Callers pass milliseconds where ntpd does."""
    return f"{value:.{places}f}"


def general(value: float) -> str:
    """ctl_putsfp: %g."""
    return f"{value:g}"


def timestamp(ntp64: int) -> str:
    """ctl_putts: a 64-bit NTP timestamp as 0x%08x.%08x (0 stays 0x00000000.00000000)."""
    return f"0x{(ntp64 >> 32) & 0xFFFFFFFF:08x}.{ntp64 & 0xFFFFFFFF:08x}"


def filestamp(ntp_seconds: int) -> str:
    """ctl_putfs: NTP seconds as YYYYMMDDHHMM in UTC (update=, until=, expire=)."""
    tm = time.gmtime(ntp_seconds - NTP_UNIX_OFFSET)
    return f"{tm.tm_year:04d}{tm.tm_mon:02d}{tm.tm_mday:02d}{tm.tm_hour:02d}{tm.tm_min:02d}"


def refid_text(refid: bytes) -> str:
    """ctl_putrefid: up to 4 octets, stopping at NUL; unprintable, space and comma become '.'."""
    out = []
    for byte in refid[:4]:
        if byte == 0:
            break
        ch = chr(byte)
        out.append("." if not (0x21 <= byte <= 0x7E) or ch == "," else ch)
    return "".join(out)


def array_ms(values_seconds: Iterable[float]) -> str:
    """ctl_putarray: each value in milliseconds as ' %.2f' (filtdelay, filtoffset, filtdisp)."""
    return "".join(f" {v * 1e3:.2f}" for v in values_seconds)


def reach(register: int) -> str:
    """The reach register: ctl_puthex, so 0x1 (ntpq prints it in octal, as 001)."""
    return hexadecimal(register & 0xFF)
