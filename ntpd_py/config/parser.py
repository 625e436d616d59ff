"""ntp.conf → NtpConfig, with every problem reported as "FILE:LINE: severity: message".

As ntpd does, an unknown directive is a warning and the line is skipped; a line that is known but malformed
(missing argument, bad number, bad address, unknown flag) is an error and the line is skipped. Parsing never
stops at the first problem, so `--check` can list them all. Host names are kept as written; resolving them is
the daemon's job.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from . import model
from .model import (
    Association,
    Diagnostic,
    Fudge,
    Interface,
    NtpConfig,
    Origin,
    Restrict,
)

MAX_INCLUDE_DEPTH = 5  # ntpd's MAXINCLUDELEVEL

_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$")
_NUMERIC_DOTS = re.compile(r"^[0-9.]+$")


class ConfigError(Exception):
    """Raised by `load` when a configuration has errors; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


class _LineError(Exception):
    """A malformed line: becomes an error diagnostic for that line."""


@dataclass
class ParseResult:
    """The model and the problems found while building it."""

    config: NtpConfig
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is nothing to report (neither errors nor warnings)."""
        return not self.diagnostics


# ---------------------------------------------------------------- public API


def parse_file(path: str | Path) -> ParseResult:
    """Parse an ntp.conf file and the files it includes."""
    state = _State()
    state.include(str(path), None)
    return ParseResult(state.config, state.diagnostics)


def parse_text(text: str, file: str = "<string>", base_dir: str | Path | None = None) -> ParseResult:
    """Parse ntp.conf text; `file` names it in diagnostics, `base_dir` resolves relative includefiles."""
    state = _State()
    state.parse_lines(text, file, Path(base_dir) if base_dir else Path(file).parent, depth=0)
    return ParseResult(state.config, state.diagnostics)


def check(path: str | Path) -> list[Diagnostic]:
    """Every problem in a configuration (errors and warnings); empty means the file is clean."""
    return parse_file(path).diagnostics


def load(path: str | Path) -> NtpConfig:
    """The configuration at `path`; raises ConfigError when it has errors (warnings are allowed)."""
    result = parse_file(path)
    if result.errors:
        raise ConfigError(result.diagnostics)
    return result.config


def tokenize(line: str) -> list[str]:
    """Split a line as ntpd's scanner does: whitespace separated, "double quoted" strings, # comments."""
    tokens: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
        elif c == "#":
            break
        elif c == '"':
            end = line.find('"', i + 1)
            if end < 0:
                raise _LineError("unterminated quoted string")
            tokens.append(line[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and not line[j].isspace() and line[j] != "#":
                j += 1
            tokens.append(line[i:j])
            i = j
    return tokens


# ---------------------------------------------------------------- value checks


def _int(text: str, what: str, low: int | None = None, high: int | None = None) -> int:
    try:
        value = int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise _LineError(f"{what}: bad number {text!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise _LineError(f"{what}: {value} is out of range [{low}-{high}]")
    return value


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _LineError(f"{what}: bad number {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _LineError(f"{what}: bad number {text!r}")
    return value


def _ip(text: str, what: str) -> str:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise _LineError(f"{what}: bad address {text!r}") from None
    return text


def _host(text: str, what: str) -> str:
    """An IP address or a plausible host name (kept as written; the daemon resolves it)."""
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
        return text
    except ValueError:
        pass
    if _NUMERIC_DOTS.match(text) or not _HOSTNAME.match(text) or text.startswith("-"):
        raise _LineError(f"{what}: bad address {text!r}")
    return text


def _need(args: list[str], i: int, what: str) -> str:
    if i >= len(args):
        raise _LineError(f"{what}: missing argument")
    return args[i]


def _pairs(args: list[str], directive: str) -> Iterator[tuple[str, str]]:
    if len(args) % 2:
        raise _LineError(f"{directive}: option {args[-1]!r} is missing its value")
    for i in range(0, len(args), 2):
        yield args[i], args[i + 1]


# ---------------------------------------------------------------- the parser


class _State:
    def __init__(self) -> None:
        self.config = NtpConfig()
        self.diagnostics: list[Diagnostic] = []
        self.open_files: list[str] = []
        self.handlers: dict[str, Callable[[list[str], Origin], None]] = {
            "server": self._association, "peer": self._association, "pool": self._association,
            "broadcast": self._association, "manycastclient": self._association,
            "broadcastclient": self._broadcastclient, "manycastserver": self._manycastserver,
            "fudge": self._fudge, "driftfile": self._driftfile, "logfile": self._path_setting,
            "statsdir": self._path_setting, "leapfile": self._path_setting, "keysdir": self._path_setting,
            "keys": self._path_setting, "pidfile": self._path_setting,
            "statistics": self._statistics, "filegen": self._filegen, "crypto": self._crypto,
            "trustedkey": self._trustedkey, "controlkey": self._keyid_setting, "requestkey": self._keyid_setting,
            "autokey": self._logsec_setting, "revoke": self._logsec_setting, "restrict": self._restrict,
            "discard": self._discard, "tos": self._tos, "tinker": self._tinker,
            "enable": self._enable, "disable": self._enable, "interface": self._interface, "nic": self._interface,
            "port": self._port, "broadcastdelay": self._broadcastdelay,
        }

    # -- diagnostics and files

    def report(self, origin: Origin, severity: model.Severity, message: str) -> None:
        self.diagnostics.append(Diagnostic(origin.file, origin.line, severity, message))

    def include(self, path: str, origin: Origin | None, depth: int = 0) -> None:
        if depth > MAX_INCLUDE_DEPTH:
            self.report(origin or Origin(path, 0), "error", f"includefile: nesting deeper than {MAX_INCLUDE_DEPTH}")
            return
        resolved = str(Path(path).resolve())
        if resolved in self.open_files:
            self.report(origin or Origin(path, 0), "error", f"includefile: {path} includes itself")
            return
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            where = origin or Origin(path, 0)
            what = "includefile: cannot read" if origin else "cannot read"
            self.report(where, "error", f"{what} {path}: {exc.strerror or exc}")
            return
        if origin is not None:
            self.config.included.append(path)
        self.open_files.append(resolved)
        try:
            self.parse_lines(text, path, Path(path).parent, depth)
        finally:
            self.open_files.pop()

    def parse_lines(self, text: str, file: str, base_dir: Path, depth: int) -> None:
        for number, line in enumerate(text.splitlines(), start=1):
            origin = Origin(file, number)
            try:
                tokens = tokenize(line)
                if not tokens:
                    continue
                directive, args = tokens[0], tokens[1:]
                if directive == "includefile":
                    self._includefile(args, origin, base_dir, depth)
                    continue
                handler = self.handlers.get(directive)
                if handler is None and directive in model.UNSUPPORTED_DIRECTIVES:
                    self.report(origin, "warning", f"ntpd directive {directive!r} is not supported by ntpd-py, line ignored")
                    continue
                if handler is None:
                    self.report(origin, "warning", f"unknown directive {directive!r}, line ignored")
                    continue
                handler([directive, *args], origin)
            except _LineError as exc:
                self.report(origin, "error", str(exc))

    def _set(self, name: str, value: object, origin: Origin) -> None:
        setattr(self.config, name, value)
        self.config.origins[name] = origin

    # -- associations

    def _association(self, tokens: list[str], origin: Origin) -> None:
        kind, args = tokens[0], tokens[1:]
        ipv: int | None = None
        while args and args[0] in ("-4", "-6"):
            ipv = int(args[0][1])
            args = args[1:]
        address = _host(_need(args, 0, kind), kind)
        values: dict[str, object] = {}
        i = 1
        flags = {"iburst", "burst", "prefer", "autokey", "noselect", "true", "preempt", "xleave"}
        while i < len(args):
            option = args[i]
            if option in flags:
                values[option] = True
                i += 1
                continue
            if option not in ("key", "minpoll", "maxpoll", "version", "ttl", "mode", "ident"):
                raise _LineError(f"{kind}: unknown option {option!r}")
            value = _need(args, i + 1, f"{kind} {option}")
            if option == "key":
                values["key"] = _int(value, f"{kind} key", 1, model.NTP_MAXKEY)
            elif option in ("minpoll", "maxpoll"):
                poll = _int(value, f"{kind} {option}")
                if not model.NTP_MINPOLL <= poll <= model.NTP_MAXPOLL:
                    clamped = min(max(poll, model.NTP_MINPOLL), model.NTP_MAXPOLL)
                    self.report(origin, "warning", f"{kind} {option} {poll} is out of range "
                                f"[{model.NTP_MINPOLL}-{model.NTP_MAXPOLL}], using {clamped}")
                    poll = clamped
                values[option] = poll
            elif option == "version":
                values["version"] = _int(value, f"{kind} version", 1, 4)
            elif option == "ttl":
                values["ttl"] = _int(value, f"{kind} ttl", 0, 255)
            elif option == "mode":
                values["mode"] = _int(value, f"{kind} mode", 0, 0xFFFFFFFF)
            else:
                values["ident"] = value
            i += 2
        minpoll = int(values.get("minpoll", model.NTP_MINDPOLL))  # type: ignore[arg-type]
        maxpoll = int(values.get("maxpoll", model.NTP_MAXDPOLL))  # type: ignore[arg-type]
        if minpoll > maxpoll:
            if "maxpoll" in values and "minpoll" in values:
                raise _LineError(f"{kind}: minpoll {minpoll} is greater than maxpoll {maxpoll}")
            # one bound given beyond the other's default: ntpd moves the default along
            if "minpoll" in values:
                values["maxpoll"] = minpoll
            else:
                values["minpoll"] = maxpoll
        self.config.associations.append(
            Association(kind=kind, address=address, origin=origin, ipv=ipv, **values)  # type: ignore[arg-type]
        )

    def _broadcastclient(self, tokens: list[str], origin: Origin) -> None:
        for option in tokens[1:]:
            if option != "novolley":
                raise _LineError(f"broadcastclient: unknown option {option!r}")
        self._set("broadcastclient", True, origin)

    def _manycastserver(self, tokens: list[str], origin: Origin) -> None:
        _need(tokens, 1, "manycastserver")
        for address in tokens[1:]:
            self.config.manycastservers.append(_ip(address, "manycastserver"))
        self.config.origins["manycastservers"] = origin

    def _fudge(self, tokens: list[str], origin: Origin) -> None:
        address = _ip(_need(tokens, 1, "fudge"), "fudge")
        if not address.startswith(model.REFCLOCK_PREFIX):
            raise _LineError(f"fudge: {address} is not a reference clock address (127.127.t.u)")
        values: dict[str, object] = {}
        flags: dict[str, int] = {}
        for option, value in _pairs(tokens[2:], "fudge"):
            if option == "stratum":
                values["stratum"] = _int(value, "fudge stratum", 0, 15)
            elif option == "refid":
                values["refid"] = value[:4]
            elif option in ("time1", "time2"):
                values[option] = _float(value, f"fudge {option}")
            elif option in ("flag1", "flag2", "flag3", "flag4"):
                flags[option] = _int(value, f"fudge {option}", 0, 1)
            else:
                raise _LineError(f"fudge: unknown option {option!r}")
        self.config.fudges.append(Fudge(address=address, origin=origin, flags=flags, **values))  # type: ignore[arg-type]

    # -- files

    def _driftfile(self, tokens: list[str], origin: Origin) -> None:
        path = _need(tokens, 1, "driftfile")
        if len(tokens) > 3:
            raise _LineError("driftfile: too many arguments")
        if len(tokens) == 3:
            _float(tokens[2], "driftfile tolerance")
        self._set("driftfile", path, origin)

    def _path_setting(self, tokens: list[str], origin: Origin) -> None:
        name = tokens[0]
        path = _need(tokens, 1, name)
        if len(tokens) > 2:
            raise _LineError(f"{name}: too many arguments")
        self._set(name, path, origin)

    def _includefile(self, args: list[str], origin: Origin, base_dir: Path | None = None, depth: int = 0) -> None:
        path = _need(args, 0, "includefile")
        if len(args) > 1:
            raise _LineError("includefile: too many arguments")
        target = Path(path)
        if not target.is_absolute() and base_dir is not None:
            target = base_dir / target
        self.include(str(target), origin, depth + 1)

    # -- statistics

    def _statistics(self, tokens: list[str], origin: Origin) -> None:
        _need(tokens, 1, "statistics")
        for name in tokens[1:]:
            if name not in model.FILEGEN_NAMES:
                raise _LineError(f"statistics: unknown statistics set {name!r}")
        for name in tokens[1:]:
            if name not in self.config.statistics:
                self.config.statistics.append(name)
            self.config.filegens[name] = replace(self.config.filegen(name), enabled=True,
                                                 origin=self.config.filegen(name).origin or origin)
        self.config.origins["statistics"] = origin

    def _filegen(self, tokens: list[str], origin: Origin) -> None:
        name = _need(tokens, 1, "filegen")
        if name not in model.FILEGEN_NAMES:
            raise _LineError(f"filegen: unknown statistics set {name!r}")
        current = self.config.filegen(name)
        values: dict[str, object] = {"origin": origin}
        args = tokens[2:]
        i = 0
        while i < len(args):
            option = args[i]
            if option in ("file", "type"):
                value = _need(args, i + 1, f"filegen {name} {option}")
                if option == "type" and value not in model.FILEGEN_TYPES:
                    raise _LineError(f"filegen {name}: unknown type {value!r} "
                                     f"(one of {', '.join(model.FILEGEN_TYPES)})")
                if option == "file" and ("/" in value or not value):
                    raise _LineError(f"filegen {name}: file {value!r} must be a plain name (statsdir gives the directory)")
                values[option] = value
                i += 2
            elif option in ("link", "nolink"):
                values["link"] = option == "link"
                i += 1
            elif option in ("enable", "disable"):
                values["enabled"] = option == "enable"
                i += 1
            else:
                raise _LineError(f"filegen {name}: unknown option {option!r}")
        self.config.filegens[name] = replace(current, **values)  # type: ignore[arg-type]

    # -- authentication

    def _crypto(self, tokens: list[str], origin: Origin) -> None:
        crypto = self.config.crypto
        for option, value in _pairs(tokens[1:], "crypto"):
            if option not in model.CRYPTO_OPTIONS:
                raise _LineError(f"crypto: unknown option {option!r}")
            setattr(crypto, option, value)
        crypto.present = True
        crypto.origin = origin
        self.config.origins["crypto"] = origin

    def _trustedkey(self, tokens: list[str], origin: Origin) -> None:
        _need(tokens, 1, "trustedkey")
        keys: set[int] = set()
        args = tokens[1:]
        i = 0
        while i < len(args):
            arg = args[i]
            if arg.startswith("("):  # ntpd 4.2.8 form: (first ... last)
                group = " ".join(args[i:])
                m = re.match(r"^\(\s*(\S+)\s+\.\.\.\s+(\S+)\s*\)", group)
                if not m:
                    raise _LineError("trustedkey: bad range, expected (FIRST ... LAST)")
                first = _int(m.group(1), "trustedkey", 1, model.NTP_MAXKEY)
                last = _int(m.group(2), "trustedkey", 1, model.NTP_MAXKEY)
                if first > last:
                    raise _LineError(f"trustedkey: empty range ({first} ... {last})")
                keys.update(range(first, last + 1))
                consumed = len(m.group(0).split())
                i += consumed
                continue
            if re.fullmatch(r"\d+-\d+", arg):
                first_s, last_s = arg.split("-")
                first = _int(first_s, "trustedkey", 1, model.NTP_MAXKEY)
                last = _int(last_s, "trustedkey", 1, model.NTP_MAXKEY)
                if first > last:
                    raise _LineError(f"trustedkey: empty range {arg}")
                keys.update(range(first, last + 1))
            else:
                keys.add(_int(arg, "trustedkey", 1, model.NTP_MAXKEY))
            i += 1
        self.config.trustedkeys |= keys
        self.config.origins["trustedkeys"] = origin

    def _keyid_setting(self, tokens: list[str], origin: Origin) -> None:
        name = tokens[0]
        if len(tokens) > 2:
            raise _LineError(f"{name}: too many arguments")
        self._set(name, _int(_need(tokens, 1, name), name, 1, model.NTP_MAXKEY), origin)

    def _logsec_setting(self, tokens: list[str], origin: Origin) -> None:
        name = tokens[0]
        if len(tokens) > 2:
            raise _LineError(f"{name}: too many arguments")
        default = model.NTP_AUTOMAX if name == "autokey" else model.NTP_REVOKE
        value = _int(tokens[1], f"{name} logsec", 1, 31) if len(tokens) == 2 else default
        self._set(name, value, origin)

    # -- access control

    def _restrict(self, tokens: list[str], origin: Origin) -> None:
        args = tokens[1:]
        ipv: int | None = None
        while args and args[0] in ("-4", "-6"):
            ipv = int(args[0][1])
            args = args[1:]
        address = _need(args, 0, "restrict")
        if address not in ("default", "source"):
            _host(address, "restrict")
        mask: str | None = None
        ippeerlimit: int | None = None
        flags: set[str] = set()
        i = 1
        while i < len(args):
            option = args[i]
            if option == "mask":
                mask = _ip(_need(args, i + 1, "restrict mask"), "restrict mask")
                i += 2
            elif option == "ippeerlimit":
                ippeerlimit = _int(_need(args, i + 1, "restrict ippeerlimit"), "restrict ippeerlimit", -1, 100)
                i += 2
            elif option == "serverresponse" and i + 1 < len(args) and args[i + 1] == "fuzz":
                flags.add("serverresponse fuzz")
                i += 2
            elif option in model.RESTRICT_FLAGS:
                flags.add(option)
                i += 1
            else:
                raise _LineError(f"restrict: unknown flag {option!r}")
        if mask is not None and address in ("default", "source"):
            raise _LineError(f"restrict: mask is not allowed with {address!r}")
        self.config.restricts.append(Restrict(address=address, origin=origin, mask=mask, ipv=ipv,  # type: ignore[arg-type]
                                              flags=frozenset(flags), ippeerlimit=ippeerlimit))

    def _discard(self, tokens: list[str], origin: Origin) -> None:
        _need(tokens, 1, "discard")
        for option, value in _pairs(tokens[1:], "discard"):
            if option not in model.DISCARD_OPTIONS:
                raise _LineError(f"discard: unknown option {option!r}")
            self.config.discard[option] = _int(value, f"discard {option}", 0, 1 << 20)
        self.config.origins["discard"] = origin

    def _tos(self, tokens: list[str], origin: Origin) -> None:
        _need(tokens, 1, "tos")
        parsed: dict[str, float] = {}
        for option, value in _pairs(tokens[1:], "tos"):
            if option not in model.TOS_OPTIONS:
                raise _LineError(f"tos: unknown option {option!r}")
            number = _float(value, f"tos {option}")
            if option in ("orphan", "ceiling", "floor") and not 0 <= number <= 16:
                raise _LineError(f"tos {option}: {value} is out of range [0-16]")
            if option != "orphanwait" and number < 0:
                raise _LineError(f"tos {option}: {value} must not be negative")
            parsed[option] = number
        self.config.tos.update(parsed)
        self.config.origins["tos"] = origin

    def _tinker(self, tokens: list[str], origin: Origin) -> None:
        _need(tokens, 1, "tinker")
        for option, value in _pairs(tokens[1:], "tinker"):
            if option not in model.TINKER_OPTIONS:
                raise _LineError(f"tinker: unknown option {option!r}")
            self.config.tinker[option] = _float(value, f"tinker {option}")
        self.config.origins["tinker"] = origin

    def _enable(self, tokens: list[str], origin: Origin) -> None:
        name = tokens[0]
        _need(tokens, 1, name)
        for flag in tokens[1:]:
            if flag not in model.SYSTEM_FLAGS:
                raise _LineError(f"{name}: unknown flag {flag!r}")
        for flag in tokens[1:]:
            if name == "enable":
                self.config.enabled.add(flag)
            else:
                self.config.enabled.discard(flag)
            self.config.origins[f"{name} {flag}"] = origin

    def _interface(self, tokens: list[str], origin: Origin) -> None:
        name = tokens[0]
        action = _need(tokens, 1, name)
        if action not in ("listen", "ignore", "drop"):
            raise _LineError(f"{name}: unknown action {action!r} (listen, ignore or drop)")
        target = _need(tokens, 2, f"{name} {action}")
        if len(tokens) > 3:
            raise _LineError(f"{name}: too many arguments")
        if target not in ("all", "ipv4", "ipv6", "wildcard"):
            if "/" in target:
                try:
                    ipaddress.ip_network(target, strict=False)
                except ValueError:
                    raise _LineError(f"{name}: bad address {target!r}") from None
            elif not (target[:1].isdigit() or ":" in target):
                pass  # an interface name such as eth0 or lo
            else:
                _ip(target, name)
        self.config.interfaces.append(Interface(action=action, target=target, origin=origin))  # type: ignore[arg-type]

    # -- extensions and small settings

    def _port(self, tokens: list[str], origin: Origin) -> None:
        if len(tokens) != 2:
            raise _LineError("port: expected one port number")
        self._set("port", _int(tokens[1], "port", 1, 65535), origin)

    def _broadcastdelay(self, tokens: list[str], origin: Origin) -> None:
        if len(tokens) != 2:
            raise _LineError("broadcastdelay: expected one number of seconds")
        self._set("broadcastdelay", _float(tokens[1], "broadcastdelay"), origin)
