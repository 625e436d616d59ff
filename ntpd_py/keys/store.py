"""What the daemon finds in a keys directory, named as ntpd 4.2.8p15 names it.

At start-up ntpd opens ``ntpkey_host_<host>`` (required), ``ntpkey_sign_<host>`` (optional, else the host
key signs), ``ntpkey_cert_<host>`` (required) and the optional server identity keys
``ntpkey_iffkey_<group>``, ``ntpkey_gqkey_<group>``, ``ntpkey_mvkey_<group>``; a client opens
``ntpkey_<iff|gq|mv>par_<ident>`` when an exchange starts (ntpd-py's daemon reads them all at start and on
SIGHUP instead: ntpd_py/daemon/autokey_wiring.py).  The older guides' names
(``ntpkey_iff_<name>`` for IFF, ``ntpkey_gq_<name>``, ``ntpkey_mv_<name>``) are tried after those.
``crypto host|sign|cert|iffpar|gqpar|mvpar FILE`` override the paths.  Every failure is a KeyFileError that
names the file.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from .cert import Certificate, CertificateError, parse_certificate
from .files import KeyFileError, KeyFileText, link_name, read_key_file
from .identity import IdentityError, gq, iff, mv
from .pem import RawKey, load_private_key, raw_key

T = TypeVar("T")

SCHEMES = ("iff", "gq", "mv")


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """A loaded value with the file it came from (after links) and that file's filestamp."""

    value: T
    path: Path
    filestamp: int | None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path


def read_private_keys(path: str | os.PathLike[str], password: str | None) -> tuple[KeyFileText, list[RawKey]]:
    """Every private key in a file as raw integers (identity parameters, MV files with many keys)."""
    text = read_key_file(path)
    keys = [raw_key(block, password, path) for block in text.blocks if "PRIVATE KEY" in block.label]
    if not keys:
        raise KeyFileError(path, "no private key in file")
    return text, keys


def load_key_file(path: str | os.PathLike[str], password: str | None) -> Loaded[Any]:
    """A host or sign key as a `cryptography` private key."""
    text = read_key_file(path)
    for block in text.blocks:
        if "PRIVATE KEY" in block.label:
            return Loaded(load_private_key(block, password, path), _resolved(Path(path)), text.filestamp)
    raise KeyFileError(path, "no private key in file")


def load_certificate_file(path: str | os.PathLike[str]) -> Loaded[Certificate]:
    """The certificate of a ``ntpkey_cert_*`` file."""
    text = read_key_file(path)
    for block in text.blocks:
        if block.label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            try:
                cert = parse_certificate(block.der)
            except CertificateError as exc:
                raise KeyFileError(path, str(exc)) from None
            return Loaded(cert, _resolved(Path(path)), text.filestamp)
    raise KeyFileError(path, "no CERTIFICATE block in file")


def load_identity_file(path: str | os.PathLike[str], scheme: str, server: bool, password: str | None) -> Loaded[Any]:
    """IFF/GQ parameters or an MV server/client key from a file; inconsistent values raise KeyFileError."""
    text, keys = read_private_keys(path, password)
    try:
        if scheme == "iff":
            value: Any = iff.from_raw(keys[0], server)
            value.check()
        elif scheme == "gq":
            value = gq.from_raw(keys[0], server)
            value.check()
        elif scheme == "mv":
            if len(keys) > 2:  # a trusted-authority file: TA, server, clients
                authority = mv.authority_from_raw(keys)
                value = authority.server if server else authority.clients[0]
            else:
                value = mv.server_from_raw(keys[0]) if server else mv.client_from_raw(keys[0])
            if server:
                value.check()
        else:
            raise KeyFileError(path, f"unknown identity scheme {scheme!r}")
    except IdentityError as exc:
        raise KeyFileError(path, str(exc)) from None
    return Loaded(value, _resolved(Path(path)), text.filestamp)


def load_mv_authority(path: str | os.PathLike[str], password: str | None) -> Loaded[mv.MvTrustedAuthority]:
    """The MV trusted-authority file (ntpkey_MVta_<group>)."""
    text, keys = read_private_keys(path, password)
    try:
        authority = mv.authority_from_raw(keys)
        authority.check()
    except IdentityError as exc:
        raise KeyFileError(path, str(exc)) from None
    return Loaded(authority, _resolved(Path(path)), text.filestamp)


