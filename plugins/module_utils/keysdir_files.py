# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""File and link operations on a keys directory: atomic writes and link switches, and the names ntp-keygen uses.

The key formats belong to ntpd_py.keys; this only puts given bytes under given names, atomically, and points
the standard link (ntpkey_iffpar_GR1 -> ntpkey_iffpar_GR1.4004323481) at them, as ntp-keygen does.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile

# ntp-keygen names its files ntpkey_<type>_<name>.<filestamp>, filestamp = NTP seconds at generation.
KEY_FILE_NAME = re.compile(r"^(?P<link>ntpkey_[A-Za-z0-9-]+_[^./\s][^/\s]*?)\.(?P<filestamp>\d+)$")
# ... and writes the file name again as the first comment line.
HEADER_NAME = re.compile(r"^#\s*(?P<name>ntpkey_\S+)\s*$", re.MULTILINE)


def split_key_file_name(name: str) -> tuple[str, int] | None:
    """(link name, filestamp) of an ntp-keygen file name, or None when the name is not one."""
    match = KEY_FILE_NAME.match(name)
    if match is None:
        return None
    return match.group("link"), int(match.group("filestamp"))


def name_from_header(content: str) -> str | None:
    """The file name ntp-keygen wrote in the first header line, if any."""
    for line in content.splitlines()[:3]:
        match = HEADER_NAME.match(line)
        if match:
            return match.group("name")
    return None


def sha256_file(path: str) -> str | None:
    """Content hash, or None when the file does not exist (for diffs that must not show secrets)."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def read_link(path: str) -> str | None:
    """Target of a symbolic link, or None when path is not a link."""
    return os.readlink(path) if os.path.islink(path) else None


def write_file_atomically(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write data to a temporary file beside path with its final mode, fsync it, then rename it into place.

    A plain rename rather than AnsibleModule.atomic_move: the latter gives a new file the umask's mode first,
    which would leave a private file readable for a moment.
    """
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def point_link(link_path: str, target: str) -> None:
    """Make link_path a symbolic link to target (a name in the same directory), replacing an old link atomically."""
    directory = os.path.dirname(link_path) or "."
    tmp = os.path.join(directory, ".tmp-link-%s-%d" % (os.path.basename(link_path), os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link_path)
