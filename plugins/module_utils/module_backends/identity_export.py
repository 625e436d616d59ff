# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""The ntp_identity_export module's backend, shaped as community.crypto's backends.

`IdentityExportBackend(params)`: `generate()` runs ntp-keygen -e (and -q) through ntpd_py in memory (no temporary
directory), `needs_regeneration()` tells whether the files in `dest` differ in meaning from the export (a new
date line or salt is not a difference), `write()` puts them there atomically and `dump()` returns the values the
module reports. ntpd_py is used only after check_ntpd_py passed.
"""

from __future__ import annotations

import os
import stat
import time

from ansible_collections.autokey.ntp.plugins.module_utils import ntpd_py_import as ntpd

# ntp-keygen's file kinds: client parameters and the (re-encrypted) server key of each scheme.
CLIENT_KIND = {"iff": "iffpar", "gq": "gqpar", "mv": "mvpar"}
SERVER_KIND = {"iff": "iffkey", "gq": "gqkey", "mv": "mvkey"}
# Exported files hold group secrets (client parameters, an encrypted server key): owner only.
EXPORT_MODE = 0o600


class ExportError(Exception):
    """The export cannot be made or written; nothing was written."""


def pick(written: dict[str, str], kind: str, group: str) -> tuple[str, str]:
    """(file name, content) of the newest ntpkey_<kind>_<group>.<filestamp> exported; ("", "") if none."""
    wanted = ntpd.key_files.link_name(kind, group).lower()
    best, best_filestamp = None, None
    for name in written:
        parts = ntpd.key_files.parse_file_name(name)
        if parts is None or ntpd.key_files.link_name(parts[0], parts[1]).lower() != wanted:
            continue
        if best is None or parts[2] > best_filestamp:
            best, best_filestamp = name, parts[2]
    return (best, written[best]) if best else ("", "")


def key_meaning(text: str, origin: str, password: str | None) -> list | None:
    """The PEM blocks of a key file's text, encrypted ones decrypted; None if unreadable or undecryptable.

    Comparing meanings, not bytes, keeps dest idempotent: every export has a new date line, and an encrypted
    export a new salt.
    """
    try:
        parsed = ntpd.key_files.parse_key_text(text, origin)
    except ntpd.key_files.KeyFileError:
        return None
    meaning = []
    for block in parsed.blocks:
        if not block.encrypted:
            meaning.append((block.label, block.der, sorted(block.headers.items())))
            continue
        if password is None:
            return None
        try:
            meaning.append(("decrypted",) + ntpd.key_pem.decrypt_block(block, password, origin))
        except ntpd.key_files.KeyFileError:
            return None
    return meaning


def read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None


class IdentityExportBackend:
    """One export: made in memory, compared with dest, written there when it differs."""

    def __init__(self, params: dict) -> None:
        self.params = params
        self.scheme = params["scheme"]
        self.group = params["group"]
        self.filename = self.content = ""
        self.server_filename = self.server_content = ""
        self.to_write: list[tuple[str, str]] = []  # (file name, content)
        self.makes_dest = False

    def group_key_link(self) -> str:
        kind = "mvta" if self.scheme == "mv" else SERVER_KIND[self.scheme]
        return os.path.join(self.params["keysdir"], ntpd.key_files.link_name(kind, self.group))

    def generate(self) -> None:
        """ntp-keygen -e (and -q PW) through ntpd_py, in memory."""
        params = self.params
        try:
            result = ntpd.keygen.generate(ntpd.keygen.KeygenOptions(
                host=params["host"], group=self.group, password=params["password"], export=True,
                export_password=params["export_password"],
                mv_client=params["mv_client"] if self.scheme == "mv" else None, write_certificate=False,
            ), params["keysdir"], time.time())
        except (ntpd.keygen.KeygenError, ntpd.key_files.KeyFileError) as exc:
            raise ExportError("cannot export %s parameters of %s from %s: %s"
                              % (self.scheme.upper(), self.group, params["keysdir"], exc))
        written = result.export_files
        self.filename, self.content = pick(written, CLIENT_KIND[self.scheme], self.group)
        if not self.filename:
            raise ExportError("ntpd_py exported no %s parameters for trust group %s from %s"
                              % (self.scheme.upper(), self.group, params["keysdir"]))
        if params["export_password"] is not None:
            self.server_filename, self.server_content = pick(written, SERVER_KIND[self.scheme], self.group)

    def needs_regeneration(self) -> bool:
        """True when dest is missing, or a file there differs in meaning (or mode) from the export."""
        dest = self.params["dest"]
        if dest is None:
            return False
        self.makes_dest = not os.path.isdir(dest)
        self.to_write = []
        wanted = [(self.filename, self.content, None)]
        if self.server_filename:
            wanted.append((self.server_filename, self.server_content, self.params["export_password"]))
        for name, content, password in wanted:
            target = os.path.join(dest, name)
            present = read_text(target) if os.path.isfile(target) and not os.path.islink(target) else None
            if (present is not None and stat.S_IMODE(os.stat(target).st_mode) == EXPORT_MODE
                    and key_meaning(present, target, password) == key_meaning(content, name, password)):
                continue
            self.to_write.append((name, content))
        return self.makes_dest or bool(self.to_write)

    def write(self) -> None:
        dest = self.params["dest"]
        try:
            if self.makes_dest:
                os.makedirs(dest, mode=0o700)
            for name, content in self.to_write:
                ntpd.key_files.atomic_write(os.path.join(dest, name), content.encode("ascii"), EXPORT_MODE)
        except (OSError, ntpd.key_files.KeyFileError) as exc:
            raise ExportError("cannot write the export to %s: %s" % (dest, exc))

    def dump(self) -> dict:
        """The return values (before withholding those a password occurs in)."""
        parts = ntpd.key_files.parse_file_name(self.filename)
        if parts is not None:
            link_name, filestamp = ntpd.key_files.link_name(parts[0], parts[1]), parts[2]
        else:
            link_name, filestamp = self.filename, None
        result = dict(content=self.content, filename=self.filename, link_name=link_name, filestamp=filestamp)
        dest = self.params["dest"]
        if dest is not None:
            result["path"] = os.path.join(dest, self.filename)
        if self.server_filename:
            result.update(server_key_filename=self.server_filename, server_key_content=self.server_content)
            if dest is not None:
                result["server_key_path"] = os.path.join(dest, self.server_filename)
        return result
