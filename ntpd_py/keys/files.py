"""Key file names, headers, links and atomic writes, as ntp-keygen 4.2.8 lays them out.

A key file is ``ntpkey_<Type>_<owner>.<filestamp>`` (filestamp = NTP seconds of generation), starts with two
comment lines (``# <file name>`` and ``# <ctime date>``) and a blank line, then PEM blocks.  ntpd finds
files through links ``ntpkey_<kind>_<name>``.  Writes go to a temporary file in the same directory, are
fsynced and renamed, so that a crash or a failure never leaves a half-written key or a dangling link.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644

_FILE_NAME = re.compile(r"^ntpkey_(?P<kind>[A-Za-z0-9-]+)_(?P<owner>.+)\.(?P<stamp>\d+)$")
_HEADER_NAME = re.compile(r"^#\s*(?P<name>ntpkey_\S+)\s*$")
_PEM_BEGIN = re.compile(r"^-----BEGIN (?P<label>[A-Z0-9 ]+)-----\s*$")
_PEM_END = re.compile(r"^-----END (?P<label>[A-Z0-9 ]+)-----\s*$")


class KeyFileError(Exception):
    """A key file that cannot be read or written; the message always names the file."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class WrongPassword(KeyFileError):
    """An encrypted key that does not open with the password given (or none was given): never a reason to replace it."""


def key_file_name(kind: str, owner: str, filestamp: int) -> str:
    """``ntpkey_<kind>_<owner>.<filestamp>``, e.g. ``ntpkey_RSAhost_alice.4004323481``."""
    return f"ntpkey_{kind}_{owner}.{filestamp}"


def link_name(kind: str, name: str) -> str:
    """The generic name ntpd opens, e.g. ``ntpkey_host_alice``."""
    return f"ntpkey_{kind}_{name}"


def parse_file_name(name: str) -> tuple[str, str, int] | None:
    """(kind, owner, filestamp) of an ntp-keygen file name, or None if it is not one."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    return match["kind"], match["owner"], int(match["stamp"])


def header_file_name(text: str) -> str | None:
    """The file name ntp-keygen wrote in a key file's header (`header`), looked for in the first three lines."""
    for line in text.splitlines()[:3]:
        match = _HEADER_NAME.match(line)
        if match:
            return match["name"]
    return None


def ctime_text(unix: float) -> str:
    """The date as C's ctime() prints it in local time (ntp-keygen's second header line), without newline."""
    return time.ctime(int(unix))


def header(file_name: str, unix: float) -> str:
    """ntp-keygen's two header lines and the blank line after them (ctime's own newline)."""
    return f"# {file_name}\n# {ctime_text(unix)}\n\n"


@dataclass(frozen=True)
class PemBlock:
    """One PEM block: its label, RFC 1421 headers (Proc-Type, DEK-Info) and decoded bytes."""

    label: str
    der: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def encrypted(self) -> bool:
        return self.label == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in self.headers.get("Proc-Type", "")


def pem_text(label: str, der: bytes, headers: dict[str, str] | None = None) -> str:
    """PEM armour as OpenSSL writes it: 64-column base64, optional headers then a blank line."""
    body = base64.b64encode(der).decode("ascii")
    lines = [f"-----BEGIN {label}-----"]
    if headers:
        lines += [f"{key}: {value}" for key, value in headers.items()]
        lines.append("")
    lines += [body[i : i + 64] for i in range(0, len(body), 64)]
    lines.append(f"-----END {label}-----")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class KeyFileText:
    """A key file split into what matters: where it is, its filestamp and its PEM blocks."""

    path: Path
    filestamp: int | None
    comments: list[str]
    blocks: list[PemBlock]


def parse_key_text(text: str, path: str | os.PathLike[str]) -> KeyFileText:
    """Split a key file into header comments and PEM blocks; errors name the file and line."""
    comments: list[str] = []
    blocks: list[PemBlock] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        begin = _PEM_BEGIN.match(line)
        if begin is None:
            if line.startswith("#"):
                comments.append(line[1:].strip())
            index += 1
            continue
        label = begin["label"]
        start_line = index + 1
        index += 1
        headers: dict[str, str] = {}
        body: list[str] = []
        while True:
            if index >= len(lines):
                raise KeyFileError(path, f"PEM block {label!r} opened at line {start_line} is truncated (no END line)")
            current = lines[index].strip()
            end = _PEM_END.match(current)
            if end is not None:
                if end["label"] != label:
                    raise KeyFileError(path, f"line {index + 1}: END {end['label']!r} does not match BEGIN {label!r}")
                break
            if ":" in current and not body:
                key, _, value = current.partition(":")
                headers[key.strip()] = value.strip()
            elif current:
                body.append(current)
            index += 1
        index += 1
        try:
            der = base64.b64decode("".join(body), validate=True)
        except ValueError as exc:
            raise KeyFileError(path, f"PEM block {label!r} at line {start_line} has corrupt base64: {exc}") from None
        if not der:
            raise KeyFileError(path, f"PEM block {label!r} at line {start_line} is empty")
        blocks.append(PemBlock(label, der, headers))
    filestamp = _filestamp(comments, Path(path))
    return KeyFileText(Path(path), filestamp, comments, blocks)


