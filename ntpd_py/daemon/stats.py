"""Statistics files as ntpd writes them (ntp_util.c record_*_stats, ntp_filegen.c generations).

Every line starts with the Modified Julian Day and the seconds past UTC midnight with three decimals, e.g.
`61366 30000.922 10.99.0.1 f014 -0.000123811 0.000333631 7.937500062 0.000000060` (peerstats). Files rotate
by `filegen NAME type T`: none (one file), pid (.#PID), day (.YYYYMMDD), week (.YYYYwWW, ISO weeks),
month (.YYYYMM), year (.YYYY), age (.aSSSSSSSS, daemon uptime in whole days); with `link` the plain name is
a hard link to the current generation. The formatting functions are pure; the writer takes `now` from its
caller and never reads the clock.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path

from ..config.model import Filegen, NtpConfig
from ..ntptime import SECONDS_PER_DAY

MJD_UNIX_EPOCH = 40587  # MJD of 1970-01-01


# ---------------------------------------------------------------- line formats


def timestamp_fields(now: float) -> str:
    """'MJD SECONDS.mmm' for a Unix time, as ntpd's record_* functions print it."""
    whole = int(now // SECONDS_PER_DAY)
    seconds = now - whole * SECONDS_PER_DAY
    return f"{whole + MJD_UNIX_EPOCH} {seconds:.3f}"


def peerstats_line(now: float, address: str, status: int, offset: float, delay: float,
                   dispersion: float, jitter: float) -> str:
    """record_peer_stats: address, peer status word (hex), offset, delay, dispersion, jitter (seconds)."""
    return (f"{timestamp_fields(now)} {address} {status & 0xFFFF:x} "
            f"{offset:.9f} {delay:.9f} {dispersion:.9f} {jitter:.9f}")


def loopstats_line(now: float, offset: float, frequency_ppm: float, jitter: float, wander_ppm: float,
                   poll: int) -> str:
    """record_loop_stats: clock offset (s), frequency (PPM), RMS jitter (s), wander (PPM), poll exponent."""
    return f"{timestamp_fields(now)} {offset:.9f} {frequency_ppm:.3f} {jitter:.9f} {wander_ppm:.6f} {poll}"


@dataclass(frozen=True)
class SystemCounters:
    """The counters of a sysstats line, in ntpd's order (since the last reset)."""

    uptime: int = 0  # seconds since the counters were reset
    received: int = 0
    processed: int = 0  # packets for this host
    new_version: int = 0
    old_version: int = 0
    restricted: int = 0
    bad_length: int = 0  # bad length or format
    bad_auth: int = 0
    declined: int = 0
    rate_limited: int = 0
    kod_sent: int = 0


def sysstats_line(now: float, counters: SystemCounters) -> str:
    """record_sys_stats: eleven counters after the time stamp."""
    c = counters
    values = (c.uptime, c.received, c.processed, c.new_version, c.old_version, c.restricted, c.bad_length,
              c.bad_auth, c.declined, c.rate_limited, c.kod_sent)
    return f"{timestamp_fields(now)} " + " ".join(str(int(v)) for v in values)


def cryptostats_line(now: float, address: str | None, text: str) -> str:
    """record_crypto_stats: the peer address (0.0.0.0 for the host itself) and the message."""
    return f"{timestamp_fields(now)} {address or '0.0.0.0'} {text}"


def protostats_line(now: float, text: str) -> str:
    """record_proto_stats: the time stamp and the event text (see `event_text`)."""
    return f"{timestamp_fields(now)} {text}"


def event_text(address: str | None, status: int, code: int, name: str, detail: str = "") -> str:
    """An event as ntpd's report_event writes it to protostats: 'ADDR STATUS CODE name detail'."""
    text = f"{address or '0.0.0.0'} {status & 0xFFFF:04x} {code & 0xFF:02x} {name}"
    return f"{text} {detail}" if detail else text


# ---------------------------------------------------------------- generations


@dataclass(frozen=True)
class Generation:
    """One file generation: the name suffix and the Unix-time interval [start, end) it covers."""

    suffix: str
    start: float
    end: float

    def covers(self, now: float) -> bool:
        return self.start <= now < self.end


def generation(kind: str, now: float, pid: int = 0, started: float = 0.0) -> Generation:
    """The generation holding `now` for a filegen type (ntp_filegen.c filegen_open)."""
    utc = _dt.datetime.fromtimestamp(now, tz=_dt.timezone.utc)
    day = _dt.datetime(utc.year, utc.month, utc.day, tzinfo=_dt.timezone.utc)
    if kind == "none":
        return Generation("", float("-inf"), float("inf"))
    if kind == "pid":
        return Generation(f".#{pid}", float("-inf"), float("inf"))
    if kind == "day":
        return Generation(f".{utc:%Y%m%d}", day.timestamp(), day.timestamp() + SECONDS_PER_DAY)
    if kind == "week":
        year, week, weekday = utc.isocalendar()
        monday = day - _dt.timedelta(days=weekday - 1)
        return Generation(f".{year:04d}w{week:02d}", monday.timestamp(), monday.timestamp() + 7 * SECONDS_PER_DAY)
    if kind == "month":
        first = day.replace(day=1)
        following = first.replace(year=first.year + (first.month == 12), month=first.month % 12 + 1)
        return Generation(f".{utc:%Y%m}", first.timestamp(), following.timestamp())
    if kind == "year":
        first = day.replace(month=1, day=1)
        return Generation(f".{utc.year:04d}", first.timestamp(), first.replace(year=first.year + 1).timestamp())
    if kind == "age":
        uptime = max(0, int(now - started))
        low = uptime - uptime % SECONDS_PER_DAY
        return Generation(f".a{low:08d}", started + low, started + low + SECONDS_PER_DAY)
    raise ValueError(f"unknown filegen type {kind!r}")


class FilegenWriter:
    """Appends lines to one statistics set, opening the right generation for each `now`.

    A file that cannot be opened or written does not stop the daemon (as in ntpd): the line is counted in
    `failures` and the reason kept in `last_error`, naming the file.
    """

    def __init__(self, directory: str | Path, filegen: Filegen, pid: int | None = None, started: float = 0.0) -> None:
        self.directory = Path(directory)
        self.filegen = filegen
        self._pid = pid
        self.started = started
        self.current: Generation | None = None
        self.path: Path | None = None
        self._file = None
        self.failures = 0
        self.last_error: str | None = None
        self._conflicts = 0

    @property
    def pid(self) -> int:
        """The pid given, else this process's at the time of writing (the daemon forks after building us)."""
        return os.getpid() if self._pid is None else self._pid

    @property
    def basename(self) -> Path:
        return self.directory / self.filegen.file

    def path_for(self, now: float) -> Path:
        """The file a line written at `now` goes to."""
        gen = generation(self.filegen.type, now, self.pid, self.started)
        return Path(str(self.basename) + gen.suffix)

    def write(self, now: float, line: str) -> bool:
        """Append `line` (without newline) to the generation for `now`; False when it could not be written."""
        if not self.filegen.enabled:
            return False
        try:
            if self.current is None or not self.current.covers(now):
                self._open(now)
            assert self._file is not None
            self._file.write(line + "\n")
            self._file.flush()
            return True
        except OSError as exc:
            self.failures += 1
            self.last_error = f"{exc.filename or self.path}: {exc.strerror or exc}"
            return False

    def _open(self, now: float) -> None:
        gen = generation(self.filegen.type, now, self.pid, self.started)
        path = Path(str(self.basename) + gen.suffix)
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across writes, as ntpd does
        self.close()
        self._file, self.current, self.path = handle, gen, path
        if gen.suffix and self.filegen.link:
            self._link(path)

    def _link(self, path: Path) -> None:
        """Make the plain name a hard link to `path`, moving aside a plain file that is no link (as ntpd)."""
        base = self.basename
        try:
            info = base.lstat()
        except FileNotFoundError:
            info = None
        if info is not None:
            if base.is_file() and info.st_nlink <= 1 and not base.is_symlink():
                base.rename(Path(f"{base}.{self.pid}C{self._conflicts}"))
                self._conflicts += 1
            else:
                base.unlink()
        os.link(path, base)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def writers_from_config(config: NtpConfig, pid: int | None = None, started: float = 0.0) -> dict[str, FilegenWriter]:
    """A writer for every enabled statistics set (requires `statsdir`, as ntpd writes none without it)."""
    if not config.statsdir:
        return {}
    return {name: FilegenWriter(config.statsdir, fg, pid, started)
            for name, fg in config.filegens.items() if fg.enabled}
