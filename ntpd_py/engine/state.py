"""What every part of the NTP host shares: the system variables and ntpd's limits (what it hands back to the
shell is in events.py)."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from ..protocol import LEAP_NOTINSYNC, NTP_MINPOLL, STRATUM_UNSPEC
from .association import MODE_ACTIVE, MODE_CLIENT
from .status import EventCounter, PEVNT_AUTH, PEVNT_DENY, PEVNT_RATE, SST_UNSPEC

Address = tuple[str, int]
ControlHandler = Callable[[bytes, Address, float], list[bytes]]

LOOPBACK_REFID = bytes([127, 0, 0, 1])
DEFAULT_ORPHANWAIT = 300.0
DEFAULT_BROADCASTDELAY = 0.004
BROADCAST_DELAY_LIMIT = 0.050  # ntpd's BDELAY_DEFAULT: a measured broadcast delay above this is not believed
LOCAL_CLOCK_PREFIX = "127.127.1."
REPLY_HEADER = struct.Struct("!BBBb20s8sQQ")
REPLY_MID = struct.Struct("!II4sQ")
# peer events that any (spoofed) packet can cause: logged a few times a minute, counted always
PACKET_EVENTS = frozenset({PEVNT_AUTH, PEVNT_RATE, PEVNT_DENY})
PACED_MODES = (MODE_CLIENT, MODE_ACTIVE)  # modes whose packets a server's limiter counts before answering
# restrict flags that change how a client request is answered: such sources take the full path
NOT_QUICK = frozenset({"ignore", "noserve", "notrust", "limited", "version"})
COUNTER_NAMES = ("received", "thisver", "oldver", "badversion", "badformat", "badauth", "declined", "restricted",
                 "limited", "kodsent", "processed", "control", "mode7", "noassoc", "bogus", "duplicate",
                 "sent", "control_errors", "notproven")
# Ephemeral associations (symmetric passive, broadcast client) are made by strangers' packets: bounded, so
# that no flood can grow memory or the timer's work (ntpd bounds them only per address, with ippeerlimit)
EPHEMERAL_MAX = 64
ASSOCIATION_MAX = 65535  # association IDs are 16 bits, 0 excluded
IPPEERLIMIT_PREFIX = "ippeerlimit="  # restrict entries carry their ippeerlimit among their flags


@dataclass
class SystemState:
    """RFC 5905 system variables."""

    leap: int = LEAP_NOTINSYNC
    stratum: int = STRATUM_UNSPEC
    precision: int = -20
    root_delay: float = 0.0
    root_dispersion: float = 0.0
    refid: bytes = b"INIT"
    reftime: int = 0
    peer: int | None = None
    source: int = SST_UNSPEC
    offset: float = 0.0
    jitter: float = 0.0
    poll: int = NTP_MINPOLL
    poll_counter: int = 0
    orphan: bool = False
    events: EventCounter = field(default_factory=EventCounter)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
