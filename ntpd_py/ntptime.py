"""NTP time scales, in one place.

Every other module takes "now" as a parameter (a float of Unix seconds) rather than reading the clock, so
that tests can drive time. This module converts between Unix seconds and NTP's 32- and 64-bit formats.
Era 0 is assumed for 32-bit seconds, as ntpd 4.2.8 does for filestamps and certificate serials.
"""

from __future__ import annotations

import time

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
FRAC = 1 << 32
SECONDS_PER_DAY = 86400
STAMP_MASK = (1 << 64) - 1  # a 64-bit NTP timestamp wraps (era)


def unix_now() -> float:
    """Wall-clock time in Unix seconds. The only place outside the daemon shell that reads the clock."""
    return time.time()


def ntp_seconds(unix: float) -> int:
    """32-bit NTP seconds (era 0) for a Unix time: ntp-keygen's filestamp and certificate serial."""
    return (int(unix) + NTP_UNIX_OFFSET) & 0xFFFFFFFF


def unix_from_ntp_seconds(seconds: int) -> int:
    """Inverse of ntp_seconds, taking the era closest to 2036-pivot style (era 0 below 1968 wraps to era 1)."""
    unix = seconds - NTP_UNIX_OFFSET
    if seconds < 0x7FFFFFFF and unix < 0:
        # values below 1968 are taken as era 1 (after 2036)
        unix += FRAC
    return unix


def to_ntp64(unix: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point) for a Unix time; 0 stays 0 (NTP's 'no time')."""
    if unix == 0:
        return 0
    value = int(round((unix + NTP_UNIX_OFFSET) * FRAC))
    return value & 0xFFFFFFFFFFFFFFFF


def ntp64_stamp(unix: float) -> int:
    """64-bit NTP timestamp for a reply's receive and transmit stamps: truncated, as ntpd's; no 0 special case."""
    return int((unix + NTP_UNIX_OFFSET) * FRAC) & STAMP_MASK


def from_ntp64(stamp: int, pivot: float | None = None) -> float:
    """Unix time for a 64-bit NTP timestamp; 0 stays 0. The era is chosen nearest to `pivot` (default: era 0/1 by 1968)."""
    if stamp == 0:
        return 0.0
    seconds = stamp / FRAC - NTP_UNIX_OFFSET
    if pivot is not None:
        era = round((pivot - seconds) / FRAC)
        return seconds + era * FRAC
    if stamp >> 32 < 0x7FFFFFFF and seconds < 0:
        seconds += FRAC
    return seconds


def to_short(seconds: float) -> int:
    """NTP short format (16.16), saturating, as used for root delay and dispersion."""
    value = int(round(seconds * 65536))
    return max(0, min(value, 0xFFFFFFFF))


def from_short(value: int) -> float:
    return value / 65536.0
