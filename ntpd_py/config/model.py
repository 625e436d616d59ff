"""The typed form of an ntp.conf: what the daemon acts on, with the file and line each item came from.

The parser builds these; the daemon and engine only read them. Defaults are ntpd 4.2.8's, so that a
configuration means the same thing to both daemons. Keeping the origin on every item lets later stages
(the daemon resolving a host name, the Autokey layer opening a key file) report errors as "FILE:LINE".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..protocol import NTP_MAXKEY, NTP_MAXPOLL, NTP_MINPOLL  # noqa: F401  (the parser's bounds for key IDs and polls)
from ..protocol import NTP_AUTOMAX, NTP_REVOKE, NTP_VERSION  # noqa: F401  (defaults of the model and the parser)

# ntpd defaults (ntp.h, ntp_config.c, ntp_filegen.c, ntp_crypto.h)
NTP_MINDPOLL = 6  # default minpoll (64 s)
NTP_MAXDPOLL = 10  # default maxpoll (1024 s)
NTP_PORT = 123
REFCLOCK_PREFIX = "127.127."

Severity = Literal["error", "warning"]
AssociationKind = Literal["server", "peer", "pool", "broadcast", "manycastclient"]
FilegenType = Literal["none", "pid", "day", "week", "month", "year", "age"]
InterfaceAction = Literal["listen", "ignore", "drop"]

FILEGEN_NAMES = ("clockstats", "cryptostats", "loopstats", "peerstats", "protostats", "rawstats", "sysstats", "timingstats")
FILEGEN_TYPES = ("none", "pid", "day", "week", "month", "year", "age")
SYSTEM_FLAGS = (
    "auth", "bclient", "calibrate", "kernel", "mode7", "monitor", "ntp", "pps", "stats",
    "peer_clear_digest_early", "unpeer_crypto_early", "unpeer_crypto_nak_early", "unpeer_digest_early",
)
# ntpd enables auth, monitor, stats, kernel and ntp by default. We differ on purpose: clock discipline
# (ntp, kernel) is off unless the configuration says `enable ntp`, so that no default can move a clock.
DEFAULT_ENABLED = frozenset({"auth", "monitor", "stats"})
RESTRICT_FLAGS = (
    "ignore", "kod", "limited", "lowpriotrap", "mssntp", "nomodify", "nomrulist", "nopeer", "noquery",
    "noserve", "notrap", "notrust", "ntpport", "version", "noepeer", "serverresponse fuzz",
)
TOS_OPTIONS = (
    "beacon", "ceiling", "cohort", "floor", "maxclock", "maxdist", "minclock", "mindist", "minsane",
    "orphan", "orphanwait", "bcpollbstep",
)
TINKER_OPTIONS = ("allan", "dispersion", "freq", "huffpuff", "panic", "step", "stepback", "stepfwd", "stepout", "tick")
DISCARD_OPTIONS = ("average", "minimum", "monitor")
# Directives ntpd 4.2.8 knows that ntpd-py does not act on: a warning that says so, not "unknown".
UNSUPPORTED_DIRECTIVES = (
    "calldelay", "dscp", "leapsmearinterval", "logconfig", "mdnstries", "mru", "multicastclient",
    "nonvolatile", "ntpsigndsocket", "phone", "pollskewlist", "qos", "reset", "rlimit", "saveconfigdir",
    "setvar", "trap", "ttl", "unconfig", "unpeer",
)
CRYPTO_OPTIONS = ("cert", "leap", "randfile", "host", "sign", "iffpar", "gqpar", "mvpar", "pw", "ident", "digest")


@dataclass(frozen=True)
class Origin:
    """Where a configuration item was written: the file (as named) and its 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a configuration; str() is "FILE:LINE: error: message" as compilers print."""

    file: str
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Association:
    """A server/peer/pool/broadcast/manycastclient line. `address` is kept as written (name or IP)."""

    kind: AssociationKind
    address: str
    origin: Origin
    iburst: bool = False
    burst: bool = False
    minpoll: int = NTP_MINDPOLL
    maxpoll: int = NTP_MAXDPOLL
    prefer: bool = False
    key: int | None = None
    version: int = NTP_VERSION
    autokey: bool = False
    ident: str | None = None
    noselect: bool = False
    true: bool = False
    preempt: bool = False
    xleave: bool = False
    ttl: int | None = None
    mode: int | None = None
    ipv: Literal[4, 6] | None = None

    @property
    def is_refclock(self) -> bool:
        """127.127.t.u names a reference clock (type t, unit u); 127.127.1.0 is the local clock."""
        return self.address.startswith(REFCLOCK_PREFIX)


@dataclass(frozen=True)
class Fudge:
    """`fudge 127.127.t.u ...`: settings for a reference clock (the local clock's stratum and refid)."""

    address: str
    origin: Origin
    stratum: int | None = None
    refid: str | None = None
    time1: float | None = None
    time2: float | None = None
    flags: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Restrict:
    """A `restrict` line. `address` is "default", "source", an IP address or a host name."""

    address: str
    origin: Origin
    mask: str | None = None
    ipv: Literal[4, 6] | None = None
    flags: frozenset[str] = frozenset()
    ippeerlimit: int | None = None

    @property
    def is_default(self) -> bool:
        return self.address == "default"


@dataclass(frozen=True)
class Interface:
    """`interface listen|ignore|drop ADDR|PREFIX|all|ipv4|ipv6|wildcard`."""

    action: InterfaceAction
    target: str
    origin: Origin


@dataclass(frozen=True)
class Filegen:
    """A statistics file generation set. ntpd's defaults: file = name, type day, link on, disabled."""

    name: str
    file: str
    type: FilegenType = "day"
    link: bool = True
    enabled: bool = False
    origin: Origin | None = None


@dataclass
class Crypto:
    """`crypto` options (Autokey). `present` is True when a crypto line exists: Autokey is then on."""

    present: bool = False
    cert: str | None = None
    leap: str | None = None
    randfile: str | None = None
    host: str | None = None
    sign: str | None = None
    iffpar: str | None = None
    gqpar: str | None = None
    mvpar: str | None = None
    pw: str | None = None
    ident: str | None = None
    digest: str | None = None
    origin: Origin | None = None


@dataclass
class NtpConfig:
    """A whole ntp.conf (with its included files), in the order written.

    Scalars set by a line record that line in `origins[field_name]`; list items carry their own origin.
    """

    associations: list[Association] = field(default_factory=list)
    fudges: list[Fudge] = field(default_factory=list)
    restricts: list[Restrict] = field(default_factory=list)
    interfaces: list[Interface] = field(default_factory=list)
    filegens: dict[str, Filegen] = field(default_factory=dict)
    crypto: Crypto = field(default_factory=Crypto)
    broadcastclient: bool = False
    manycastservers: list[str] = field(default_factory=list)
    driftfile: str | None = None
    logfile: str | None = None
    statsdir: str | None = None
    statistics: list[str] = field(default_factory=list)
    leapfile: str | None = None
    pidfile: str | None = None
    keysdir: str | None = None
    keys: str | None = None
    trustedkeys: set[int] = field(default_factory=set)
    controlkey: int | None = None
    requestkey: int | None = None
    autokey: int = NTP_AUTOMAX
    revoke: int = NTP_REVOKE
    enabled: set[str] = field(default_factory=lambda: set(DEFAULT_ENABLED))
    discard: dict[str, int] = field(default_factory=dict)
    tos: dict[str, float] = field(default_factory=dict)
    tinker: dict[str, float] = field(default_factory=dict)
    broadcastdelay: float | None = None
    port: int | None = None  # our extension: listen/send port for labs without root
    included: list[str] = field(default_factory=list)
    origins: dict[str, Origin] = field(default_factory=dict)

    @property
    def listen_port(self) -> int:
        """The UDP port the daemon binds: `port N` when given, else 123."""
        return self.port if self.port is not None else NTP_PORT

    @property
    def discipline(self) -> bool:
        """True only when the clock may be disciplined: an explicit `enable ntp` (ntpd's default is on)."""
        return "ntp" in self.enabled

    def filegen(self, name: str) -> Filegen:
        """The filegen settings for `name`, ntpd's defaults when no line names it."""
        return self.filegens.get(name) or Filegen(name=name, file=name)

    def servers(self) -> list[Association]:
        return [a for a in self.associations if a.kind == "server"]
