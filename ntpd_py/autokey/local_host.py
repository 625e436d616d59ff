"""This host's Autokey credentials and signed values, and its answers to Autokey requests (server side).

What ntpd keeps in globals (crypto_setup / crypto_update / crypto_xmit for responses) lives here as one
object: the host name, host and sign keys, the certificate cache (own and received certificates), the
identity keys this host can prove, the leap table, and the values it signs: host name, public key,
certificates, leap values.  Values are signed only while the host is synchronized (timestamp != 0).
"""

from __future__ import annotations

import datetime as _dt
import secrets
from dataclasses import dataclass, field
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization

from ..keys.cert import CERT_ERROR, CERT_PRIV, CERT_TRUST, CERT_VALID, Certificate, CertificateError
from ..keys.cert import build_certificate, parse_certificate
from ..keys.identity.gq import GqParams
from ..keys.identity.iff import IffParams
from ..keys.identity.mv import MvServerKey
from ..ntptime import NTP_UNIX_OFFSET, ntp_seconds
from ..wire.extension import MAX_VALLEN, ExtensionError, ExtensionField, Opcode, decode_field
from . import schemes
from .errors import AutokeyError, Xevnt, stats_line
from .flags import CryptoFlag, nid_name, status_word
from .leapfile import LeapTable
from .session import PrivateValue, encrypt_cookie, server_cookie
from .signature import sign

YEAR = 365 * 86400
MAXHOSTNAME = 255


@dataclass
class Signed:
    """A value structure: what crypto_send copies into a field (ntpd's struct value)."""

    value: bytes = b""
    tstamp: int = 0
    fstamp: int = 0
    signature: bytes = b""

    def field(self, code: int, associd: int, response: bool = True) -> ExtensionField:
        return ExtensionField(code=code, associd=associd, response=response, tstamp=self.tstamp, fstamp=self.fstamp,
                              value=self.value, signature=self.signature)


@dataclass
class CertEntry:
    """One certificate in the cache, with ntpd's flags and its signed value."""

    cert: Certificate
    fstamp: int
    flags: int = 0
    signed: Signed = field(default_factory=Signed)

    @property
    def subject(self) -> str:
        return self.cert.subject

    @property
    def issuer(self) -> str:
        return self.cert.issuer


ANY_GROUP = "*"  # client parameters that serve every group (`crypto iffpar|gqpar|mvpar FILE`)


@dataclass(frozen=True)
class IdentityKeys:
    """Identity material with the filestamps of the files it came from.

    Server side (proving): iff / gq / mv.  Client side (checking): the parameters found for each
    (scheme, group), so an association with `ident GROUP` finds ntpkey_<scheme>par_GROUP; the daemon
    loads them all at start and on SIGHUP (ntpd_py/daemon/autokey_wiring.py), the exchange opens no file.
    """

    iff: IffParams | None = None
    iff_fstamp: int = 0
    gq: GqParams | None = None
    gq_fstamp: int = 0
    mv: MvServerKey | None = None
    mv_fstamp: int = 0
    clients: Mapping[tuple[str, str], tuple[Any, int]] = field(default_factory=lambda: MappingProxyType({}))

    def client_params(self, scheme: str, group: str) -> tuple[Any, int] | None:
        """(parameters, filestamp) to check `group`'s proof in `scheme` ("iff", "gq", "mv"), or None."""
        return self.clients.get((scheme, group)) or self.clients.get((scheme, ANY_GROUP))


@dataclass(frozen=True)
class HostCredentials:
    """What crypto_setup() loads, immutable: host key (RSA), optional sign key, host certificate, identity,
    leap table.  The daemon shell reads the files; a reload hands over a new object."""

    host_key: Any
    host_fstamp: int
    certificate: Certificate
    cert_fstamp: int
    sign_key: Any = None
    identity: IdentityKeys = field(default_factory=IdentityKeys)
    leap: LeapTable | None = None
    digest: str = "md5"  # `crypto digest`: session keys and MACs
    extra_certificates: tuple[tuple[Certificate, int], ...] = ()
    ident: str | None = None  # `crypto ident GROUP` (ntpd's sys_ident): the group this host's clients prove


def group_of(hostname: str) -> str | None:
    """The trust group of an Autokey host name: what follows '@' (alice@grp -> grp), None without one."""
    return hostname.partition("@")[2] if "@" in hostname else None


