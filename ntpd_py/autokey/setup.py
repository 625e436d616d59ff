"""Build Autokey from ntp.conf: `crypto ...`, `keysdir`, `autokey`, `revoke`, and plug it into an NtpHost.

ntpd 4.2.8p15 semantics: `crypto host NAME` names the host (file names and certificate subject),
`crypto pw` decrypts the keys (default: the host name), `crypto ident GROUP` names the server identity
files, `crypto cert|sign|iffpar|gqpar|mvpar FILE` override paths, `crypto leap FILE` (or `leapfile`, or
keysdir/ntpkey_leap) gives the leap table, `crypto digest D` the session-key digest (default md5).
Failures raise `AutokeySetupError` naming the file (and the ntp.conf line of the crypto command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..keys.files import KeyFileError
from ..keys.store import KeyStore
from .auth import AutokeyAuth
from .errors import AutokeyError
from .host import AutokeyHost, HostCredentials, IdentityKeys
from .leapfile import LeapFileError, LeapTable
from .leapfile import load as load_leap

DEFAULT_KEYSDIR = "/usr/local/etc"  # ntpd's NTP_KEYSDIR
SUPPORTED_DIGESTS = ("md5", "sha1", "sha256", "sha224", "sha384", "sha512", "ripemd160")


class AutokeySetupError(ValueError):
    """Autokey cannot start: the message names the file or configuration line."""


def _where(config) -> str:
    origin = getattr(config.crypto, "origin", None)
    return f"{origin}: " if origin else ""


def key_store(config) -> KeyStore:
    crypto = config.crypto
    overrides = {kind: getattr(crypto, kind) for kind in ("cert", "sign", "iffpar", "gqpar", "mvpar") if getattr(crypto, kind)}
    return KeyStore(Path(config.keysdir or DEFAULT_KEYSDIR), host=crypto.host, password=crypto.pw, group=crypto.ident,
                    overrides=overrides)


def _leap_table(config, store: KeyStore) -> LeapTable | None:
    candidates = [p for p in (config.crypto.leap, getattr(config, "leapfile", None)) if p]
    for path in candidates:
        full = Path(path) if Path(path).is_absolute() else store.keysdir / path
        return load_leap(full)
    link = store.keysdir / "ntpkey_leap"
    if link.exists():
        return load_leap(link)
    return None


def credentials_from_config(config, stats: Callable[[str, str], None] | None = None) -> HostCredentials:
    """crypto_setup(): load everything a host needs; errors name the file."""
    store = key_store(config)
    digest = (config.crypto.digest or "md5").lower()
    if digest not in SUPPORTED_DIGESTS:
        raise AutokeySetupError(f"{_where(config)}crypto digest {digest!r} is not supported")
    try:
        host_key = store.host_key()
        sign_key = store.sign_key()
        cert = store.certificate()
        ident = IdentityKeys()
        for scheme in ("iff", "gq", "mv"):
            if store.has_server_identity(scheme):
                loaded = store.server_identity(scheme)
                setattr(ident, scheme, loaded.value)
                setattr(ident, f"{scheme}_fstamp", loaded.filestamp or 0)
        ident.client_params = _client_lookup(store, stats)
        leap = _leap_table(config, store)
    except (KeyFileError, LeapFileError) as exc:
        raise AutokeySetupError(f"{_where(config)}{exc}") from None
    if stats is not None:
        stats("0.0.0.0", f"{host_key.path.name} mod {host_key.value.key_size}")
        stats("0.0.0.0", f"{cert.path.name} 0x{cert.value.cert_flags:x} len {len(cert.value.der)}")
    return HostCredentials(host_key=host_key.value, host_fstamp=host_key.filestamp or 0, certificate=cert.value,
                           cert_fstamp=cert.filestamp or 0, sign_key=sign_key.value, identity=ident, leap=leap,
                           digest=digest, ident=config.crypto.ident)


def _client_lookup(store: KeyStore, stats) -> Callable[[str, str], tuple[Any, int] | None]:
    cache: dict[tuple[str, str], tuple[Any, int] | None] = {}

    def lookup(scheme: str, group: str) -> tuple[Any, int] | None:
        if (scheme, group) not in cache:
            try:
                loaded = store.client_identity(scheme, group)
                cache[(scheme, group)] = (loaded.value, loaded.filestamp or 0)
                if stats is not None:
                    stats("0.0.0.0", f"{loaded.path.name} loaded for group {group}")
            except (KeyFileError, ValueError) as exc:
                if stats is not None:
                    stats("0.0.0.0", f"identity parameters for group {group}: {exc}")
                cache[(scheme, group)] = None
        return cache[(scheme, group)]

    return lookup


def attach(ntp_host, now: float) -> AutokeyAuth:
    """Put Autokey in front of `ntp_host`'s symmetric keys (called by the daemon when `crypto` is configured).

    The engine is reached only through its public face: `record` for cryptostats lines, `associations` for
    SIGHUP's restarts and the broadcaster's values; it pushes its synchronization through the
    `Authenticator` hook."""
    config = ntp_host.config

    def record(source: str, line: str) -> None:
        ntp_host.record("cryptostats", f"{source} {line}")

    creds = credentials_from_config(config, record)
    try:
        host = AutokeyHost(creds, revoke_log2=config.revoke, stats=record)
    except AutokeyError as exc:
        raise AutokeySetupError(f"{_where(config)}{exc}") from None
    auth = AutokeyAuth(host, ntp_host.symmetric, automax_log2=config.autokey,
                       reloader=lambda: credentials_from_config(ntp_host.config, record),
                       associations=lambda: list(ntp_host.associations.values()))
    auth.last_now = now
    auth.synchronized(ntp_host.sys.leap != 3, now)
    ntp_host.authenticator = auth
    return auth