@dataclass
class KeyStore:
    """Key material of one host in `keysdir`; each method loads (and re-reads) one file.

    `host` defaults to the system host name and `password` to the host name, as ntpd does without
    ``crypto host`` / ``crypto pw``.  `group` is the name of the server identity files (ntpd: the host name,
    or ``crypto ident``).  `overrides` maps "host", "sign", "cert", "iffpar", "gqpar", "mvpar" (the
    ``crypto`` keywords) to explicit files, relative names being taken from `keysdir`.
    """

    keysdir: Path
    host: str | None = None
    password: str | None = None
    group: str | None = None
    overrides: dict[str, str | os.PathLike[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keysdir = Path(self.keysdir)
        if self.host is None:
            self.host = socket.gethostname()
        if self.password is None:
            self.password = self.host

    # -- paths

    def path(self, kind: str, name: str) -> Path:
        """``keysdir/ntpkey_<kind>_<name>`` unless ``crypto <kind> FILE`` overrides it."""
        override = self.overrides.get(kind)
        if override is not None:
            override_path = Path(override)
            return override_path if override_path.is_absolute() else self.keysdir / override_path
        return self.keysdir / link_name(kind, name)

    def _first_existing(self, candidates: list[Path]) -> Path:
        for candidate in candidates:
            if candidate.exists():
                return candidate
        return candidates[0]

    # -- host side

    def host_key(self) -> Loaded[Any]:
        """The RSA host key (required)."""
        path = self.path("host", self.host)  # type: ignore[arg-type]
        loaded = load_key_file(path, self.password)
        if not isinstance(loaded.value, rsa.RSAPrivateKey):
            raise KeyFileError(path, "host key is not an RSA key")
        return loaded

    def sign_key(self) -> Loaded[Any]:
        """The sign key (``ntpkey_sign_<host>``), or the host key when there is none."""
        path = self.path("sign", self.host)  # type: ignore[arg-type]
        if "sign" not in self.overrides and not path.exists():
            return self.host_key()
        return load_key_file(path, self.password)

    def certificate(self) -> Loaded[Certificate]:
        """The host's own certificate (required; ntpd insists it is self-signed)."""
        return load_certificate_file(self.path("cert", self.host))  # type: ignore[arg-type]

    def server_identity(self, scheme: str, group: str | None = None) -> Loaded[Any]:
        """IffParams (with b), GqParams (with u, v) or MvServerKey from ``ntpkey_<scheme>key_<group>``."""
        scheme = _check_scheme(scheme)
        name = group or self.group or self.host
        candidates = [self.keysdir / link_name(f"{scheme}key", name), self.keysdir / link_name(scheme, name)]  # type: ignore[arg-type]
        return load_identity_file(self._first_existing(candidates), scheme, True, self.password)

    def has_server_identity(self, scheme: str, group: str | None = None) -> bool:
        scheme = _check_scheme(scheme)
        name = group or self.group or self.host
        return any((self.keysdir / link_name(kind, name)).exists() for kind in (f"{scheme}key", scheme))  # type: ignore[arg-type]

    # -- client side

    def client_identity_path(self, scheme: str, group: str) -> Path:
        """Where ``ntpkey_<scheme>par_<group>`` is looked for (``crypto <scheme>par FILE``, else the link,
        else the older ``ntpkey_<scheme>_<group>``)."""
        scheme = _check_scheme(scheme)
        if self.overrides.get(f"{scheme}par") is not None:
            return self.path(f"{scheme}par", group)
        return self._first_existing(
            [self.keysdir / link_name(f"{scheme}par", group), self.keysdir / link_name(scheme, group)]
        )

    def has_client_identity(self, scheme: str, group: str) -> bool:
        """Is there a file (or a link, even a broken one: loading it says what is wrong) to load?"""
        return os.path.lexists(self.client_identity_path(scheme, group))

    def client_identity(self, scheme: str, group: str) -> Loaded[Any]:
        """IffParams/GqParams without secrets, or an MvClientKey, from ``ntpkey_<scheme>par_<group>``."""
        scheme = _check_scheme(scheme)
        return load_identity_file(self.client_identity_path(scheme, group), scheme, False, self.password)


def _check_scheme(scheme: str) -> str:
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"unknown identity scheme {scheme!r} (iff, gq or mv)")
    return scheme