def _filestamp(comments: list[str], path: Path) -> int | None:
    """The filestamp from the first header line (as ntpd's readkey does), else from the resolved name."""
    if comments:
        parsed = parse_file_name(comments[0].split()[0]) if comments[0] else None
        if parsed is not None:
            return parsed[2]
    try:
        resolved = path.resolve().name
    except OSError:
        resolved = path.name
    parsed = parse_file_name(resolved)
    return parsed[2] if parsed else None


def read_key_file(path: str | os.PathLike[str]) -> KeyFileText:
    """Read a key file (following links) and split it; missing, unreadable or empty files raise KeyFileError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(path, "no such file (or a dangling link)") from None
    except OSError as exc:
        raise KeyFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(path, "not a PEM text file (binary data)") from None
    parsed = parse_key_text(text, path)
    if not parsed.blocks:
        raise KeyFileError(path, "no PEM block found (empty or truncated file)")
    return parsed


def _discard(tmp: str | os.PathLike[str]) -> None:
    """Remove the temporary file or link of an atomic replace that failed (it may already be gone)."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


# Temporary names of a write in progress: .<final name>.<pid>.<random>.tmp (files), .<link>.<pid>.<n>.lnk (links).
# The writer's PID tells a killed run's leftovers from another run still writing (`clean_stale_temporaries`).
_TEMPORARY = re.compile(r"^\.(?P<name>ntpkey_.+?|ntp\.keys)\.(?P<pid>\d+)\.[^.]+\.(?:tmp|lnk)$")
_TEMPORARY_OLD = re.compile(r"^\.(?:ntpkey_.+|ntp\.keys)\.[^.]+\.(?:tmp|lnk)$")  # written before the PID was part
STALE_WITHOUT_PID = 3600.0  # seconds after which an old-style temporary file without a PID is taken as stale


def _temporary_prefix(name: str) -> str:
    return f".{name}.{os.getpid()}."


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def clean_stale_temporaries(directory: str | os.PathLike[str], now: float) -> list[Path]:
    """Remove the temporary files and links a killed key-writing run left behind (their writer's process is
    gone); a run still in progress keeps its own. Returns what was removed."""
    removed: list[Path] = []
    root = Path(directory)
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = _TEMPORARY.match(path.name)
        if match is not None:
            pid = int(match["pid"])
            if pid == os.getpid() or _process_alive(pid):
                continue
        elif _TEMPORARY_OLD.match(path.name):
            try:
                if now - path.lstat().st_mtime < STALE_WITHOUT_PID:
                    continue
            except OSError:
                continue
        else:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int) -> Path:
    """Write `data` to `path` via a temporary file in the same directory, fsync, chmod, rename."""
    path = Path(path)
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(directory)
    return path


def atomic_symlink(target: str, link: str | os.PathLike[str]) -> Path:
    """Point `link` at `target` (a name relative to the link's directory), replacing any old link atomically."""
    link = Path(link)
    directory = link.parent
    for attempt in range(100):
        tmp = directory / f"{_temporary_prefix(link.name)}{attempt}.lnk"
        try:
            os.symlink(target, tmp)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 stale temp links
        raise KeyFileError(link, "cannot create a temporary link")
    try:
        if link.is_dir() and not link.is_symlink():
            raise KeyFileError(link, "is a directory, not a link")
        os.replace(tmp, link)
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(directory)
    return link


def link_target(link: str | os.PathLike[str]) -> str | None:
    """What `link` points at, as written (not resolved); None when it is not a symbolic link."""
    return os.readlink(link) if os.path.islink(link) else None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class PendingFile:
    """A file to be written by a `KeySetWriter`: its name, bytes and mode."""

    name: str
    data: bytes
    mode: int


class KeySetWriter:
    """Collects files and links, then commits them all at once.

    Everything is staged as temporary files first; only when every temporary file is written are they
    renamed into place and the links switched.  A failure before that leaves the directory untouched.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.files: list[PendingFile] = []
        self.links: dict[str, str] = {}

    def add_file(self, name: str, data: bytes, mode: int) -> None:
        self.files.append(PendingFile(name, data, mode))

    def add_link(self, link: str, target: str) -> None:
        self.links[link] = target

    def check(self) -> None:
        """Raise KeyFileError if committing could not succeed (missing directory, a file where a link goes)."""
        if not self.directory.is_dir():
            raise KeyFileError(self.directory, "keys directory does not exist")
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise KeyFileError(self.directory, "keys directory is not writable")
        for link in self.links:
            path = self.directory / link
            if path.exists() and not path.is_symlink():
                raise KeyFileError(path, "is a regular file where a link belongs; move it away first (nothing written)")

    def commit(self) -> list[Path]:
        """Write every staged file and link; returns the paths of the files written."""
        self.check()
        staged: list[tuple[str, Path]] = []
        try:
            for pending in self.files:
                fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(pending.name), suffix=".tmp", dir=self.directory)
                staged.append((tmp, self.directory / pending.name))
                os.fchmod(fd, pending.mode)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pending.data)
                    handle.flush()
                    os.fsync(handle.fileno())
        except BaseException:
            for tmp, _ in staged:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
            raise
        written: list[Path] = []
        for tmp, final in staged:
            os.replace(tmp, final)
            written.append(final)
        for link, target in self.links.items():
            atomic_symlink(target, self.directory / link)
        _fsync_dir(self.directory)
        return written
