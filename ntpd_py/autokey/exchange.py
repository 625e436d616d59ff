"""The Autokey state machine of one association (client, symmetric peer, broadcast client), pure.

`next_request()` is peer_xmit()'s choice of the next request: the first step of `steps.CLIENT_STEPS` not
done yet (ASSOC, CERT up the trail, IFF|GQ|MV only with `ident`, COOK, AUTO where needed, then once
synchronized SIGN and LEAP); `receive()` is crypto_recv()
for one field.  Every rejected field raises `AutokeyError` before any flag bit changes; the caller records
it (`record_error`), so forged signatures, wrong group keys, stale timestamps, replays and bad certificates
never raise a flag bit.  Deviations from 4.2.8p15 (documented in docs/autokey.md): received certificates
must be valid *now*, a SIGN response must certify this host's own key, and errors do not reset the
association (a forged field costs the sender nothing otherwise).
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ..keys.cert import CERT_SIGN, CERT_TRUST, Certificate, CertificateError, parse_certificate
from ..ntptime import NTP_UNIX_OFFSET
from ..protocol import MODE_ACTIVE, MODE_BCLIENT, MODE_BROADCAST, MODE_CLIENT, MODE_PASSIVE, MODE_SERVER
from ..wire.extension import VALUE_LEN, ExtensionField, Opcode
from . import schemes, steps
from .errors import AutokeyError, Xevnt, stats_line, text
from .flags import NID_DIGEST, SCHEME_MASK, VERIFY_MASK, CryptoFlag, nid_name
from .local_host import MAXHOSTNAME, AutokeyHost, CertEntry, Signed
from .leapfile import parse_autokey_value as parse_leap
from .session import KeyList, autokey_value, decrypt_cookie, parse_autokey_value, symmetric_cookie
from .signature import verify

MAX_TRAIL = 8  # certificates on one trail; ntpd has no limit, so a hostile server could feed it forever


@dataclass(eq=False)
class PeerAutokey:
    """Per-association Autokey protocol state (ntpd's peer->crypto, assoc, pkey, cookies, key list, values).

    How soon the next step is sent is not kept here: that is the pacing policy's (pacing.StepPacer)."""

    associd: int
    hmode: int
    ident: str | None = None
    crypto: int = 0
    assoc: int = 0
    subject: str | None = None
    issuer: str | None = None
    pkey: Any = None
    digest: str | None = None
    grpkey: int | None = None
    xinfo: CertEntry | None = None
    ident_scheme: int = 0
    ident_params: Any = None
    ident_fstamp: int = 0
    iffval: int | None = None
    hcookie: int = field(default_factory=lambda: secrets.randbits(32))
    pcookie: int = 0
    cookie_tstamp: int = 0
    recval: tuple[int, int, int, int] | None = None  # tstamp, fstamp, seq, key
    pkeyid: int | None = None
    keylist: KeyList | None = None
    sndval: Signed | None = None
    push_autokey: bool = False
    cmmd: ExtensionField | None = None
    last_event: int = 0
    errors: Counter = field(default_factory=Counter)
    history: list[tuple[float, int]] = field(default_factory=list)  # (time, flags) when bits were added
    tai: tuple[int, int, int] | None = None
    last_keyid: int | None = None  # key ID of our last packet: a client-mode reply must echo it
    last_request: ExtensionField | None = None
    trail: int = 0  # certificates accepted on the current trail
    learned: int = 0  # certificates this association brought into the cache (a new one is progress)
    trail_until: int = 0  # Unix time the first certificate of the walked trail expires (0: none walked)
    bcast_assoc: int = 0  # broadcast client: the broadcaster's association ID (its key list is asked by it)

    @property
    def symmetric(self) -> bool:
        return self.hmode in (MODE_ACTIVE, MODE_PASSIVE)

    def reset(self) -> None:
        """peer_clear(): forget everything learned; the exchange restarts at ASSOC."""
        keep = (self.associd, self.hmode, self.ident)
        bcast_assoc = self.bcast_assoc
        self.__init__(*keep)  # type: ignore[misc]
        self.bcast_assoc = bcast_assoc

    def done(self, has_sync: bool = True) -> bool:
        want = CryptoFlag.CERT | CryptoFlag.VRFY | CryptoFlag.PROV | CryptoFlag.COOK | CryptoFlag.AUTO
        if has_sync:
            want |= CryptoFlag.SIGN | CryptoFlag.LEAP
        return bool(self.crypto) and self.crypto & want == want


class Exchange:
    """Drives PeerAutokey objects for one host."""

    def __init__(self, host: AutokeyHost) -> None:
        self.host = host

    # --- what to send ------------------------------------------------------------------------------

    def next_request(self, peer: PeerAutokey, now: float, peer_synchronized: bool = True) -> ExtensionField | None:
        """The request peer_xmit() would add now, or None."""
        c, host = peer.crypto, self.host
        ts = host.crypto_time(now)
        if peer.hmode == MODE_BROADCAST:
            # broadcast server: push the autokey values of a new key list, else the association message
            if peer.push_autokey and peer.sndval is not None:
                peer.push_autokey = False
                return peer.sndval.field(Opcode.AUTO, peer.associd)
            return ExtensionField(code=Opcode.ASSOC, associd=peer.associd, response=True, tstamp=host.hostval.tstamp,
                                  fstamp=host.flags, value=host.hostval.value)
        step = steps.pending(c, peer.hmode)
        if (step is None or step.after_sync) and peer.symmetric and peer.push_autokey and c & CryptoFlag.SIGN \
                and peer.sndval is not None:
            peer.push_autokey = False  # our new key list's values, pushed to the peer once (as ntpd after SIGN)
            return peer.sndval.field(Opcode.AUTO, peer.assoc)
        if step is None or (step.after_sync and not host.synchronized):
            return None
        if step.both_synchronized and peer.symmetric and not (host.synchronized and peer_synchronized):
            return None
        return self._request(step.request, peer, now, ts)

    def _request(self, request: steps.Request, peer: PeerAutokey, now: float, ts: int) -> ExtensionField | None:
        """The field that asks for one step (steps.CLIENT_STEPS says which)."""
        host = self.host
        if request is steps.Request.ASSOC:
            return ExtensionField(code=Opcode.ASSOC, associd=peer.associd, tstamp=host.hostval.tstamp,
                                  fstamp=host.flags, value=host.hostval.value)
        if request is steps.Request.CERT:
            return ExtensionField(code=Opcode.CERT, associd=peer.associd, tstamp=ts, fstamp=host.hostval.tstamp,
                                  value=(peer.issuer or "").encode())
        if request is steps.Request.IDENT:
            return self._challenge(peer, ts)
        if request is steps.Request.COOK:
            return host.pubkey.field(Opcode.COOK, peer.associd, response=False)
        if request is steps.Request.AUTO:  # a client asks the server's association (a broadcaster's, by name)
            return ExtensionField(code=Opcode.AUTO, associd=peer.associd if peer.symmetric else peer.assoc)
        if request is steps.Request.SIGN:
            cert = host.host_entry
            if not cert.cert.valid_at(now):
                self.record_error(peer, Opcode.SIGN, AutokeyError(Xevnt.PER, "host certificate expired"), now)
                return None
            return cert.signed.field(Opcode.SIGN, peer.associd, response=False)
        return ExtensionField(code=Opcode.LEAP, associd=peer.associd)

    def _challenge(self, peer: PeerAutokey, ts: int) -> ExtensionField | None:
        """crypto_ident() + crypto_alice*(): pick the scheme the server offers and we hold parameters for."""
        if peer.ident_params is None:
            lookup = self.host.creds.identity.client_params
            for flag, name in ((CryptoFlag.IFF, "iff"), (CryptoFlag.GQ, "gq"), (CryptoFlag.MV, "mv")):
                if peer.crypto & flag:
                    found = lookup(name, peer.ident or "")
                    if found is not None:
                        peer.ident_scheme, (peer.ident_params, peer.ident_fstamp) = flag, found
                    break
        if peer.ident_params is None:
            self.record_error(peer, Opcode.NULL, AutokeyError(Xevnt.ID, f"no identity parameters for group {peer.ident}"), None)
            return None
        params = peer.ident_params
        if peer.ident_scheme == CryptoFlag.IFF:
            code, r = Opcode.IFF, schemes.iff_challenge(params)
        elif peer.ident_scheme == CryptoFlag.GQ:
            code, r = Opcode.GQ, schemes.gq_challenge(params)
        else:
            code, r = Opcode.MV, schemes.mv_challenge(params)
        peer.iffval = r
        val = self.host.signed(schemes.challenge_value(r), ts, peer.ident_fstamp)
        return val.field(code, peer.associd, response=False)

    def trail_expired(self, peer: PeerAutokey, now: float) -> bool:
        """A certificate of the verified trail has expired: the exchange must run again (the server will
        show certificates renewed or signed again since); ntpd gets there through its periodic resets."""
        if peer.hmode != MODE_CLIENT:  # a symmetric peer would refuse a second ASSOC request
            return False
        return bool(peer.crypto & CryptoFlag.CERT and peer.trail_until and now > peer.trail_until)

    # --- what arrived ------------------------------------------------------------------------------

    def receive(self, peer: PeerAutokey, ext: ExtensionField, now: float, hismode: int, src: str = "") -> str | None:
        """crypto_recv() for one field: raises AutokeyError (nothing changed) or returns a cryptostats line."""
        before = peer.crypto
        if ext.version != 2:
            raise AutokeyError(Xevnt.LEN, f"version {ext.version}")
        line = self._receive(peer, ext, now, hismode)
        if peer.crypto != before:
            peer.history.append((now, peer.crypto))
        return line

    def _receive(self, peer: PeerAutokey, ext: ExtensionField, now: float, hismode: int) -> str | None:
        code = ext.code
        if code == Opcode.ASSOC and (ext.response or peer.symmetric):
            if not ext.response:
                if peer.crypto & CryptoFlag.CERT:
                    raise AutokeyError(Xevnt.ERR, "ASSOC request after the certificate exchange")
                line = self._assoc(peer, ext, hismode)
                peer.cmmd = ext.with_(associd=peer.associd)  # our ASSOC response carries our association ID
                return line
            return self._assoc(peer, ext, hismode)
        if not ext.response:
            if not peer.symmetric:
                raise AutokeyError(Xevnt.ERR, f"request {ext.name} outside symmetric mode")
            if ext.error:
                raise AutokeyError(Xevnt.ERR, "request with the error bit")
            if ext.code in (Opcode.CERT, Opcode.IFF, Opcode.GQ, Opcode.MV, Opcode.COOK, Opcode.SIGN) and ext.short:
                raise AutokeyError(Xevnt.LEN, f"{ext.name} request without a value")
            peer.cmmd = ext  # answered on our next transmit
            return None
        if code == Opcode.CERT and ext.short and not ext.error:
            return None  # empty answer: the server is not synchronized or has no such certificate
        if code == Opcode.CERT:
            return self._cert(peer, ext, now)
        if code in (Opcode.IFF, Opcode.GQ, Opcode.MV):
            return self._identity(peer, ext)
        if code == Opcode.COOK:
            return self._cookie(peer, ext, hismode)
        if code == Opcode.AUTO:
            return self._autokey(peer, ext)
        if code == Opcode.SIGN:
            return self._signed_cert(peer, ext, now)
        if code == Opcode.LEAP:
            return self._leap(peer, ext, now)
        raise AutokeyError(Xevnt.ERR, f"unexpected response code {code}")

    def _assoc(self, peer: PeerAutokey, ext: ExtensionField, hismode: int) -> str | None:
        if ext.error:
            raise AutokeyError(Xevnt.ERR, "ASSOC with the error bit")
        if peer.crypto:
            if peer.assoc != ext.associd:
                raise AutokeyError(Xevnt.ERR, f"ASSOC from association {ext.associd}, expected {peer.assoc}")
            return None
        if ext.short or not ext.value or len(ext.value) > MAXHOSTNAME:
            raise AutokeyError(Xevnt.LEN, "ASSOC without a host name")
        status = ext.fstamp & ~VERIFY_MASK  # a status word never grants verification bits
        mine = self.host.flags & SCHEME_MASK
        if self.host.flags & CryptoFlag.PRIV:
            if not status & CryptoFlag.PRIV:
                raise AutokeyError(Xevnt.KEY, "we use PC, the server does not")
            status |= CryptoFlag.CERT | CryptoFlag.VRFY | CryptoFlag.SIGN
        elif hismode in (MODE_ACTIVE, MODE_PASSIVE) and bool(mine) != bool(status & SCHEME_MASK):
            raise AutokeyError(Xevnt.KEY, "identity scheme on one side only")
        nid = (status >> 16) & 0xFFFF
        if nid not in NID_DIGEST:
            raise AutokeyError(Xevnt.MD, f"unsupported signature NID {nid}")
        if hismode == MODE_SERVER and not peer.bcast_assoc:
            status |= CryptoFlag.AUTO  # a broadcast client needs the broadcaster's values: not preset
        if not status & CryptoFlag.TAI:
            status |= CryptoFlag.LEAP
        peer.assoc = peer.bcast_assoc or ext.associd
        peer.crypto = status
        peer.digest = NID_DIGEST[nid]
        peer.subject = peer.issuer = ext.value.decode("ascii", "replace")
        return f"assoc {peer.associd} {peer.assoc} host {peer.subject} {nid_name(nid)}"

    def _check(self, peer: PeerAutokey, ext: ExtensionField, *, signature: bool = True,
               last: tuple[int, int] | None = None) -> None:
        """crypto_verify(): lengths, association, timestamps, then the signature with the server's key."""
        if ext.error:
            raise AutokeyError(Xevnt.ERR, f"{ext.name} response with the error bit")
        if ext.short:
            raise AutokeyError(Xevnt.LEN, f"{ext.name} response without a value")
        broadcast = peer.hmode == MODE_BCLIENT or peer.bcast_assoc
        expect = peer.assoc if ext.code == Opcode.AUTO and broadcast else peer.associd
        if ext.associd != expect:
            raise AutokeyError(Xevnt.ERR, f"association ID {ext.associd}, expected {expect}")
        if not ext.value:
            raise AutokeyError(Xevnt.LEN, f"{ext.name} response with an empty value")
        tstamp, fstamp = ext.tstamp or 0, ext.fstamp
        if tstamp == 0:
            raise AutokeyError(Xevnt.TSP, "sender not synchronized (timestamp 0)")
        if tstamp < fstamp:
            raise AutokeyError(Xevnt.TSP, "timestamp precedes filestamp")
        if last is not None and last[0] and last[1]:
            if tstamp < last[0]:
                raise AutokeyError(Xevnt.TSP, "timestamp older than the last accepted (replay)")
            if tstamp < last[1] or fstamp < last[1]:
                raise AutokeyError(Xevnt.FSP, "filestamp older than the last accepted")
        if not signature:
            return
        # PC: both hosts hold the same private certificate and key, so our own key verifies (crypto_verify)
        pkey = (self.host.sign_key.public_key() if self.host.flags & peer.crypto & CryptoFlag.PRIV else peer.pkey)
        if not ext.signature or pkey is None or peer.digest is None:
            raise AutokeyError(Xevnt.ERR, f"{ext.name}: no signature or no server key yet")
        verify(pkey, ext.signed_bytes(), ext.signature, peer.digest)
        if peer.crypto & CryptoFlag.VRFY:
            peer.crypto |= CryptoFlag.PROV

    def _parse_cert(self, ext: ExtensionField, now: float) -> Certificate:
        try:
            cert = parse_certificate(ext.value)
        except (CertificateError, ValueError) as exc:
            raise AutokeyError(Xevnt.CRT, f"certificate unreadable: {exc}") from None
        if cert.self_signed and not cert.verify(cert.public_key):
            raise AutokeyError(Xevnt.VFY, f"self-signed certificate {cert.subject} does not verify")
        if not cert.self_signed and cert.issuer == self.host.hostname and cert.subject != self.host.hostname:
            raise AutokeyError(Xevnt.CRT, f"certificate trail loop {cert.subject}")
        if cert.not_before > cert.not_after or cert.not_before + NTP_UNIX_OFFSET < ext.fstamp:
            raise AutokeyError(Xevnt.PER, f"certificate {cert.subject} has invalid times for its filestamp")
        if not cert.valid_at(now):
            raise AutokeyError(Xevnt.PER, f"certificate {cert.subject} expired or not yet valid")
        return cert

    def _cert(self, peer: PeerAutokey, ext: ExtensionField, now: float) -> str:
        self._check(peer, ext, signature=False)
        walked = peer.xinfo is not None
        try:
            return self._hike(peer, ext, now)
        except AutokeyError:
            if walked:
                # A link that does not fit the certificates already walked (typically a server still showing
                # its certificate signed before its issuer renewed, while it runs SIGN again): walk the trail
                # again from the server's own certificate at the next request.  No flag bit changes.
                self.restart_trail(peer)
            raise

    @staticmethod
    def restart_trail(peer: PeerAutokey) -> None:
        """Forget the certificates walked so far: the next CERT request asks for the server's own again."""
        if peer.crypto & CryptoFlag.CERT:
            return
        peer.xinfo, peer.trail, peer.pkey, peer.issuer, peer.trail_until = None, 0, None, peer.subject, 0

    def _hike(self, peer: PeerAutokey, ext: ExtensionField, now: float) -> str:
        cert = self._parse_cert(ext, now)
        if peer.xinfo is None and cert.subject != peer.issuer:
            raise AutokeyError(Xevnt.CRT, f"asked for {peer.issuer}, got {cert.subject}")
        previous = peer.xinfo
        if peer.trail >= MAX_TRAIL:
            raise AutokeyError(Xevnt.CRT, f"certificate trail longer than {MAX_TRAIL}")
        if previous is not None:
            # cert_hike: the new certificate must have signed the previous one, within its lifetime
            if cert.subject != previous.issuer:
                raise AutokeyError(Xevnt.CRT, f"asked for {previous.issuer}, got {cert.subject}")
            if not previous.cert.verify(cert.public_key):
                raise AutokeyError(Xevnt.VFY, f"{previous.subject} not signed by {cert.subject}")
            if not cert.not_before <= previous.cert.not_before <= cert.not_after:
                raise AutokeyError(Xevnt.PER, f"{previous.subject} signed outside {cert.subject}'s lifetime")
        entry = self.host.install_certificate(cert, ext.fstamp, now)
        if entry.cert is cert:
            peer.learned += 1
        if previous is not None:
            previous.flags |= CERT_SIGN
        peer.xinfo = entry
        peer.trail += 1
        peer.trail_until = min(peer.trail_until or entry.cert.not_after, entry.cert.not_after)
        peer.issuer = cert.issuer
        if peer.pkey is None:
            peer.pkey = cert.public_key
        if cert.self_signed and entry.flags & CERT_TRUST:
            peer.crypto |= CryptoFlag.CERT
            peer.grpkey = cert.gq_public
            if not peer.ident or not peer.crypto & SCHEME_MASK:
                peer.crypto |= CryptoFlag.VRFY
        elif cert.self_signed:
            raise AutokeyError(Xevnt.CRT, f"trail ends at {cert.subject}, which is not a trusted root")
        return f"cert {cert.subject} {cert.issuer} 0x{entry.flags:x} {nid_name(cert.signature_nid)} ({cert.signature_nid}) fs {ext.fstamp}"

    def _identity(self, peer: PeerAutokey, ext: ExtensionField) -> str:
        self._check(peer, ext)
        expected = {CryptoFlag.IFF: Opcode.IFF, CryptoFlag.GQ: Opcode.GQ, CryptoFlag.MV: Opcode.MV}.get(peer.ident_scheme)
        if peer.ident_params is None or expected != ext.code:
            raise AutokeyError(Xevnt.ID, f"{ext.name} scheme unavailable")
        if peer.iffval is None:
            raise AutokeyError(Xevnt.ID, "response without an outstanding challenge")
        if ext.code == Opcode.GQ:
            if ext.fstamp < peer.ident_fstamp:
                raise AutokeyError(Xevnt.FSP, f"invalid filestamp {ext.fstamp}")
        elif ext.fstamp != peer.ident_fstamp:
            raise AutokeyError(Xevnt.FSP, f"invalid filestamp {ext.fstamp}")
        r, peer.iffval = peer.iffval, None  # one answer per challenge: replays fail
        if ext.code == Opcode.IFF:
            schemes.iff_verify(peer.ident_params, r, ext.value)
        elif ext.code == Opcode.GQ:
            if peer.grpkey is None:
                raise AutokeyError(Xevnt.ID, "missing GQ public key in the server certificate")
            schemes.gq_verify(peer.ident_params, r, ext.value, v=peer.grpkey)
        else:
            schemes.mv_verify(peer.ident_params, r, ext.value)
        peer.crypto |= CryptoFlag.VRFY
        return f"{ext.name.lower()} {peer.issuer} fs {ext.fstamp}"

    def _cookie(self, peer: PeerAutokey, ext: ExtensionField, hismode: int) -> str:
        self._check(peer, ext, last=(peer.cookie_tstamp, 0) if peer.cookie_tstamp else None)
        if peer.cookie_tstamp and (ext.tstamp or 0) < peer.cookie_tstamp:
            raise AutokeyError(Xevnt.TSP, "cookie older than the one we hold (replay)")
        key = self.host.creds.host_key
        if not isinstance(key, rsa.RSAPrivateKey):
            raise AutokeyError(Xevnt.CKY, "host key is not RSA")
        cookie = decrypt_cookie(ext.value, key)
        peer.pcookie = symmetric_cookie(peer.hcookie, cookie) if hismode in (MODE_ACTIVE, MODE_PASSIVE) else cookie
        peer.cookie_tstamp = ext.tstamp or 0
        peer.keylist = None  # key_expire(): the next packet starts a new key list
        peer.crypto |= CryptoFlag.COOK
        return f"cook {peer.pcookie:x} ts {ext.tstamp} fs {ext.fstamp}"

    def _autokey(self, peer: PeerAutokey, ext: ExtensionField) -> str | None:
        last = (peer.recval[0], peer.recval[1]) if peer.recval else None
        self._check(peer, ext, last=last)
        seq, key = parse_autokey_value(ext.value)
        if peer.recval and (ext.tstamp, seq, key) == (peer.recval[0], peer.recval[2], peer.recval[3]):
            peer.crypto |= CryptoFlag.AUTO
            return None  # the same values pushed again (ntpd pushes after SIGN): nothing new
        if peer.recval and ext.tstamp == peer.recval[0]:
            raise AutokeyError(Xevnt.TSP, "different autokey values with the same timestamp (replay)")
        peer.recval = (ext.tstamp or 0, ext.fstamp, seq, key)
        peer.pkeyid = key
        peer.crypto |= CryptoFlag.AUTO
        return f"auto seq {seq} key {key:x} ts {ext.tstamp} fs {ext.fstamp}"

    def _signed_cert(self, peer: PeerAutokey, ext: ExtensionField, now: float) -> str:
        self._check(peer, ext)
        cert = self._parse_cert(ext, now)
        host = self.host
        if cert.subject != host.hostname or cert.public_key.public_numbers() != host.host_public_key.public_numbers():
            raise AutokeyError(Xevnt.CRT, f"signed certificate is for {cert.subject}, not this host's key")
        if cert.issuer != peer.subject or not cert.verify(peer.pkey):
            raise AutokeyError(Xevnt.VFY, f"signed certificate not issued by {peer.subject}")
        entry = host.install_certificate(cert, ext.fstamp, now)
        peer.crypto |= CryptoFlag.SIGN
        return f"sign {cert.subject} {cert.issuer} 0x{entry.flags:x} {nid_name(cert.signature_nid)} ({cert.signature_nid}) fs {ext.fstamp}"

    def _leap(self, peer: PeerAutokey, ext: ExtensionField, now: float) -> str:
        self._check(peer, ext)
        tai, epoch, expire = parse_leap(ext.value)
        if tai and not 10 <= tai < 100:
            raise AutokeyError(Xevnt.DAT, f"implausible TAI offset {tai}")
        peer.tai = (tai, epoch, expire)
        if tai and self.host.synchronized:
            self.host.tai_offset = tai
        peer.crypto |= CryptoFlag.LEAP
        return f"leap TAI offset {tai} at {epoch} expire {expire} fs {ext.fstamp}"

    # --- symmetric: answer the peer's pending request ------------------------------------------------

    def answer_pending(self, peer: PeerAutokey, local: str, remote: str, now: float) -> ExtensionField | None:
        cmmd, peer.cmmd = peer.cmmd, None
        if cmmd is None:
            return None
        if cmmd.code == Opcode.COOK:
            return self.host.respond(cmmd, remote, local, now, cookie=peer.hcookie)
        return self.host.respond(cmmd, remote, local, now, autokey_values=peer.sndval)

    # --- key lists -------------------------------------------------------------------------------------

    def new_keylist(self, peer: PeerAutokey, local: str, remote: str, now: float, poll_log2: int, automax_log2: int) -> KeyList:
        """make_keylist(): cookie 0 for broadcast, else the association cookie; sign the autokey values."""
        cookie = 0 if peer.hmode == MODE_BROADCAST else peer.pcookie
        ts = self.host.crypto_time(now)
        kl = KeyList.generate(local, remote, cookie, poll_log2=poll_log2, automax_log2=automax_log2,
                              synchronized=bool(ts), digest=self.host.creds.digest)
        peer.keylist = kl
        peer.sndval = self.host.signed(autokey_value(kl.seq, kl.final), ts, self.host.hostval.fstamp)
        peer.push_autokey = bool(ts)
        return kl

    # --- bookkeeping -----------------------------------------------------------------------------------

    def record_error(self, peer: PeerAutokey, code_word: int, exc: AutokeyError, now: float | None, source: str = "") -> str:
        peer.last_event = int(exc.code)
        peer.errors[int(exc.code)] += 1
        line = stats_line(code_word, peer.associd, int(exc.code))
        self.host.stats(source or "0.0.0.0", line)
        return line


def describe_error(code: int) -> str:
    return f"0x{code:x} {text(code)}"


__all__ = ["Exchange", "PeerAutokey", "MODE_ACTIVE", "MODE_PASSIVE", "MODE_CLIENT", "MODE_SERVER",
           "MODE_BROADCAST", "MODE_BCLIENT", "VALUE_LEN"]
