"""The authentication hook: how a packet's MAC and extension fields are checked and produced.

The engine never looks inside a MAC or an extension field itself. It asks an `Authenticator`:

* `check(packet, data, src, dst, assoc, now)` for every arriving NTP packet (modes 1-5), before any
  timestamp is used. `assoc` is the association the packet belongs to (None for a client request to our
  server, or a symmetric-active packet that may mobilize a passive association). The result says whether
  the packet carried no MAC (NONE), a valid one (OK, with the key ID), a bad one (ERROR) or a crypto-NAK
  (CRYPTO_NAK). An implementation may consume extension fields here (Autokey: responses to its requests)
  and keep per-association state in `assoc.auth_state`, a slot the engine never touches.
* `request_tail(assoc, header, now)` for every packet this host originates for an association (client
  mode 3, symmetric modes 1/2, broadcast mode 5): the bytes to append after the 48-byte header, i.e.
  extension fields followed by key ID and digest. b"" sends the packet unauthenticated.
* `reply_tail(request, verdict, src, dst, header, now)` for every server reply (mode 4): the same, for
  a reply to `request` whose check gave `verdict`. The symmetric-key rule, as ntpd: a valid MAC is
  answered with a MAC in the same key, a bad one with a crypto-NAK (a zero key ID alone), none with none.
* `proven(assoc)`: may this association's packets feed the clock?  An Autokey association is proven only
  once its server's identity is (PROV, RFC 5906 section 10); until then the engine discards its samples
  as ntpd's TEST8 does ("not proventic"), whatever the MACs say: a cookie-0 MAC is anyone's to compute.
* `mobilizes(packet, verdict)`: does a verified MAC on a packet with no association count as
  authentication for mobilizing one where restrict demands it (`nopeer`, `notrust`)?  Autokey's cookie-0
  MACs do not: anyone can compute them.
* `next_step(assoc, now)`: when the authenticator wants this association's next packet sent (absolute
  time), asked after every packet in and out and after `reload`; None leaves the poll schedule alone.
* `broadcast_ready(assoc)`: may a broadcast client's client/server volley end and the association listen?
* `synchronized(flag, now)`: the engine says whether this host is synchronized (Autokey signs only then).
* `peer_variables(assoc)` / `system_variables()`: extra (name, value) pairs for mode-6 READVAR
  (Autokey adds host, flags, signature, cert...), and `reload(now)` on SIGHUP.

An authenticator that needs the engine's associations beyond the one a call names (Autokey's broadcaster,
its SIGHUP restarts) is handed the engine as an `AssociationSource`: a read-only mapping by association ID,
declared below, never a callback or a probe.

Every method has a default in the `Authenticator` base below, so an implementation states only what it
changes. `SymmetricKeyAuth` is the first implementation (keys file, `trustedkey`, `key N` on a server or
peer line). Autokey (RFC 5906, ntpd_py/autokey/authenticator.py) derives from the same base, delegating key IDs up
to 65535 to a `SymmetricKeyAuth` and handling session key IDs (> 65535) and extension fields itself.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..symkeys.keyfile import SymmetricKey
from ..symkeys.mac import compute_mac, digest_length, verify_mac
from ..wire.packet import NtpPacket

Address = tuple[str, int]
CRYPTO_NAK = b"\0\0\0\0"


class Verdict(enum.Enum):
    NONE = "none"  # no MAC
    OK = "ok"
    ERROR = "error"  # unknown or untrusted key, wrong length, digest mismatch
    CRYPTO_NAK = "crypto-nak"
    DECLINED = "declined"  # refused before authentication (Autokey group rules): dropped, counted as declined


@dataclass(frozen=True, slots=True)
class AuthResult:
    verdict: Verdict
    keyid: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


AUTH_NONE = AuthResult(Verdict.NONE)


@dataclass(frozen=True)
class SessionKeys:
    """A hash constructor (hashlib.md5, ...), the key that checks a request's MAC and the one that signs
    its reply (ntpd's session_key() both ways)."""

    hasher: Callable[[bytes], Any]
    receive: bytes
    reply: bytes


class AssociationAuthView(Protocol):
    """What an authenticator may read of an association (engine.association.Association provides it)."""

    assid: int
    srcadr: Address
    dstadr: str | None
    hmode: int
    keyid: int | None
    autokey: bool
    ident: str | None
    hpoll: int
    auth_state: Any


class AssociationSource(Protocol):
    """Where an authenticator finds the engine's associations (`NtpHost` is one), by association ID: a
    broadcaster answers a client's AUTO request with the signed values of the broadcast association it
    names, and SIGHUP restarts the exchanges whose keys changed. Read only: associations are the engine's."""

    @property
    def associations(self) -> Mapping[int, AssociationAuthView]: ...


class Authenticator(Protocol):
    """Everything the engine asks of authentication; derive from it to inherit the defaults."""

    def check(self, packet: NtpPacket, data: bytes, src: Address, dst: str | None,
              assoc: AssociationAuthView | None, now: float) -> AuthResult: ...

    def request_tail(self, assoc: AssociationAuthView, header: bytes, now: float) -> bytes: ...

    def reply_tail(self, request: NtpPacket, verdict: AuthResult, src: Address, dst: str | None,
                   header: bytes, now: float) -> bytes: ...

    def proven(self, assoc: AssociationAuthView) -> bool:
        """Default: a MAC that verifies is all the proof there is (symmetric keys, or none)."""
        return True

    def mobilizes(self, packet: NtpPacket, verdict: AuthResult | None) -> bool:
        """Does this packet's MAC authenticate its sender, so that it may mobilize an association where
        restrict demands authentication?  Asked first with `verdict` None (could it, once verified? a "no"
        spares the digest), then with the verdict.  Default: any MAC that verifies."""
        return packet.keyid is not None if verdict is None else verdict.ok

    def next_step(self, assoc: AssociationAuthView, now: float) -> float | None:
        return None

    def broadcast_ready(self, assoc: AssociationAuthView) -> bool:
        return True

    def quick_session_keys(self, client: str, server: str, keyid: int, now: float) -> SessionKeys | None:
        """For a client request MAC'd with a key ID above NTP_MAXKEY and no extension fields (Autokey's
        session keys): the keys that check it and sign the reply, for engine/fastpath.py. None sends the
        request down the full path. Default: no session keys."""
        return None

    def synchronized(self, synchronized: bool, now: float) -> None:
        return None

    def peer_variables(self, assoc: AssociationAuthView) -> list[tuple[str, str]]:
        return []

    def system_variables(self) -> list[tuple[str, str]]:
        return []

    def reload(self, now: float) -> None:
        return None


class SymmetricKeyAuth(Authenticator):
    """ntpd's symmetric-key authentication: MD5/SHA1 MACs with keys from the keys file."""

    def __init__(self, keys: Mapping[int, SymmetricKey] | None = None,
                 trusted: set[int] | frozenset[int] = frozenset()) -> None:
        self.keys: dict[int, SymmetricKey] = dict(keys or {})
        self.trusted = set(trusted)

    def trusted_key(self, keyid: int) -> SymmetricKey | None:
        if keyid not in self.trusted:
            return None
        return self.keys.get(keyid)

    def check(self, packet: NtpPacket, data: bytes, src: Address, dst: str | None,
              assoc: AssociationAuthView | None, now: float) -> AuthResult:
        if packet.keyid is None:
            return AUTH_NONE
        if not packet.mac:
            return AuthResult(Verdict.CRYPTO_NAK, packet.keyid, "crypto-NAK")
        key = self.keys.get(packet.keyid)
        if key is None:
            return AuthResult(Verdict.ERROR, packet.keyid, "unknown key")
        if packet.keyid not in self.trusted:
            return AuthResult(Verdict.ERROR, packet.keyid, "untrusted key")
        if len(packet.mac) != digest_length(key.algorithm):
            return AuthResult(Verdict.ERROR, packet.keyid, "digest length")
        if not verify_mac(key.algorithm, key.secret, data[: packet.mac_covered], packet.mac):
            return AuthResult(Verdict.ERROR, packet.keyid, "bad MAC")
        return AuthResult(Verdict.OK, packet.keyid)

    def sign(self, keyid: int, covered: bytes) -> bytes:
        """Key ID + digest for `covered`; a crypto-NAK when the key is not usable."""
        key = self.trusted_key(keyid)
        if key is None:
            return CRYPTO_NAK
        return keyid.to_bytes(4, "big") + compute_mac(key.algorithm, key.secret, covered)

    def verify(self, keyid: int, message: bytes, digest: bytes) -> bool:
        """For the mode-6 responder: does `digest` authenticate `message` with trusted key `keyid`?"""
        key = self.trusted_key(keyid)
        return key is not None and verify_mac(key.algorithm, key.secret, message, digest)

    def digest(self, keyid: int, message: bytes) -> bytes | None:
        """For the mode-6 responder: the digest of `message` with trusted key `keyid`, None if unusable."""
        key = self.trusted_key(keyid)
        return None if key is None else compute_mac(key.algorithm, key.secret, message)

    def request_tail(self, assoc: AssociationAuthView, header: bytes, now: float) -> bytes:
        if assoc.keyid is None:
            return b""
        return self.sign(assoc.keyid, header)

    def reply_tail(self, request: NtpPacket, verdict: AuthResult, src: Address, dst: str | None,
                   header: bytes, now: float) -> bytes:
        if verdict.verdict is Verdict.OK and verdict.keyid is not None:
            return self.sign(verdict.keyid, header)
        if verdict.verdict is Verdict.ERROR:
            return CRYPTO_NAK
        return b""

    def reload(self, now: float) -> None:
        """Keys are re-read by the daemon shell (it owns files) and handed in with `replace_keys`."""

    def replace_keys(self, keys: Mapping[int, SymmetricKey], trusted: set[int]) -> None:
        self.keys, self.trusted = dict(keys), set(trusted)
