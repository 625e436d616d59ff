"""NTP's protocol numbers, in one place: association and packet modes, versions, leap indicator, key-ID ranges.

The values of RFC 5905 and ntpd's ntp.h.  Every module that needs one imports it from here (directly, or
through `wire.packet`, which re-exports the packet-level ones); none defines its own copy.
"""

from __future__ import annotations

NTP_VERSION = 4
NTP_OLDVERSION = 1

# packet modes (the low three bits of the first octet), and ntpd's association mode for a broadcast client
MODE_UNSPEC, MODE_ACTIVE, MODE_PASSIVE, MODE_CLIENT, MODE_SERVER, MODE_BROADCAST, MODE_CONTROL, MODE_PRIVATE = range(8)
MODE_BCLIENT = 6  # an association's hmode only (ntpd's MODE_BCLIENT), never a packet's mode (6 is control there)

LEAP_NOWARNING, LEAP_ADDSECOND, LEAP_DELSECOND, LEAP_NOTINSYNC = range(4)

STRATUM_UNSPEC = 16  # not synchronised (a stratum-0 kiss is shown as 16 too)
NTP_MINPOLL, NTP_MAXPOLL = 3, 17  # the poll exponents ntpd 4.2.8 accepts (8 s to 36 h)
NTP_SHIFT = 8  # clock-filter stages; also the headways one restrict bucket holds (ntpd's limit = NTP_SHIFT * head)
MINDISPERSE = 0.001  # s: the floor of root dispersion, and tos mindist's default
MAXDISPERSE = 16.0  # s: the dispersion of an empty filter stage

NTP_AUTOMAX = 12  # Autokey: default `autokey`, log2 s of a session key list's life (4096 s)
NTP_REVOKE = 17  # Autokey: default `revoke`, log2 s between the server's re-randomisations (131072 s)

NTP_MAXKEY = 65535  # key IDs 1..NTP_MAXKEY are symmetric keys (ntp.keys); above are Autokey session keys
