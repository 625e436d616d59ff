"""Wiring: build Autokey from ntp.conf (`crypto ...`, `keysdir`, `autokey`, `revoke`) and plug it into an NtpHost.

This is the shell's side of Autokey: every key file is read here (through ntpd_py.keys.store), at start and
on SIGHUP, and handed to the pure core (ntpd_py/autokey) as one immutable `HostCredentials`.  Client
identity parameters too: every ``ntpkey_<iff|gq|mv>par_<group>`` of the keys directory (and of each group
ntp.conf names) is loaded up front, so the exchange never opens a file.

ntpd 4.2.8p15 semantics: `crypto host NAME` names the host (file names and certificate subject),
`crypto pw` decrypts the keys (default: the host name), `crypto ident GROUP` names the server identity
files, `crypto cert|sign|iffpar|gqpar|mvpar FILE` override paths, `crypto leap FILE` (or `leapfile`, or
keysdir/ntpkey_leap) gives the leap table, `crypto digest D` the session-key digest (default md5).
Failures raise `AutokeySetupError` naming the file (and the ntp.conf line of the crypto command).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from ..autokey.authenticator import AutokeyAuth
from ..autokey.errors import AutokeyError
from ..autokey.local_host import ANY_GROUP, AutokeyHost, HostCredentials, IdentityKeys
from ..autokey.leapfile import LeapFileError, LeapTable
from ..autokey.leapfile import load as load_leap
from ..config.model import NtpConfig
from ..engine.host import NtpHost
from ..keys.files import KeyFileError
from ..keys.store import SCHEMES, KeyStore

DEFAULT_KEYSDIR = "/usr/local/etc"  # ntpd's NTP_KEYSDIR
SUPPORTED_DIGESTS = ("md5", "sha1", "sha256", "sha224", "sha384", "sha512", "ripemd160")


class AutokeySetupError(ValueError):
    """Autokey cannot start: the message names the file or configuration line."""


def _where(config: NtpConfig) -> str:
    origin = config.crypto.origin
    return f"{origin}: " if origin else ""


def key_store(config: NtpConfig) -> KeyStore:
    crypto = config.crypto
    overrides = {kind: getattr(crypto, kind) for kind in ("cert", "sign", "iffpar", "gqpar", "mvpar") if getattr(crypto, kind)}
    return KeyStore(Path(config.keysdir or DEFAULT_KEYSDIR), host=crypto.host, password=crypto.pw, group=crypto.ident,
                    overrides=overrides)


def _leap_table(config: NtpConfig, store: KeyStore) -> LeapTable | None:
    candidates = [p for p in (config.crypto.leap, config.leapfile) if p]
    for path in candidates:
        full = Path(path) if Path(path).is_absolute() else store.keysdir / path
        return load_leap(full)
    link = store.keysdir / "ntpkey_leap"
    if link.exists():
        return load_leap(link)
    return None


def credentials_from_config(config: NtpConfig, stats: Callable[[str, str], None] | None = None) -> HostCredentials:
    """crypto_setup(): load everything a host needs; errors name the file."""
    store = key_store(config)
    digest = (config.crypto.digest or "md5").lower()
    if digest not in SUPPORTED_DIGESTS:
        raise AutokeySetupError(f"{_where(config)}crypto digest {digest!r} is not supported")
    try:
        host_key = store.host_key()
        sign_key = store.sign_key()
        cert = store.certificate()
        server: dict[str, Any] = {}
        for scheme in SCHEMES:
            if store.has_server_identity(scheme):
                loaded = store.server_identity(scheme)
                server[scheme], server[f"{scheme}_fstamp"] = loaded.value, loaded.filestamp or 0
        ident = IdentityKeys(**server, clients=_client_parameters(config, store, stats))
        leap = _leap_table(config, store)
    except (KeyFileError, LeapFileError) as exc:
        raise AutokeySetupError(f"{_where(config)}{exc}") from None
    if stats is not None:
        stats("0.0.0.0", f"{host_key.path.name} mod {host_key.value.key_size}")
        stats("0.0.0.0", f"{cert.path.name} 0x{cert.value.cert_flags:x} len {len(cert.value.der)}")
    return HostCredentials(host_key=host_key.value, host_fstamp=host_key.filestamp or 0, certificate=cert.value,
                           cert_fstamp=cert.filestamp or 0, sign_key=sign_key.value, identity=ident, leap=leap,
                           digest=digest, ident=config.crypto.ident)


def client_groups(config: NtpConfig, store: KeyStore) -> dict[str, set[str]]:
    """Per scheme, the groups whose client parameters this host may need: those with a
    ``ntpkey_<scheme>par_<group>`` (or the older ``ntpkey_<scheme>_<group>``) in the keys directory, and
    every group ntp.conf names (`ident` of an association, `crypto ident`)."""
    named = {item.ident for item in config.associations if item.ident}
    if config.crypto.ident:
        named.add(config.crypto.ident)
    try:
        present = os.listdir(store.keysdir)
    except OSError:
        present = []
    groups: dict[str, set[str]] = {}
    for scheme in SCHEMES:
        found = set(named)
        for prefix in (f"ntpkey_{scheme}par_", f"ntpkey_{scheme}_"):
            found.update(name[len(prefix):] for name in present if name.startswith(prefix) and len(name) > len(prefix))
        groups[scheme] = found
    return groups


def _client_parameters(config: NtpConfig, store: KeyStore, stats: Callable[[str, str], None] | None) -> MappingProxyType:
    """Every client identity parameter set this host may use, read now: (scheme, group) -> (params, fstamp).

    A file that exists but cannot be used is noted in cryptostats (naming it and why) and left out: the
    exchange then reports "no identity parameters" for that group, as when there is no file at all."""
    note = stats or (lambda source, line: None)
    out: dict[tuple[str, str], tuple[Any, int]] = {}

    def load(scheme: str, group: str, label: str) -> None:
        try:
            loaded = store.client_identity(scheme, group)
        except (KeyFileError, ValueError) as exc:
            note("0.0.0.0", f"identity parameters for group {label}: {exc}")
            return
        out[(scheme, group)] = (loaded.value, loaded.filestamp or 0)
        note("0.0.0.0", f"{loaded.path.name} loaded for group {label}")

    for scheme, groups in client_groups(config, store).items():
        if f"{scheme}par" in store.overrides:  # `crypto <scheme>par FILE`: one file for every group
            load(scheme, ANY_GROUP, "any")
            continue
        for group in sorted(groups):
            if store.has_client_identity(scheme, group):
                load(scheme, group, group)
    return MappingProxyType(out)


def attach(ntp_host: NtpHost, creds: HostCredentials, now: float) -> AutokeyAuth:
    """Put Autokey, with the credentials the shell read, in front of `ntp_host`'s symmetric keys (called by
    the daemon when `crypto` is configured).

    The engine is reached only through its public face: `record` for cryptostats lines, and its
    `associations` (declared as engine.authenticator.AssociationSource) for SIGHUP's restarts and the
    broadcaster's values; it pushes its synchronization through the `Authenticator` hook."""
    config = ntp_host.config
    try:
        host = AutokeyHost(creds, revoke_log2=config.revoke, stats=cryptostats(ntp_host))
    except AutokeyError as exc:
        raise AutokeySetupError(f"{_where(config)}{exc}") from None
    auth = AutokeyAuth(host, ntp_host.symmetric, automax_log2=config.autokey, engine=ntp_host)
    auth.synchronized(ntp_host.sys.leap != 3, now)
    ntp_host.authenticator = auth
    return auth


def cryptostats(ntp_host: NtpHost) -> Callable[[str, str], None]:
    """A (source, line) writer of cryptostats records through the engine's public `record`."""

    def record(source: str, line: str) -> None:
        ntp_host.record("cryptostats", f"{source} {line}")

    return record


def attach_from_config(ntp_host: NtpHost, now: float) -> AutokeyAuth:
    """Read the credentials `ntp_host.config` names and attach Autokey with them (start-up, tests, tools)."""
    return attach(ntp_host, credentials_from_config(ntp_host.config, cryptostats(ntp_host)), now)


def reload_credentials(ntp_host: NtpHost, auth: AutokeyAuth, config: NtpConfig) -> bool:
    """SIGHUP: read the key files `config` names and offer them to `auth`, which applies them when the engine
    reloads (restarting only the exchanges whose keys changed).  A failure keeps the running keys and is
    written to cryptostats, naming the file."""
    record = cryptostats(ntp_host)
    try:
        creds = credentials_from_config(config, record)
    except Exception as exc:  # AutokeySetupError names the file; any failure keeps the running keys
        record("0.0.0.0", f"reload failed, keeping the running keys: {exc}")
        return False
    auth.offer_credentials(creds)
    return True
