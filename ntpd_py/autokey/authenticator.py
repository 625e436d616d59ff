"""Autokey as the engine's `Authenticator`: session-key MACs, extension fields in and out, mode-6 variables.

Key IDs up to 65535 go to the symmetric-key authenticator; above, the MAC key is the session key of
(sender, receiver, key ID, cookie), where the cookie is 0 whenever the packet carries extension fields.
The server side is stateless (cookie from the private value); associations keep a `PeerAutokey` in
`assoc.auth_state`.  Crypto-NAKs are reported, never acted upon here (CVE-2016-1547, CVE-2016-4955).
"""

from __future__ import annotations

import hashlib
import struct
import weakref
from typing import Any, Callable

from ..wire.control_values import quoted
from ..engine.authenticator import (CRYPTO_NAK, AssociationSource, Authenticator, AuthResult, SessionKeys,
                                    SymmetricKeyAuth, Verdict)
from ..wire.extension import ExtensionError, ExtensionField, Opcode, decode_field
from ..wire.packet import NtpPacket
from .errors import AutokeyError, Xevnt
from .exchange import MODE_ACTIVE, MODE_BCLIENT, MODE_BROADCAST, MODE_CLIENT, Exchange, PeerAutokey
from .flags import CryptoFlag, nid_name
from .local_host import AutokeyHost, HostCredentials
from .pacing import ANSWER_DELAY, StepPacer
from .session import NTP_MAXKEY, address_bytes, mac, server_cookie, session_key, verify_keyid_chain

# Server answers that cost a private-key operation (a signature, or a decryption for SIGN's certificate):
# ntpd signs each one; we do too, but at most SIGNATURES_PER_SECOND on average (bursts of SIGNATURE_BURST),
# so that no stream of requests, even from sources restrict lets through, can spend this host's CPU on RSA.
# Beyond that a request gets an error response (no signature); its client retries (ntpd: "crypto error").
EXPENSIVE_REQUESTS = frozenset({Opcode.IFF, Opcode.GQ, Opcode.MV, Opcode.COOK, Opcode.SIGN})
SIGNATURES_PER_SECOND = 100.0
SIGNATURE_BURST = 200.0
MAX_CHAIN_STEPS = 128  # hashes tried to link a broadcast key ID to the last one (lost packets; lists hold <= 100)
_QUICK_HASHERS = {"md5": hashlib.md5, "sha1": hashlib.sha1}  # the digests engine/fastpath.py's lengths cover
_COOKIE_CACHE_MAX = 4096
# what the host counts (ntpd keeps no such counters; `rv 0` shows them as autokey_<name>): extension fields of a
# bad length, XEVNT errors, crypto-NAKs received, key lists built, expensive requests refused (the signing limiter)
COUNTER_NAMES = ("badlength", "crypto_errors", "crypto_naks", "keylist", "signatures_refused")
_DIGEST_LEN = {"md5": 16, "sha1": 20, "sha256": 32, "sha224": 28, "sha384": 48, "sha512": 64, "ripemd160": 20}


def _fields(packet: NtpPacket) -> list[ExtensionField]:
    return [decode_field(raw)[0] for raw in packet.extensions]


