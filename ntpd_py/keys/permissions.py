"""Who else can read or replace this host's keys: the checks that the daemon warns about and `--check` refuses.

A keys directory that others may write lets them swap a certificate or a private key; a private key that others
may read hands them the host's identity (and, for an authority, the group's). ntpd never checked either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .files import parse_file_name

# ntp-keygen's private files: host and sign keys (RSAhost, DSAsign), group keys (IFFkey, GQkey, MVta), MV client
# keys (mvpar, each client's own), symmetric keys (MD5key). IFF and GQ client parameters (iffpar, gqpar) are public.
_PRIVATE_SUFFIXES = ("host", "sign", "key", "mvta", "mvpar")


def _is_private(name: str) -> bool:
    parsed = parse_file_name(name)
    if parsed is None:
        return False
    return parsed[0].lower().endswith(_PRIVATE_SUFFIXES)


def directory_problems(keysdir: str | os.PathLike[str]) -> list[str]:
    """The keys directory itself: world-writable (or not inspectable). ntpd-py-keygen refuses to write there."""
    root = Path(keysdir)
    try:
        mode = root.stat().st_mode
    except OSError as exc:
        return [f"{root}: cannot inspect the keys directory: {exc.strerror}"]
    if mode & stat.S_IWOTH:  # even with the sticky bit: others can still add a link under a name ntpd opens
        return [f"{root}: keys directory is world-writable (mode {stat.S_IMODE(mode):04o}); "
                f"anyone can replace its keys: chmod o-w {root}"]
    return []


def permission_problems(keysdir: str | os.PathLike[str]) -> list[str]:
    """One message per problem, each naming the path: a directory others may write, a private key others may read."""
    root = Path(keysdir)
    problems = directory_problems(root)
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        return [*problems, f"{root}: cannot list the keys directory: {exc.strerror}"]
    for path in entries:
        if path.is_symlink() or not _is_private(path.name):
            continue
        try:
            file_mode = path.stat().st_mode
        except OSError:
            continue
        if file_mode & (stat.S_IROTH | stat.S_IWOTH):
            problems.append(f"{path}: private key is readable or writable by others (mode {stat.S_IMODE(file_mode):04o}): "
                            f"chmod 600 {path}")
    return problems