class AutokeyHost:
    """The host side of Autokey: status word, signed values, certificate cache, responses to requests."""

    def __init__(self, creds: HostCredentials, *, revoke_log2: int = 17, stats: Callable[[str, str], None] | None = None) -> None:
        self.stats = stats or (lambda source, line: None)
        self.private = PrivateValue(revoke_log2)
        self.synchronized = False
        self.tai_offset: int | None = None
        self.certs: list[CertEntry] = []  # this host's and those received (load() keeps the received ones)
        self.load(creds)

    # --- setup -------------------------------------------------------------------------------------

    def load(self, creds: HostCredentials) -> None:
        """crypto_setup(): check the credentials and build the status word and the value structures."""
        cert = creds.certificate
        if not cert.self_signed:
            raise AutokeyError(Xevnt.CRT, f"host certificate {cert.subject} is not self-signed")
        pub = creds.host_key.public_key()
        if (creds.sign_key or creds.host_key).public_key().public_numbers() != cert.public_key.public_numbers():
            raise AutokeyError(Xevnt.PUB, "host certificate does not carry the sign key's public key")
        self.creds = creds
        self.hostname = cert.subject
        self.group = group_of(self.hostname)  # ntpd's sys_groupname
        self.sign_key = creds.sign_key or creds.host_key
        self.sign_digest = cert.digest_name
        self.nid = cert.signature_nid
        ident = creds.identity
        scheme = (CryptoFlag.IFF if ident.iff and ident.iff.b is not None else 0) | (
            CryptoFlag.GQ if ident.gq and ident.gq.u is not None else 0) | (CryptoFlag.MV if ident.mv else 0)
        # TAI: this host has a leap table to give (4.2.8p15 sets it at the first signature update, always)
        self.flags = status_word(self.nid, scheme=int(scheme), priv=cert.private, tai=creds.leap is not None)
        self.hostval = Signed(self.hostname.encode(), 0, creds.host_fstamp)
        der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        self.pubkey = Signed(der, 0, creds.host_fstamp)
        # loaded certificates carry only TRUST/PRIV (crypto_cert); VALID marks received ones (cert_install).
        # On reload, received certificates survive; one certifying our old key does not.
        received = [e for e in self.certs if e.flags & CERT_VALID
                    and (e.subject != self.hostname or e.cert.public_key.public_numbers() == pub.public_numbers())]
        self.certs = received + [CertEntry(cert, creds.cert_fstamp, cert.cert_flags)]
        for extra, fstamp in creds.extra_certificates:
            self.certs.append(CertEntry(extra, fstamp, extra.cert_flags))
        self.host_entry = self.certs[len(received)]
        self.leap = Signed(bytes(12), 0, creds.host_fstamp)
        self.stats("0.0.0.0", f"setup 0x{self.flags:x} host {self.hostname} {nid_name(self.nid)}")

    @property
    def host_public_key(self):
        return self.creds.host_key.public_key()

    # --- time and signatures -----------------------------------------------------------------------

    def crypto_time(self, now: float) -> int:
        """NTP seconds when synchronized, else 0 (nothing is signed then)."""
        return ntp_seconds(now) if self.synchronized else 0

    def _sign(self, val: Signed) -> None:
        val.signature = sign(self.sign_key, val.tstamp.to_bytes(4, "big") + val.fstamp.to_bytes(4, "big")
                             + len(val.value).to_bytes(4, "big") + val.value, self.sign_digest) if val.tstamp else b""

    def signed(self, value: bytes, tstamp: int, fstamp: int) -> Signed:
        val = Signed(value, tstamp, fstamp)
        self._sign(val)
        return val

    def update(self, now: float) -> None:
        """crypto_update(): restamp and re-sign public key, certificates and leap values (only when synchronized)."""
        ts = self.crypto_time(now)
        if not ts:
            return
        self.hostval.tstamp = ts
        self.pubkey.tstamp = ts
        self._sign(self.pubkey)
        for entry in self.certs:
            entry.signed = Signed(entry.cert.der, ts, entry.fstamp)
            self._sign(entry.signed)
        self.leap.tstamp, self.leap.fstamp = ts, self.hostval.fstamp
        if self.creds.leap is not None:
            self.leap.value = self.creds.leap.autokey_value(ts)
        self._sign(self.leap)
        self.stats("0.0.0.0", f"signature update ts {ts}")

    def set_synchronized(self, synchronized: bool, now: float) -> None:
        changed = synchronized and not self.synchronized
        self.synchronized = synchronized
        if changed:
            self.update(now)

    # --- certificate cache -------------------------------------------------------------------------

    def install_certificate(self, cert: Certificate, fstamp: int, now: float) -> CertEntry:
        """cert_install(): keep the newest certificate per (subject, issuer).

        Newest by filestamp, then (unlike ntpd, which keeps the old one) by issue time: a certificate signed
        again (SIGN after the issuer renewed) carries the same filestamp as the one it replaces."""
        for entry in self.certs:
            if entry.subject == cert.subject and entry.issuer == cert.issuer:
                if fstamp < entry.fstamp or (fstamp == entry.fstamp and cert.not_before <= entry.cert.not_before):
                    return entry
                self.certs.remove(entry)
                break
        entry = CertEntry(cert, fstamp, cert.cert_flags | CERT_VALID)
        self.certs.insert(0, entry)
        self.update(now)
        return entry

    def find_certificate(self, subject: str) -> CertEntry | None:
        """A public certificate for `subject`: a trusted self-signed one first, else one signed by another."""
        trusted = other = None
        for entry in self.certs:
            if entry.flags & (CERT_PRIV | CERT_ERROR) or entry.subject != subject:
                continue
            if entry.issuer != subject:
                other = entry
            elif entry.flags & CERT_TRUST:
                trusted = entry
        return trusted or other

    # --- group rules (ntpd's receive() and group_test()) -----------------------------------------------

    def group_declines(self, raw_fields: list[bytes], ident: str | None, request: bool) -> str:
        """Why a packet is declined by the group rules, or "" when it passes.

        Only a host whose name carries a group (alice@grp) applies them, to the host name of an ASSOC field
        (request or response): without '@group' the packet is declined ("empty autokey groupname"); for
        anything but a client's request (`request`: ntpd answers those in its fast path) the group must be
        ours or `ident` (the association's `ident`, else `crypto ident`), as ntpd's group_test."""
        if self.group is None:
            return ""
        for raw in raw_fields:
            if len(raw) < 4 or (int.from_bytes(raw[:4], "big") >> 16) & 0x3FFF != (2 << 8) | Opcode.ASSOC:
                continue
            try:
                ext = decode_field(raw)[0]
            except ExtensionError:
                return "ASSOC field unreadable"
            name = ext.value.decode("ascii", "replace") if not ext.short and ext.value else ""
            group = group_of(name)
            if group is None:
                return f"empty autokey groupname (host {name!r}, ours {self.hostname})"
            if not request and group != self.group and group != ident:
                return f"autokey group mismatch ({group!r}, ours {self.group!r}, ident {ident!r})"
        return ""

    # --- server side: answer one request ------------------------------------------------------------

    def respond(self, request: ExtensionField, client: str, server: str, now: float,
                cookie: int | None = None, autokey_values: Signed | None = None) -> ExtensionField:
        """crypto_xmit() for a response: the answer to `request`, or an error response (E bit, 8 bytes)."""
        code = request.code
        try:
            return self._respond(request, client, server, now, cookie, autokey_values)
        except AutokeyError as exc:
            self.stats(client, stats_line((request.opcode | 0x80000000 | 0x40000000) >> 16, request.associd, exc.code))
            return ExtensionField(code=code, associd=request.associd, response=True, error=True)

    def _respond(self, req: ExtensionField, client: str, server: str, now: float, cookie: int | None,
                 autokey_values: Signed | None) -> ExtensionField:
        ts = self.crypto_time(now)
        code, associd = req.code, req.associd
        if req.response:
            raise AutokeyError(Xevnt.ERR, "response where a request was expected")
        if code == Opcode.ASSOC:
            return ExtensionField(code=code, associd=associd, response=True, tstamp=self.hostval.tstamp,
                                  fstamp=self.flags, value=self.hostval.value)
        if code == Opcode.CERT:
            if req.short or not req.value or len(req.value) > MAXHOSTNAME:
                raise AutokeyError(Xevnt.LEN, "certificate request without a subject name")
            entry = self.find_certificate(req.value.decode("ascii", "replace"))
            if entry is None or not ts:
                return ExtensionField(code=code, associd=associd, response=True)  # empty: not found / unsynced
            return entry.signed.field(code, associd)
        if code in (Opcode.IFF, Opcode.GQ, Opcode.MV):
            return self._identity_response(req, ts)
        if code == Opcode.COOK:
            if req.short or not req.value or len(req.value) >= MAX_VALLEN:
                raise AutokeyError(Xevnt.LEN, "cookie request without a public key")
            try:
                client_key = serialization.load_der_public_key(_spki_from_pkcs1(req.value))
                blob = encrypt_cookie(cookie if cookie is not None else self.cookie_for(client, server, now), client_key)
            except AutokeyError:
                raise
            except Exception as exc:
                raise AutokeyError(Xevnt.PUB, f"cookie request public key unusable: {exc}") from None
            return self.signed(blob, ts, self.hostval.fstamp).field(code, associd)
        if code == Opcode.SIGN:
            return self._sign_certificate(req, ts, now).field(code, associd)
        if code == Opcode.LEAP:
            return self.leap.field(code, associd)
        if code == Opcode.AUTO:
            if autokey_values is None:
                raise AutokeyError(Xevnt.ERR, f"no association {associd} for autokey values")
            return autokey_values.field(code, associd)
        raise AutokeyError(Xevnt.ERR, f"unknown request code {code}")

    def cookie_for(self, client: str, server: str, now: float) -> int:
        return server_cookie(client, server, self.private.current(now), self.creds.digest)

    def _identity_response(self, req: ExtensionField, ts: int) -> ExtensionField:
        if req.short or not req.value:
            raise AutokeyError(Xevnt.LEN, "identity challenge missing")
        ident = self.creds.identity
        if req.code == Opcode.IFF:
            if ident.iff is None or ident.iff.b is None:
                raise AutokeyError(Xevnt.ID, "IFF scheme unavailable")
            value, fstamp = schemes.iff_response(ident.iff, req.value), ident.iff_fstamp
        elif req.code == Opcode.GQ:
            if ident.gq is None or ident.gq.u is None:
                raise AutokeyError(Xevnt.ID, "GQ scheme unavailable")
            value, fstamp = schemes.gq_response(ident.gq, req.value), ident.gq_fstamp
        else:
            if ident.mv is None:
                raise AutokeyError(Xevnt.ID, "MV scheme unavailable")
            value, fstamp = schemes.mv_response(ident.mv, req.value), ident.mv_fstamp
        return self.signed(value, ts, fstamp).field(req.code, req.associd)

    def _sign_certificate(self, req: ExtensionField, ts: int, now: float) -> Signed:
        """cert_sign(): issue a certificate for the requester's subject and key under our name."""
        if not ts:
            raise AutokeyError(Xevnt.TSP, "not synchronized: cannot sign")
        if req.short or not req.value or len(req.value) > MAX_VALLEN:
            raise AutokeyError(Xevnt.LEN, "sign request without a certificate")
        try:
            theirs = parse_certificate(req.value)
        except (CertificateError, ValueError) as exc:
            raise AutokeyError(Xevnt.CRT, f"sign request certificate unreadable: {exc}") from None
        if not theirs.self_signed or not theirs.verify(theirs.public_key):
            raise AutokeyError(Xevnt.VFY, "sign request certificate is not a valid self-signed certificate")
        host = self.host_entry.cert
        if not host.valid_at(now):
            raise AutokeyError(Xevnt.PER, "host certificate expired")
        issued = build_certificate(subject=theirs.subject, public_key=theirs.public_key, issuer=self.hostname,
                                   signing_key=self.sign_key, digest=self.sign_digest, serial=ts,
                                   not_before=int(now), not_after=int(now) + YEAR, extensions=theirs.extensions,
                                   version=theirs.version)
        return self.signed(issued.der, ts, req.fstamp or 0)

    # --- mode 6 --------------------------------------------------------------------------------------

    def system_variables(self) -> list[tuple[str, str]]:
        """(name, value) with strings unquoted; AutokeyAuth renders them for mode 6."""
        out: list[tuple[str, str]] = []
        table = self.creds.leap
        if table is not None:  # as ntpd: tai, leapsec (start of the current era), expire (of the table)
            era = table.era(self.hostval.tstamp or table.entries[-1][0])
            out += [("tai", str(era.tai_offset)), ("leapsec", _ntp_minutes(era.start)), ("expire", _ntp_minutes(table.expires))]
        elif self.tai_offset is not None:
            out.append(("tai", str(self.tai_offset)))
        out += [("host", self.hostname), ("flags", f"0x{self.flags:x}"), ("digest", self.creds.digest),
                ("signature", nid_name(self.nid))]
        if self.hostval.tstamp:
            out.append(("update", _ntp_minutes(self.hostval.tstamp)))
        for entry in self.certs:
            out.append(("cert", f"{entry.subject} {entry.issuer} 0x{entry.flags:x}"))
            out.append(("until", entry.cert.until))
        return out


def _ntp_minutes(ntp_seconds_value: int) -> str:
    """YYYYMMDDHHMM in UTC, as ntpd prints leapsec/expire/update/until."""
    return _dt.datetime.fromtimestamp(ntp_seconds_value - NTP_UNIX_OFFSET, _dt.timezone.utc).strftime("%Y%m%d%H%M")


def _spki_from_pkcs1(der: bytes) -> bytes:
    """Wrap an RSAPublicKey (what i2d_PublicKey writes) into a SubjectPublicKeyInfo for loading."""
    from asn1crypto import keys as asn1_keys

    rsa_key = asn1_keys.RSAPublicKey.load(der)
    rsa_key.native  # force a full parse: garbage raises here
    info = asn1_keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"}, "public_key": rsa_key})
    return info.dump()


def random_hcookie() -> int:
    return secrets.randbits(32)