class AutokeyAuth(Authenticator):
    """Symmetric keys plus Autokey behind the engine's authentication hook.

    `engine` is where the associations are (the `NtpHost` this authenticator serves, declared as
    `AssociationSource`); without one, there are none (a server that only answers clients). The engine pushes
    this host's synchronization through the `synchronized` hook."""

    def __init__(self, host: AutokeyHost, symmetric: SymmetricKeyAuth | None = None, *, automax_log2: int = 12,
                 poll_log2: Callable[[Any], int] | None = None, engine: AssociationSource | None = None) -> None:
        self.host = host
        self._offered: HostCredentials | None = None  # read by the shell on SIGHUP, applied by reload()
        self.engine = engine
        self.exchange = Exchange(host)
        self.symmetric = symmetric or SymmetricKeyAuth()
        self.automax_log2 = automax_log2
        self.poll_log2 = poll_log2 or (lambda assoc: assoc.hpoll or 6)
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        # when each association's next step is due (assid -> time), handed to the engine by next_step();
        # associations that sent a step since, whose follow-up spacing poll_hint() chooses
        self._due: dict[int, float] = {}
        self._stepped: set[int] = set()
        self._sign_tokens, self._sign_at = SIGNATURE_BURST, 0.0
        # the server cookie per (client, server): (private value, client||server, server||client, cookie)
        self._cookies: dict[tuple[str, str], tuple[int, bytes, bytes, int]] = {}
        # each association's step pacing, kept apart from its protocol state and gone with it
        self._pacers: weakref.WeakKeyDictionary[PeerAutokey, StepPacer] = weakref.WeakKeyDictionary()

    # --- state ---------------------------------------------------------------------------------------

    def state(self, assoc) -> PeerAutokey:
        if not isinstance(assoc.auth_state, PeerAutokey):
            assoc.auth_state = PeerAutokey(assoc.assid, assoc.hmode, assoc.ident)
        peer = assoc.auth_state
        if peer.bcast_assoc and assoc.hmode == MODE_BCLIENT:
            peer.hmode = MODE_BCLIENT  # the engine ended the volley: from now on, listen only
        return peer

    def pacer(self, peer: PeerAutokey) -> StepPacer:
        """The step pacing of the association whose protocol state is `peer`."""
        pacer = self._pacers.get(peer)
        if pacer is None:
            pacer = self._pacers[peer] = StepPacer()
        return pacer

    def _restart(self, peer: PeerAutokey) -> None:
        """peer_clear(): the exchange starts again at ASSOC, paced as a new one."""
        peer.reset()
        self.pacer(peer).reset()

    def set_synchronized(self, synchronized: bool, now: float) -> None:
        """The engine says whether this host is synchronized: only then is anything signed."""
        self.host.set_synchronized(synchronized, now)

    def synchronized(self, synchronized: bool, now: float) -> None:
        """Engine hook (Authenticator): this host's synchronization, pushed when it may have changed."""
        if synchronized != self.host.synchronized:
            self.host.set_synchronized(synchronized, now)

    # --- the engine's questions -------------------------------------------------------------------------

    def proven(self, assoc) -> bool:
        """Engine hook: has this association's server proven its identity (PROV, RFC 5906 section 10)?

        PROV is set when a signature verifies with the server's key after the certificate trail ended at a
        trusted root and the identity scheme succeeded (VRFY): only then may its time be used."""
        if not assoc.autokey:
            return True
        peer = assoc.auth_state
        return isinstance(peer, PeerAutokey) and bool(peer.crypto & CryptoFlag.PROV)

    def mobilizes(self, packet: NtpPacket, verdict: AuthResult | None) -> bool:
        """Engine hook: a session-key MAC on a packet without an association uses cookie 0 (or a broadcast
        key), which anyone can compute: it never stands for authentication where restrict asks for it."""
        if packet.keyid is not None and packet.keyid > NTP_MAXKEY:
            return False
        return self.symmetric.mobilizes(packet, verdict)

    def next_step(self, assoc, now: float) -> float | None:
        """Engine hook: when this association's next Autokey step is due (absolute time), or None."""
        due = self._due.pop(assoc.assid, None)
        if assoc.assid in self._stepped:
            self._stepped.discard(assoc.assid)
            hint = self.poll_hint(assoc, now)
            if hint is not None:
                due = now + hint if due is None else min(due, now + hint)
        return due

    def _step_due(self, assoc, when: float) -> None:
        current = self._due.get(assoc.assid)
        self._due[assoc.assid] = when if current is None else min(current, when)

    @property
    def digest(self) -> str:
        return self.host.creds.digest

    # --- incoming ------------------------------------------------------------------------------------

    def check(self, packet: NtpPacket, data: bytes, src, dst: str | None, assoc, now: float) -> AuthResult:
        if packet.keyid is None or packet.keyid <= NTP_MAXKEY:
            return self.symmetric.check(packet, data, src, dst, assoc, now)
        if not packet.mac:
            self.counters["crypto_naks"] += 1
            return AuthResult(Verdict.CRYPTO_NAK, packet.keyid, "crypto-NAK")
        if dst is None:
            return AuthResult(Verdict.ERROR, packet.keyid, "no local address for the session key")
        if packet.extensions:  # ntpd's group rules come first, before the MAC (receive(), group_test)
            ident = (self.state(assoc).ident if assoc is not None else None) or self.host.creds.ident
            reason = self.host.group_declines(packet.extensions, ident,
                                              request=assoc is None and packet.mode == MODE_CLIENT)
            if reason:
                return AuthResult(Verdict.DECLINED, packet.keyid, reason)
        remote = src[0]
        if packet.extensions or packet.mode == MODE_BROADCAST:
            cookie = 0  # broadcast keys are public: the key ID chain is what authenticates them
        elif assoc is None:
            cookie = self.host.cookie_for(remote, dst, now)
        else:
            peer = self.state(assoc)
            cookie = 0 if peer.hmode == MODE_BROADCAST else peer.pcookie
        if len(packet.mac) != _DIGEST_LEN.get(self.digest, 16):
            return AuthResult(Verdict.ERROR, packet.keyid, "digest length")
        key = session_key(remote, dst, packet.keyid, cookie, self.digest)
        if mac(key, packet.keyid, data[: packet.mac_covered], self.digest)[4:] != packet.mac:
            return AuthResult(Verdict.ERROR, packet.keyid, "bad autokey MAC")
        if assoc is None:
            if packet.mode == MODE_BROADCAST and not packet.extensions:
                return AuthResult(Verdict.ERROR, packet.keyid, "Autokey broadcast without an association message")
            if packet.mode == MODE_ACTIVE and not self._opens_exchange(packet):
                return AuthResult(Verdict.ERROR, packet.keyid, "new symmetric peer without an ASSOC request")
            return AuthResult(Verdict.OK, packet.keyid)
        if packet.mode == MODE_BROADCAST:
            return self._broadcast_packet(packet, remote, dst, self.state(assoc), now)
        peer = self.state(assoc)
        flags_before = peer.crypto
        result = self._association_packet(packet, remote, dst, peer, now)
        if peer.cmmd is not None:
            # a symmetric peer asked us something: answer within ANSWER_DELAY, not at our next poll
            self._step_due(assoc, now + ANSWER_DELAY)
        elif self.pacer(peer).progressed(peer, flags_before) and self._stepping(peer):
            # a step succeeded after a back-off (e.g. a server that signed its renewed certificate again):
            # send the next one soon, not at the poll the back-off had scheduled
            self._step_due(assoc, now + self.pacer(peer).step_spacing)
        return result

    @staticmethod
    def _opens_exchange(packet: NtpPacket) -> bool:
        """A symmetric-active packet that may start an association: its first field is an ASSOC request
        (what an active peer sends first); anything else from a stranger is noise."""
        try:
            fields = _fields(packet)
        except ExtensionError:
            return False
        return bool(fields) and fields[0].code == Opcode.ASSOC and not fields[0].response

    def _stepping(self, peer: PeerAutokey) -> bool:
        """Is this association still walking through Autokey steps (poll_hint's domain)?"""
        return peer.hmode in (MODE_CLIENT, 1, 2) and not peer.done(self.host.synchronized)

    def _broadcast_packet(self, packet: NtpPacket, remote: str, local: str, peer: PeerAutokey,
                          now: float) -> AuthResult:
        """A broadcast client's packet from its broadcaster (cookie-0 MAC already checked).

        The first one (at mobilization) only names the broadcaster's association, and its ASSOC message gives
        the status word, as ntpd's crypto_recv at AM_NEWBCL.  Later ones are authentic only when their key ID
        hashes into the broadcaster's signed key list (the AUTO values): anyone can compute a cookie-0 MAC,
        so a packet off the chain is dropped, and changes nothing (CVE-2016-4955: no reset, no flag lost)."""
        try:
            fields = _fields(packet)
        except ExtensionError as exc:
            self.counters["badlength"] += 1
            return AuthResult(Verdict.ERROR, packet.keyid, f"crypto: {exc}")
        if not peer.bcast_assoc:
            first = fields[0] if fields else None
            if first is None or not first.response or first.error or not first.associd:
                return AuthResult(Verdict.ERROR, packet.keyid, "Autokey broadcast without an association message")
            peer.bcast_assoc = first.associd
            if first.code == Opcode.ASSOC:
                return self._receive_fields(peer, [first], now, MODE_BROADCAST, remote, packet.keyid)
            return AuthResult(Verdict.OK, packet.keyid)
        if peer.hmode != MODE_BCLIENT:
            return AuthResult(Verdict.ERROR, packet.keyid, "broadcast during the client volley")
        # only signed fields (AUTO) can change anything here
        received = self._receive_fields(peer, fields, now, MODE_BROADCAST, remote, packet.keyid)
        if not received.ok:
            return received
        if not peer.crypto & CryptoFlag.AUTO or peer.pkeyid is None or peer.recval is None:
            return AuthResult(Verdict.ERROR, packet.keyid, "no autokey values from the broadcaster yet")
        steps = min(max(peer.recval[2], 1), MAX_CHAIN_STEPS)
        if not verify_keyid_chain(remote, local, packet.keyid, peer.pkeyid, 0, self.digest, max_steps=steps):
            self.counters["keylist"] += 1
            return AuthResult(Verdict.ERROR, packet.keyid, "key ID not in the broadcaster's key list")
        peer.pkeyid = packet.keyid
        return AuthResult(Verdict.OK, packet.keyid)

    def quick_session_keys(self, client: str, server: str, keyid: int, now: float) -> SessionKeys | None:
        """A server's session keys for a client's plain request, as fast_xmit computes them: the cookie is
        session_key(client, server, 0, private) and is kept per (client, server) until the private value is
        renewed, so a request costs the two session keys and the two MACs, nothing else."""
        hasher = _QUICK_HASHERS.get(self.digest)
        if hasher is None:
            return None
        private = self.host.private.current(now)
        entry = self._cookies.get((client, server))
        if entry is None or entry[0] != private:
            try:
                c, s = address_bytes(client), address_bytes(server)
            except ValueError:
                return None
            if len(c) != len(s):
                return None
            if len(self._cookies) >= _COOKIE_CACHE_MAX:
                self._cookies.clear()
            entry = (private, c + s, s + c, server_cookie(client, server, private, self.digest))
            self._cookies[(client, server)] = entry
        inbound, outbound, cookie = entry[1:]
        tail = struct.pack("!II", keyid & 0xFFFFFFFF, cookie)
        return SessionKeys(hasher, hasher(inbound + tail).digest(), hasher(outbound + tail).digest())

    def broadcast_ready(self, assoc) -> bool:
        """Engine hook: may a broadcast client's volley end?  As ntpd, only once every flag is set."""
        if not assoc.autokey:
            return True
        peer = self.state(assoc)
        return bool(peer.bcast_assoc) and peer.done(True) and peer.recval is not None

    def _broadcast_values(self, associd: int):
        """The signed autokey values of our broadcast association `associd` (ntpd's crypto_xmit for AUTO)."""
        assoc = self.engine.associations.get(associd) if self.engine is not None else None
        peer = assoc.auth_state if assoc is not None else None
        if isinstance(peer, PeerAutokey) and peer.hmode == MODE_BROADCAST:
            return peer.sndval
        return None

    def _associations(self) -> list:
        return list(self.engine.associations.values()) if self.engine is not None else []

    def _association_packet(self, packet: NtpPacket, remote: str, local: str, peer: PeerAutokey, now: float) -> AuthResult:
        if packet.stratum == 0 and packet.refid == b"RATE":
            self.pacer(peer).rate_limited()  # the server enforces a headway: step no faster than iburst
        if peer.hmode == MODE_CLIENT and packet.keyid != peer.last_keyid:
            return AuthResult(Verdict.ERROR, packet.keyid, "reply key ID does not match our request (replay)")
        if peer.symmetric and not packet.extensions and peer.crypto & CryptoFlag.AUTO and peer.pkeyid is not None:
            if packet.keyid != peer.pkeyid and not verify_keyid_chain(remote, local, packet.keyid, peer.pkeyid,
                                                                      peer.pcookie, self.digest, max_steps=16):
                # broken sequence: ask for the autokey values again. ~ of an IntFlag member complements only the
                # defined flags (0x6fff) and would clear the signature NID above them: complement the int
                peer.crypto &= ~int(CryptoFlag.AUTO)
                return AuthResult(Verdict.ERROR, packet.keyid, "autokey sequence broken")
            peer.pkeyid = packet.keyid
        try:
            fields = _fields(packet)
        except ExtensionError as exc:
            self.counters["badlength"] += 1
            self.exchange.record_error(peer, 0, AutokeyError(Xevnt.LEN, str(exc)), now, remote)
            return AuthResult(Verdict.ERROR, packet.keyid, f"crypto: {exc}")
        return self._receive_fields(peer, fields, now, packet.mode, remote, packet.keyid)

    def _receive_fields(self, peer: PeerAutokey, fields, now: float, hismode: int, remote: str,
                        keyid: int) -> AuthResult:
        """Hand each extension field to the exchange; the first error is counted, recorded and ends the packet."""
        for ext in fields:
            try:
                line = self.exchange.receive(peer, ext, now, hismode, remote)
            except AutokeyError as exc:
                self.counters["crypto_errors"] += 1
                self.exchange.record_error(peer, ext.opcode >> 16, exc, now, remote)
                return AuthResult(Verdict.ERROR, keyid, f"crypto: {exc}")
            if line:
                self.host.stats(remote, line)
        return AuthResult(Verdict.OK, keyid)

    # --- outgoing ------------------------------------------------------------------------------------

    def request_tail(self, assoc, header: bytes, now: float) -> bytes:
        if not assoc.autokey:
            return self.symmetric.request_tail(assoc, header, now)
        local, remote = assoc.dstadr, assoc.srcadr[0]
        if local is None:
            return b""
        peer = self.state(assoc)
        if self.exchange.trail_expired(peer, now):
            self._restart(peer)
            self.host.stats(remote, f"certificate trail of association {peer.associd} expired, exchange restarted")
        if peer.keylist is None or peer.keylist.exhausted:
            self.exchange.new_keylist(peer, local, remote, now, self.poll_log2(assoc), self.automax_log2)
        keyid = peer.keylist.next()
        fields = []
        answer = self.exchange.answer_pending(peer, local, remote, now)
        if answer is not None:
            fields.append(answer)
        request = self.exchange.next_request(peer, now)
        if request is not None:
            fields.append(request)
        region = b"".join(f.encode() for f in fields)
        cookie = 0 if region or peer.hmode == MODE_BROADCAST else peer.pcookie
        key = session_key(local, remote, keyid, cookie, self.digest)
        peer.last_keyid = keyid
        peer.last_request = request
        self._stepped.add(assoc.assid)  # next_step() chooses the follow-up spacing
        return region + mac(key, keyid, header + region, self.digest)

    def reply_tail(self, request: NtpPacket, verdict: AuthResult, src, dst: str | None, header: bytes, now: float) -> bytes:
        if verdict.keyid is None or verdict.keyid <= NTP_MAXKEY:
            return self.symmetric.reply_tail(request, verdict, src, dst, header, now)
        if verdict.verdict is not Verdict.OK or dst is None:
            return CRYPTO_NAK
        client = src[0]
        try:
            fields = _fields(request)
        except ExtensionError:
            self.counters["badlength"] += 1
            return CRYPTO_NAK
        region = b""
        if fields:
            first = fields[0]
            if first.code in EXPENSIVE_REQUESTS and not first.response and not self._may_sign(now):
                self.counters["signatures_refused"] += 1
                answer = ExtensionField(code=first.code, associd=first.associd, response=True, error=True)
            else:
                values = self._broadcast_values(first.associd) if first.code == Opcode.AUTO else None
                answer = self.host.respond(first, client, dst, now, autokey_values=values)
            region = answer.encode()
            cookie = 0
        else:
            cookie = self.host.cookie_for(client, dst, now)
        key = session_key(dst, client, verdict.keyid, cookie, self.digest)
        return region + mac(key, verdict.keyid, header + region, self.digest)

    def _may_sign(self, now: float) -> bool:
        """Spend one signature from the budget (a token bucket refilled at SIGNATURES_PER_SECOND)."""
        elapsed = max(0.0, now - self._sign_at)
        self._sign_at = now
        self._sign_tokens = min(SIGNATURE_BURST, self._sign_tokens + elapsed * SIGNATURES_PER_SECOND)
        if self._sign_tokens < 1.0:
            return False
        self._sign_tokens -= 1.0
        return True

    def poll_hint(self, assoc, now: float) -> float | None:
        """Seconds until the next Autokey step is worth sending (None: nothing pending, poll normally).

        The reference waits one poll per step; we ask again as soon as the last answer was processed."""
        if not assoc.autokey or not isinstance(assoc.auth_state, PeerAutokey):
            return None
        peer = assoc.auth_state
        return self.pacer(peer).follow_up_after(peer, self.host.synchronized)

    # --- mode 6 ---------------------------------------------------------------------------------------

    def counter_variables(self) -> list[tuple[str, str]]:
        """The host's counters for `rv 0` (a control view's counter source), after ntpd's variables."""
        return [(f"autokey_{name}", str(self.counters[name])) for name in COUNTER_NAMES]

    def peer_variables(self, assoc) -> list[tuple[str, str]]:
        if not assoc.autokey or not isinstance(assoc.auth_state, PeerAutokey):
            return self.symmetric.peer_variables(assoc)
        peer = assoc.auth_state
        out: list[tuple[str, str]] = []
        if peer.subject:
            out.append(("host", quoted(peer.subject)))
        if peer.crypto:
            out.append(("flags", f"0x{peer.crypto:x}"))
            nid = (peer.crypto >> 16) & 0xFFFF
            out.append(("signature", quoted(nid_name(nid))))
        if peer.ident:
            out.append(("ident", quoted(peer.ident)))
        if peer.recval is not None:
            out += [("initsequence", str(peer.recval[2])), ("initkey", f"0x{peer.recval[3]:x}"),
                    ("timestamp", str(peer.recval[0]))]
        if peer.last_event:
            from .errors import text

            out.append(("crypto_event", quoted(f"0x{peer.last_event:x} {text(peer.last_event)}")))
            out.append(("crypto_errors", str(sum(peer.errors.values()))))
        return out

    def system_variables(self) -> list[tuple[str, str]]:
        out = []
        for name, value in self.host.system_variables():
            out.append((name, quoted(value) if name in ("host", "digest", "signature", "cert") else value))
        return out

    def offer_credentials(self, creds: HostCredentials) -> None:
        """The shell read the key files again (SIGHUP): `reload` applies them."""
        self._offered = creds

    def reload(self, now: float) -> None:
        """Engine hook on SIGHUP: apply the credentials the shell offered, restarting only the exchanges that
        need it.  Credentials that do not fit together keep the running ones; both are written to cryptostats."""
        creds, self._offered = self._offered, None
        if creds is None:
            return
        try:
            restarted = self.replace_credentials(creds, now, self._associations())
        except AutokeyError as exc:  # e.g. a certificate that does not carry the new key: keep the old keys
            self.host.stats("0.0.0.0", f"reload failed, keeping the running keys: {exc}")
            return
        self.host.stats("0.0.0.0", f"keys reloaded, restarted associations {restarted or 'none'}")

    def replace_credentials(self, creds, now: float, associations=()) -> list[int]:
        """Hot reload: load new credentials; restart the exchange only where the server-side keys changed.

        Returns the association IDs that were restarted."""
        old = self.host.creds
        self.host.load(creds)
        self._cookies.clear()  # the digest may have changed
        if self.host.synchronized:
            self.host.update(now)
        restarted = []
        own_changed = (old.host_key.private_numbers() != creds.host_key.private_numbers()
                       or old.certificate.der != creds.certificate.der)
        for assoc in associations:
            peer = assoc.auth_state
            if isinstance(peer, PeerAutokey) and (own_changed or peer.ident_params is not None):
                if own_changed or self._ident_changed(peer):
                    self._restart(peer)
                    restarted.append(peer.associd)
                    self._step_due(assoc, now + self.pacer(peer).step_spacing)  # start the new exchange now, not at the next poll
        return restarted

    def _ident_changed(self, peer: PeerAutokey) -> bool:
        name = {CryptoFlag.IFF: "iff", CryptoFlag.GQ: "gq", CryptoFlag.MV: "mv"}.get(peer.ident_scheme)
        found = self.host.creds.identity.client_params(name, peer.ident or "") if name else None
        return found is None or found[1] != peer.ident_fstamp


__all__ = ["AutokeyAuth"]
