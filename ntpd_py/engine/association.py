"""One association's state: RFC 5905 peer variables, the reach register and the poll state machine.

The host decides what a packet means; this module keeps what an association knows and when it polls
next. Poll logic follows ntpd's transmit()/poll_update(): the reach register shifts at every poll that is
not part of a burst; `iburst` sends NTP_IBURST packets 2 s apart while the peer is unreachable, `burst` the
same while it is reachable; after NTP_UNREACH polls without an answer the poll interval backs off.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..clock.filter import ClockFilter
from ..clock.select import SEL_REJECT
from ..protocol import MODE_ACTIVE, MODE_BCLIENT, MODE_BROADCAST, MODE_CLIENT, MODE_PASSIVE, MODE_SERVER  # noqa: F401
from ..protocol import LEAP_NOTINSYNC, STRATUM_UNSPEC
from .status import PST_AUTHENABLE, PST_AUTHENTIC, PST_BCAST, PST_CONFIG, PST_REACH, EventCounter

NTP_IBURST = 6
NTP_BURST = 8
BURST_INTERVAL = 2.0
NTP_UNREACH = 10

# flash bits (peer packet tests), as ntpd 4.2.8's TEST1..TEST13 (ntp.h), shown as peer variable "flash";
# ntpq names them pkt_dup, pkt_bogus, pkt_unsync, pkt_denied, pkt_auth, pkt_stratum, pkt_header,
# pkt_autokey ("not proventic": Autokey identity not proven), pkt_crypto, peer_stratum ... peer_unreach
TEST_DUPLICATE, TEST_BOGUS, TEST_INVALID, TEST_ACCESS, TEST_AUTH, TEST_UNSYNC, TEST_HEADER = (
    0x0001, 0x0002, 0x0004, 0x0008, 0x0010, 0x0020, 0x0040)
TEST_AUTOKEY, TEST_CRYPTO = 0x0080, 0x0100
TEST_STRATUM, TEST_DISTANCE, TEST_LOOP, TEST_UNFIT = 0x0200, 0x0400, 0x0800, 0x1000


@dataclass(eq=False)
class Association:
    """A peer (RFC 5905 section 9). Addresses are (ip, port); `dstadr` is the local address used."""

    assid: int
    srcadr: tuple[str, int]
    hmode: int
    dstadr: str | None = None
    configured: bool = True
    refclock: bool = False
    version: int = 4
    minpoll: int = 6
    maxpoll: int = 10
    iburst: bool = False
    burst: bool = False
    prefer: bool = False
    noselect: bool = False
    keyid: int | None = None
    autokey: bool = False
    ident: str | None = None
    refclock_stratum: int = 5
    refclock_refid: bytes = b"LOCL"
    refclock_time1: float = 0.0  # fudge time1/time2 (seconds) and flag1..4 (bits 1, 2, 4, 8): shown by `cv`
    refclock_time2: float = 0.0
    refclock_flags: int = 0
    refclock_polls: int = 0
    auth_state: Any = None  # owned by the Authenticator, never read by the engine
    # broadcast client: the client/server volley runs (hmode client) until the first broadcast after it
    # calibrates the delay; bcast_delay is that measured delay (None: the configured broadcastdelay)
    bcast_volley: bool = False
    bcast_delay: float | None = None

    # packet variables from the last valid packet
    leap: int = LEAP_NOTINSYNC
    pmode: int = 0
    stratum: int = STRATUM_UNSPEC
    ppoll: int = 0
    precision: int = 0
    root_delay: float = 0.0
    root_dispersion: float = 0.0
    refid: bytes = b"INIT"
    reftime: int = 0
    # timestamps: org we sent (aorg), their last xmt (rec), our arrival time of it (dst)
    aorg: int = 0
    sent_stamps: list[int] = field(default_factory=list)  # our last transmit timestamps (symmetric modes)
    rec: int = 0
    dst: int = 0
    # state machine
    hpoll: int = 6
    reach: int = 0
    unreach: int = 0
    burst_left: int = 0
    retry: int = 0
    next_poll: float = 0.0
    last_poll: float = 0.0
    last_sent: float = 0.0
    last_received: float = 0.0
    flash: int = 0
    authentic: bool = False
    selection: int = SEL_REJECT
    events: EventCounter = field(default_factory=EventCounter)
    filter: ClockFilter = field(default_factory=ClockFilter)
    updated: float = 0.0  # time of the last filter update (peer.update)
    # counters
    received: int = 0
    sent: int = 0
    bad_auth: int = 0
    bogus: int = 0
    duplicates: int = 0
    unproven: int = 0  # packets that passed every other test but came before the identity was proven
    mobilized: float = 0.0  # when the association was made (ephemeral ones are bounded in number)

    def __post_init__(self) -> None:
        self.hpoll = self.minpoll

    @property
    def offset(self) -> float:
        return self.filter.offset

    @property
    def delay(self) -> float:
        return self.filter.delay

    @property
    def dispersion(self) -> float:
        return self.filter.dispersion

    @property
    def jitter(self) -> float:
        return self.filter.jitter

    @property
    def authenable(self) -> bool:
        return self.keyid is not None or self.autokey

    def status_bits(self) -> int:
        bits = 0
        if self.configured:
            bits |= PST_CONFIG
        if self.authenable:
            bits |= PST_AUTHENABLE
            if self.authentic:
                bits |= PST_AUTHENTIC
        if self.reach:
            bits |= PST_REACH
        if self.hmode in (MODE_BROADCAST, MODE_BCLIENT) or self.bcast_volley:
            bits |= PST_BCAST
        return bits

    def start(self, now: float, rng: random.Random) -> None:
        """First poll soon after start (ntpd: within a few seconds), so iburst can finish quickly."""
        self.mobilized = now
        self.next_poll = now + (0.2 + rng.random() * 0.8 if self.iburst or self.refclock else 1 + rng.random() * 3)

    def poll_interval(self) -> float:
        return float(1 << self.hpoll)

    def on_poll(self, now: float, sys_poll: int) -> bool:
        """Advance the poll state machine at a poll timer; True when the association must be dropped
        (an ephemeral one that stopped answering). Returns after setting `next_poll`."""
        first_poll = self.last_poll == 0.0
        self.last_poll = now
        if self.hmode == MODE_BROADCAST:  # as ntpd: a broadcaster expects no answer and keeps its minpoll
            self.hpoll = self.minpoll
            self.next_poll = now + self.poll_interval()
            return False
        if self.burst_left > 0:
            self.burst_left -= 1
            self.next_poll = now + BURST_INTERVAL if self.burst_left else now + self.poll_interval()
            return False
        hpoll = self.hpoll
        self.unreach += 1
        self.reach = (self.reach << 1) & 0xFF
        if not self.reach:
            self.filter.age(now)
            if self.iburst and self.unreach == 1:
                self.burst_left = NTP_IBURST - 1
        else:
            hpoll = max(self.minpoll, min(self.maxpoll, sys_poll))
            self.unreach = 0
            if self.burst:
                self.burst_left = NTP_BURST - 1
            elif self.iburst and first_poll:  # a symmetric peer may have reached us before our first poll
                self.burst_left = NTP_IBURST - 1
        if self.unreach >= NTP_UNREACH:
            if not self.configured:
                return True
            hpoll = min(self.maxpoll, self.hpoll + 1)
        self.hpoll = max(self.minpoll, min(self.maxpoll, hpoll))
        self.next_poll = now + (BURST_INTERVAL if self.burst_left else self.poll_interval())
        return False

    def clear(self) -> None:
        """Forget the peer's timestamps and samples (after a crypto-NAK or a KoD DENY), as ntpd's peer_clear."""
        self.filter = ClockFilter(precision=self.filter.precision)
        self.leap, self.stratum, self.refid = LEAP_NOTINSYNC, STRATUM_UNSPEC, b"INIT"
        self.aorg = self.rec = self.dst = 0

