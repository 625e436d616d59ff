"""Tests written to kill surviving mutants of ntpd_py/autokey/ (bench/mutation/run.py, issue 13).

Each asserts behaviour a peer or an operator can see (bytes out, flags, counters, peer variables) through public
methods, so that they survive refactors of the internals.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import pytest
from autokey_broadcast import CLIENT, SERVER, BroadcastNet, autokey_host, broadcast_assoc, make_net
from autokey_broadcast import CLIENT_CONF as BCLIENT_CONF
from autokey_broadcast import SERVER_CONF as BSERVER_CONF
from autokey_pair import VECTOR_NOW, FakeAssoc, load_creds, make_pair

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from ntpd_py.autokey import schemes
from ntpd_py.autokey.authenticator import AutokeyAuth
from ntpd_py.autokey.errors import AutokeyError, Xevnt, text
from ntpd_py.autokey.flags import CERT_SIGN, CERT_VALID, CryptoFlag
from ntpd_py.autokey.local_host import AutokeyHost, HostCredentials, IdentityKeys
from ntpd_py.autokey.session import autokey_value, mac, session_key
from ntpd_py.autokey.signature import sign, signature_length, verify
from ntpd_py.engine.association import MODE_BCLIENT, MODE_BROADCAST
from ntpd_py.engine.authenticator import SymmetricKeyAuth, Verdict
from ntpd_py.keys.cert import build_certificate, ntp_extensions, parse_certificate
from ntpd_py.keys.identity import gq
from ntpd_py.ntptime import NTP_UNIX_OFFSET, to_ntp64
from ntpd_py.symkeys.keyfile import SymmetricKey
from ntpd_py.symkeys.mac import compute_mac
from ntpd_py.wire.extension import ExtensionField, Opcode, decode_field
from ntpd_py.wire.packet import NtpPacket, decode, encode_header

SERVER_CONF = "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\n"
CLIENT_CONF = f"server {SERVER} autokey iburst ident alice\n"


def unicast_net(vectors, *, client_ident: bool = True) -> tuple[BroadcastNet, list[str]]:
    """An Autokey client NtpHost and its server NtpHost, in memory (real packets and crypto, simulated time)."""
    stats: list[str] = []
    server = autokey_host(SERVER_CONF, SERVER, load_creds(vectors, "iff", "alice"), stats)
    client = autokey_host(CLIENT_CONF, CLIENT, load_creds(vectors, "iff", "bob", with_ident=client_ident), stats)
    return BroadcastNet(server, client), stats


def server_assoc(net: BroadcastNet):
    return next(a for a in net.client.associations.values() if a.srcadr[0] == SERVER)


# --- proven(): no time from a server whose identity is not proven (RFC 5906 section 10, ntpd's TEST8) -------------

def test_unproven_server_gives_no_sample_and_proven_one_does(vectors):
    # the client holds no IFF client parameters, so the server's identity is never proven (no PROV): although
    # every reply's session-key MAC verifies, none reaches the clock (no reach bit, counted as "not proven")
    net, _ = unicast_net(vectors, client_ident=False)
    net.run(40)
    assoc = server_assoc(net)
    assert assoc.received > 0 and assoc.unproven == assoc.received  # (the rest fail the identity step: bad_auth)
    assert assoc.reach == 0 and net.client.sys.peer is None
    assert net.client.counters["notproven"] == assoc.received
    # the same exchange with the group's parameters proves the server, and its time is used
    net, _ = unicast_net(vectors)
    net.run(40)
    assoc = server_assoc(net)
    assert assoc.reach and net.client.sys.peer == assoc.assid
    assert net.client.authenticator.proven(assoc)


def test_association_without_autokey_on_an_autokey_host_is_used_at_once(vectors):
    # Autokey's proof applies to Autokey associations only: a plain `server` line on the same host is not held back
    stats: list[str] = []
    net = BroadcastNet(autokey_host(SERVER_CONF, SERVER, load_creds(vectors, "iff", "alice"), stats),
                       autokey_host(f"server {SERVER} iburst\n", CLIENT, load_creds(vectors, "iff", "bob"), stats))
    net.run(12)
    assoc = server_assoc(net)
    assert assoc.reach and assoc.unproven == 0 and net.client.counters["notproven"] == 0
    assert net.client.authenticator.proven(assoc)


# --- mode-6 variables (what ntpq -c rv shows) -----------------------------------------------------------------------

def test_system_variables_as_ntpq_shows_them(vectors):
    # the server holds the leap table: tai, leapsec (the current era's start) and expire come from it; strings are
    # quoted as ntpd's ctl_putstr does, numbers are not
    pair = make_pair(vectors, "iff")
    pair.run(12)
    server = dict(pair.server.system_variables())
    assert (server["tai"], server["leapsec"], server["expire"]) == ("37", "201701010000", "202712280000")
    assert server["host"] == '"alice"' and server["digest"] == '"md5"'
    assert server["signature"] == '"md5WithRSAEncryption"' and server["flags"] == "0x80023"
    assert server["cert"] == '"alice alice 0x1"'
    # the client learnt the TAI offset from the server's signed leap values (no table of its own)
    client = dict(pair.client.system_variables())
    assert client["tai"] == "37" and "leapsec" not in client and "expire" not in client
    assert client["host"] == '"bob"' and client["signature"] == '"md5WithRSAEncryption"'


def test_crypto_error_shows_in_the_peer_variables(vectors):
    # the client lacks the group's IFF parameters, so the identity step fails: its association names the last
    # error (crypto_event: code and text) and counts them (crypto_errors)
    pair = make_pair(vectors, "iff", client_creds=load_creds(vectors, "iff", "bob", with_ident=False))
    pair.run(12)
    variables = dict(pair.client.peer_variables(pair.assoc))
    peer = pair.assoc.auth_state
    assert peer.last_event and sum(peer.errors.values()) > 0
    assert variables["crypto_event"].startswith(f'"0x{peer.last_event:x} ')
    assert variables["crypto_event"] != f'"0x{peer.last_event:x} None"'
    assert variables["crypto_errors"] == str(sum(peer.errors.values()))


def test_autokey_association_before_its_first_packet_has_no_variables(vectors):
    # ntpq may ask about an Autokey association that has not exchanged anything yet: no variables, no failure
    pair = make_pair(vectors, "iff")
    assert pair.assoc.auth_state is None
    assert pair.client.peer_variables(pair.assoc) == []
    assert pair.client.poll_hint(pair.assoc, pair.now) is None


# --- the engine's synchronized() hook is how the daemon tells Autokey that it may sign (autokey_wiring) -------------

def test_host_signs_its_values_only_once_the_engine_says_it_is_synchronized(vectors):
    auth = AutokeyAuth(AutokeyHost(load_creds(vectors, "iff", "alice")))  # wired as the daemon does: no lambda
    auth.synchronized(False, VECTOR_NOW)
    unsigned = dict(auth.system_variables())
    assert "update" not in unsigned
    # before anything is signed the leap table's current era is still shown (the table's last entry)
    assert (unsigned["tai"], unsigned["leapsec"], unsigned["expire"]) == ("37", "201701010000", "202712280000")
    auth.synchronized(True, VECTOR_NOW + 120)
    assert dict(auth.system_variables())["update"] == _minutes(VECTOR_NOW + 120)
    auth.synchronized(True, VECTOR_NOW + 240)  # no change of state: nothing signed again
    assert dict(auth.system_variables())["update"] == _minutes(VECTOR_NOW + 120)


def _minutes(unix: float) -> str:
    return time.strftime("%Y%m%d%H%M", time.gmtime(unix))


def test_broadcast_client_peer_variables_show_the_host_and_the_autokey_values(vectors):
    net, _ = make_net(vectors)
    net.run(40, until=lambda: (a := broadcast_assoc(net.client)) is not None and a.hmode == MODE_BCLIENT)
    variables = dict(net.client.authenticator.peer_variables(broadcast_assoc(net.client)))
    assert variables["host"] == '"alice"' and variables["flags"] == "0x87f23"
    assert variables["signature"] == '"md5WithRSAEncryption"' and "initsequence" in variables


# --- a new broadcaster's first packet must carry its association message (anyone can compute a cookie-0 MAC) -------

STRANGER = "10.99.0.77"


def _broadcast_from_stranger(first: ExtensionField, now: float) -> bytes:
    header = encode_header(NtpPacket(leap=0, mode=MODE_BROADCAST, stratum=6, poll=3, xmt=to_ntp64(now)))
    region = first.encode()
    keyid = 0x5A5A5A5A
    return header + region + mac(session_key(STRANGER, CLIENT, keyid, 0), keyid, header + region)


STATUS = 0x80021  # an IFF host's ASSOC status word: signature NID 8, IFF, ENAB


def _assoc_message(**kw) -> ExtensionField:
    """An ASSOC field as a broadcaster sends it (host name, status word): unsigned, so anyone can make one."""
    return ExtensionField(**{"code": Opcode.ASSOC, "associd": 4242, "response": True, "value": b"alice",
                             "tstamp": int(VECTOR_NOW) + NTP_UNIX_OFFSET, "fstamp": STATUS, **kw})


@pytest.mark.parametrize("first", [
    _assoc_message(response=False),  # a request, not the broadcaster's answer
    _assoc_message(error=True),  # an error response
    _assoc_message(associd=0),  # no association to name
], ids=["request", "error", "no-associd"])
def test_broadcast_whose_first_field_is_no_association_message_mobilises_nothing(vectors, first):
    net, _ = make_net(vectors)
    net.run(2)
    badauth = net.client.counters["badauth"]
    assert net.deliver(_broadcast_from_stranger(first, net.now), src=STRANGER) == []
    assert all(a.srcadr[0] != STRANGER for a in net.client.associations.values())
    assert net.client.counters["badauth"] == badauth + 1


def test_broadcasters_association_message_at_mobilisation_names_host_and_status(vectors):
    # as ntpd's crypto_recv at AM_NEWBCL: the ASSOC message of a new broadcaster's first packet gives the host name
    # and status word the volley starts from (its certificate, identity and values are still to be proven)
    net, _ = make_net(vectors)
    net.run(2)
    assert net.deliver(_broadcast_from_stranger(_assoc_message(), net.now), src=STRANGER) == []
    assoc = next(a for a in net.client.associations.values() if a.srcadr[0] == STRANGER)
    variables = dict(net.client.authenticator.peer_variables(assoc))
    assert variables["host"] == '"alice"' and variables["flags"] == "0x84021"  # LEAP preset: no TAI announced
    assert not net.client.authenticator.proven(assoc) and assoc.reach == 0


# --- identity proofs: a fresh random k in every response, or the group key leaks (IFF: y = k + b*r mod q) ----------

def test_identity_responses_use_a_fresh_secret_every_time(vectors):
    creds = load_creds(vectors, "iff", "alice")
    challenge = schemes.challenge_value(schemes.iff_challenge(creds.identity.iff))
    assert schemes.iff_response(creds.identity.iff, challenge) != schemes.iff_response(creds.identity.iff, challenge)


# --- SIGHUP: which exchanges a reload restarts (AutokeyAuth.replace_credentials) ----------------------------------

@pytest.mark.parametrize("scheme, full", [("iff", 0x87F23), ("gq", 0x87F43), ("mv", 0x87F83)])
def test_reload_with_the_same_keys_restarts_nothing(vectors, scheme, full):
    pair = make_pair(vectors, scheme)
    assert pair.run(8) == full
    restarted = pair.client.replace_credentials(load_creds(vectors, scheme, "bob"), pair.now, [pair.assoc])
    assert restarted == [] and pair.flags == full


def test_reload_with_a_new_host_certificate_restarts_every_exchange(vectors):
    # same host key, a newly issued certificate (e.g. renew.yml): our signed values change, so do the exchanges
    pair = make_pair(vectors, "iff")
    assert pair.run(8) == 0x87F23
    creds = load_creds(vectors, "iff", "bob")
    key = creds.host_key
    cert = build_certificate(subject="bob", public_key=key.public_key(), issuer="bob", signing_key=key, digest="md5",
                             serial=creds.cert_fstamp + 60, not_before=int(VECTOR_NOW) - 60,
                             not_after=int(VECTOR_NOW) + 86400, extensions=ntp_extensions("trust"))
    restarted = pair.client.replace_credentials(dataclasses.replace(creds, certificate=cert), pair.now, [pair.assoc])
    assert restarted == [pair.assoc.assid] and pair.flags == 0
    assert pair.client.next_step(pair.assoc, pair.now) <= pair.now + 5  # the new exchange starts now, not in a poll


# --- pacing: each Autokey step follows the last answer, not the next poll (AutokeyAuth.next_step) -----------------

def test_unicast_handshake_reaches_full_flags_within_seconds(vectors):
    # nine packets, each sent as soon as the previous answer was processed: about 6.5 s in this simulation
    # (paced by the poll instead, the same exchange takes 12 s; the reference ntpd, one step per poll, minutes)
    net, _ = unicast_net(vectors)
    start = net.now
    net.run(60, step=0.1, until=lambda: (a := server_assoc(net)).auth_state is not None
            and a.auth_state.crypto == 0x87F23)
    assert server_assoc(net).auth_state.crypto == 0x87F23
    assert net.now - start <= 9.0


# === round 2 (issue 13): survivors of the complete run over autokey/ ===============================================

CLIENT_ADDR, SERVER_ADDR = "10.99.0.2", "10.99.0.1"
SECRET = b"sixteen byte key"


def _symmetric(*keyids: int) -> SymmetricKeyAuth:
    return SymmetricKeyAuth({k: SymmetricKey(k, "MD5", SECRET) for k in keyids}, set(keyids))


def _header(mode: int = 3) -> bytes:
    return encode_header(NtpPacket(mode=mode, stratum=10 if mode == 3 else 5, poll=6, xmt=to_ntp64(VECTOR_NOW)))


def _symmetric_mac_packet(keyid: int, mode: int = 3) -> bytes:
    """A packet MAC'd as ntpd does with symmetric key `keyid` (MD5 of secret || header)."""
    header = _header(mode)
    return header + keyid.to_bytes(4, "big") + compute_mac("MD5", SECRET, header)


def _session_mac_packet(keyid: int, cookie: int, region: bytes = b"", mode: int = 3, src: str = CLIENT_ADDR,
                        dst: str = SERVER_ADDR) -> bytes:
    """A packet MAC'd with the Autokey session key of (src, dst, keyid, cookie)."""
    header = _header(mode)
    return header + region + mac(session_key(src, dst, keyid, cookie), keyid, header + region)


def _server(vectors, symmetric: SymmetricKeyAuth | None = None) -> AutokeyAuth:
    auth = AutokeyAuth(AutokeyHost(load_creds(vectors, "iff", "alice")), symmetric)
    auth.set_synchronized(True, VECTOR_NOW)
    return auth


# --- key IDs up to NTP_MAXKEY (65535) are symmetric keys, above are Autokey session keys ---------------------------

def test_key_65535_is_a_symmetric_key_and_65536_a_session_key(vectors):
    server = _server(vectors, _symmetric(65535, 65536))
    src = (CLIENT_ADDR, 123)
    # 65535: checked with the keys file's key, and the reply MAC'd with it (as ntpd: key ID + MD5(secret || header))
    data = _symmetric_mac_packet(65535)
    verdict = server.check(decode(data), data, src, SERVER_ADDR, None, VECTOR_NOW)
    assert verdict.verdict is Verdict.OK and verdict.keyid == 65535
    reply = _header(4)
    assert server.reply_tail(decode(data), verdict, src, SERVER_ADDR, reply, VECTOR_NOW) == \
        (65535).to_bytes(4, "big") + compute_mac("MD5", SECRET, reply)
    assert server.mobilizes(decode(data), verdict)  # a symmetric key authenticates a new peer
    # 65536: a session key, whatever the keys file holds: a symmetric MAC with it is refused, the session key's passes
    data = _symmetric_mac_packet(65536)
    assert server.check(decode(data), data, src, SERVER_ADDR, None, VECTOR_NOW).verdict is Verdict.ERROR
    cookie = server.host.cookie_for(CLIENT_ADDR, SERVER_ADDR, VECTOR_NOW)
    data = _session_mac_packet(65536, cookie)
    verdict = server.check(decode(data), data, src, SERVER_ADDR, None, VECTOR_NOW)
    assert verdict.verdict is Verdict.OK and verdict.keyid == 65536
    assert not server.mobilizes(decode(data), verdict)
    tail = server.reply_tail(decode(data), verdict, src, SERVER_ADDR, reply, VECTOR_NOW)
    assert tail == mac(session_key(SERVER_ADDR, CLIENT_ADDR, 65536, cookie), 65536, reply)


def test_symmetric_key_association_on_an_autokey_host_sends_the_keys_file_mac(vectors):
    client = AutokeyAuth(AutokeyHost(load_creds(vectors, "iff", "bob")), _symmetric(65535))
    assoc = FakeAssoc(7, (SERVER_ADDR, 123), CLIENT_ADDR, 3, keyid=65535, autokey=False)
    header = _header()
    expected = (65535).to_bytes(4, "big") + compute_mac("MD5", SECRET, header)
    assert client.request_tail(assoc, header, VECTOR_NOW) == expected


class _RecordingSymmetric(SymmetricKeyAuth):
    """The keys-file authenticator, recording what it was asked (a symmetric authenticator may use the addresses,
    the association and the time: AutokeyAuth must hand them on as the engine gave them)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.calls: list[tuple] = []

    def check(self, packet, data, src, dst, assoc, now):
        self.calls.append(("check", packet, data, src, dst, assoc, now))
        return super().check(packet, data, src, dst, assoc, now)

    def request_tail(self, assoc, header, now):
        self.calls.append(("request_tail", assoc, header, now))
        return super().request_tail(assoc, header, now)

    def reply_tail(self, request, verdict, src, dst, header, now):
        self.calls.append(("reply_tail", request, verdict, src, dst, header, now))
        return super().reply_tail(request, verdict, src, dst, header, now)


def test_symmetric_key_calls_reach_the_symmetric_authenticator_unchanged(vectors):
    recording = _RecordingSymmetric({1: SymmetricKey(1, "MD5", SECRET)}, {1})
    auth = _server(vectors, recording)
    data, src, assoc = _symmetric_mac_packet(1), (CLIENT_ADDR, 123), FakeAssoc(9, (CLIENT_ADDR, 123), SERVER_ADDR, 3,
                                                                                keyid=1, autokey=False)
    packet = decode(data)
    verdict = auth.check(packet, data, src, SERVER_ADDR, assoc, VECTOR_NOW + 1)
    reply = _header(4)
    auth.reply_tail(packet, verdict, src, SERVER_ADDR, reply, VECTOR_NOW + 2)
    auth.request_tail(assoc, reply, VECTOR_NOW + 3)
    assert recording.calls == [("check", packet, data, src, SERVER_ADDR, assoc, VECTOR_NOW + 1),
                               ("reply_tail", packet, verdict, src, SERVER_ADDR, reply, VECTOR_NOW + 2),
                               ("request_tail", assoc, reply, VECTOR_NOW + 3)]
    assert verdict.verdict is Verdict.OK


# --- signatures with every host/sign key type ntp-keygen makes (-S RSA, -S DSA) -----------------------------------

@functools.lru_cache(maxsize=None)
def _dsa_key(bits: int) -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(bits)


@pytest.mark.parametrize("bits, digest, length", [(1024, "sha1", 48), (2048, "sha256", 72)])
def test_dsa_signature_verifies_and_a_tampered_one_is_refused(bits, digest, length):
    key = _dsa_key(bits)
    data = b"\x00\x00\x00\x01value"
    signature = sign(key, data, digest)
    verify(key.public_key(), data, signature, digest)
    assert len(signature) <= signature_length(key.public_key()) == signature_length(key) == length  # EVP_PKEY_size
    for bad_data, bad_signature in ((data + b"!", signature), (data, signature[:-1] + bytes([signature[-1] ^ 1]))):
        with pytest.raises(AutokeyError) as refused:
            verify(key.public_key(), bad_data, bad_signature, digest)
        assert refused.value.code == Xevnt.SIG
    with pytest.raises(AutokeyError) as refused:  # the digest is part of what is verified
        verify(key.public_key(), data, signature, "sha224")
    assert refused.value.code == Xevnt.SIG


def test_rsa_signature_with_the_default_digest(vectors):
    key = load_creds(vectors, "iff", "alice").host_key
    signature = sign(key, b"value")  # md5, what a vector certificate (RSA-MD5) binds
    verify(key.public_key(), b"value", signature)
    with pytest.raises(AutokeyError) as refused:
        verify(key.public_key(), b"value", signature, "sha1")
    assert refused.value.code == Xevnt.SIG


def test_keys_autokey_cannot_use_are_refused_with_a_public_key_error():
    key = ec.generate_private_key(ec.SECP256R1())  # ntp-keygen makes RSA and DSA keys only (-S RSA|DSA)
    signature = key.sign(b"value", ec.ECDSA(hashes.SHA256()))
    for public_key in (key.public_key(), None):
        with pytest.raises(AutokeyError) as refused:
            verify(public_key, b"value", signature, "sha256")
        assert refused.value.code == Xevnt.PUB
    with pytest.raises(AutokeyError) as refused:
        sign(key, b"value", "sha256")
    assert refused.value.code == Xevnt.PUB
    with pytest.raises(AutokeyError) as refused:
        signature_length(key.public_key())
    assert refused.value.code == Xevnt.PUB


def _dsa_server_creds(vectors, digest: str = "sha1") -> HostCredentials:
    """alice as `ntp-keygen -S DSA` makes her: RSA host key (cookies), DSA sign key, DSA-signed certificate."""
    creds = load_creds(vectors, "iff", "alice")
    sign_key = _dsa_key(1024 if digest == "sha1" else 2048)
    issued = int(VECTOR_NOW) - 60
    cert = build_certificate(subject="alice", public_key=sign_key.public_key(), issuer="alice", signing_key=sign_key,
                             digest=digest, serial=issued + NTP_UNIX_OFFSET, not_before=issued,
                             not_after=issued + 86400, extensions=ntp_extensions("trust"))
    return dataclasses.replace(creds, sign_key=sign_key, certificate=cert, cert_fstamp=issued + NTP_UNIX_OFFSET)


# DSA-SHA256 (NID 803): ntpd-py-keygen writes it; ntpd-py's clients refused it with XEVNT_MD until c24968b
@pytest.mark.parametrize("digest, nid, name", [("sha1", 113, "dsaWithSHA1"), ("sha256", 803, "dsa_with_SHA256")])
def test_server_with_a_dsa_sign_key_is_proven(vectors, digest, nid, name):
    pair = make_pair(vectors, "iff", server_creds=_dsa_server_creds(vectors, digest))
    assert pair.run(12) == (nid << 16) | 0x7F23  # every step, each value's DSA signature verified
    assert pair.client.proven(pair.assoc)
    assert dict(pair.client.peer_variables(pair.assoc))["signature"] == f'"{name}"'


def _remac(rdata: bytes, region: bytes) -> bytes:
    """The reply with its fields replaced and MAC'd again: packets with fields use cookie 0, so anyone on the path
    can do this; only the signatures inside the fields stop them."""
    keyid = decode(rdata).keyid
    header = rdata[:48]
    return header + region + mac(session_key(SERVER_ADDR, CLIENT_ADDR, keyid, 0), keyid, header + region)


def test_tampered_dsa_signature_is_refused_and_proves_nothing(vectors):
    def flip_signature_byte(rdata: bytes) -> bytes:
        field = decode(rdata).extensions[0] if decode(rdata).extensions else b""
        if len(field) <= 24 or not decode_field(field)[0].signature:
            return rdata
        at = len(field) - 8  # inside the signature (the field's last bytes, padded to 4)
        return _remac(rdata, field[:at] + bytes([field[at] ^ 0x55]) + field[at + 1:])

    pair = make_pair(vectors, "iff", server_creds=_dsa_server_creds(vectors))
    for _ in range(12):
        pair.step(tamper=flip_signature_byte)
    peer = pair.assoc.auth_state
    assert not pair.client.proven(pair.assoc) and not pair.flags & 0x400  # no PROV
    assert peer.errors[Xevnt.SIG] > 0 and peer.last_event == Xevnt.SIG


# --- group rules (ntpd's receive() and group_test()), applied by AutokeyAuth.check before the MAC ------------------

def _grouped(vectors, subject: str, ident: str | None = None) -> AutokeyAuth:
    """alice's vector key under the host name `subject` (alice@grp: trust group grp), self-signed and trusted."""
    creds = load_creds(vectors, "iff", "alice")
    issued = int(VECTOR_NOW) - 60
    cert = build_certificate(subject=subject, public_key=creds.host_key.public_key(), issuer=subject,
                             signing_key=creds.host_key, digest="md5", serial=issued + NTP_UNIX_OFFSET,
                             not_before=issued, not_after=issued + 86400, extensions=ntp_extensions("trust"))
    auth = AutokeyAuth(AutokeyHost(dataclasses.replace(creds, certificate=cert, cert_fstamp=issued + NTP_UNIX_OFFSET,
                                                       ident=ident)))
    auth.set_synchronized(True, VECTOR_NOW)
    return auth


def _assoc_request(hostname: str | bytes, **kw) -> ExtensionField:
    value = hostname.encode() if isinstance(hostname, str) else hostname
    return ExtensionField(**{"code": Opcode.ASSOC, "associd": 7, "tstamp": int(VECTOR_NOW) + NTP_UNIX_OFFSET,
                             "fstamp": STATUS, "value": value, **kw})


def _check_fields(auth: AutokeyAuth, fields: list[ExtensionField], mode: int = 3, assoc=None):
    """A packet from CLIENT_ADDR carrying `fields`, with the cookie-0 session-key MAC anyone can compute."""
    region = b"".join(f.encode() for f in fields)
    src, dst = (CLIENT_ADDR, SERVER_ADDR) if assoc is None else (assoc.srcadr[0], assoc.dstadr)
    data = _session_mac_packet(0x5A5A5A5A, 0, region, mode=mode, src=src, dst=dst)
    return auth.check(decode(data), data, (src, 123), dst, assoc, VECTOR_NOW)


def test_server_with_a_group_declines_a_host_without_one_and_answers_its_group(vectors):
    server = _grouped(vectors, "alice@grp")
    declined = _check_fields(server, [_assoc_request("bob")])
    assert declined.verdict is Verdict.DECLINED and declined.keyid == 0x5A5A5A5A
    assert "empty autokey groupname" in declined.reason
    assert _check_fields(server, [_assoc_request("bob@grp")]).verdict is Verdict.OK
    # a client's request from another group is answered (ntpd answers requests in its fast path, no group_test)
    assert _check_fields(server, [_assoc_request("bob@other")]).verdict is Verdict.OK
    # an ASSOC response names a host too (a server answering a client of group grp)
    assert _check_fields(server, [_assoc_request("bob", response=True)]).verdict is Verdict.DECLINED
    # the host name's bytes as they are: one that is not ASCII still has no group
    assert _check_fields(server, [_assoc_request("b\xf6b".encode("latin-1"))]).verdict is Verdict.DECLINED
    assert _check_fields(server, [_assoc_request("b\xf6b@grp".encode("latin-1"))]).verdict is Verdict.OK


def test_group_rules_look_at_every_assoc_field_and_only_at_those(vectors):
    server = _grouped(vectors, "alice@grp")
    cert_request = ExtensionField(code=Opcode.CERT, associd=7, tstamp=int(VECTOR_NOW) + NTP_UNIX_OFFSET, fstamp=0,
                                  value=b"alice")  # a host name without a group, but not in an ASSOC field
    assert _check_fields(server, [cert_request]).verdict is Verdict.OK
    assert _check_fields(server, [cert_request, _assoc_request("bob")]).verdict is Verdict.DECLINED
    assert _check_fields(server, [cert_request, _assoc_request("bob@grp")]).verdict is Verdict.OK
    # an ASSOC field without a host name (8-byte form, or an empty value) names no group
    assert _check_fields(server, [ExtensionField(code=Opcode.ASSOC, associd=7)]).verdict is Verdict.DECLINED
    assert _check_fields(server, [_assoc_request(b"")]).verdict is Verdict.DECLINED


def test_server_without_a_group_applies_no_group_rule(vectors):
    server = _grouped(vectors, "alice")
    assert _check_fields(server, [_assoc_request("bob")], mode=1).verdict is Verdict.OK
    assert _check_fields(server, [_assoc_request("bob@other")], mode=1).verdict is Verdict.OK


def test_symmetric_and_association_packets_must_be_of_our_group_or_ident(vectors):
    # a symmetric-active stranger (mode 1, no association yet) is not a client request: group_test applies
    server = _grouped(vectors, "alice@grp")
    assert _check_fields(server, [_assoc_request("bob@grp")], mode=1).verdict is Verdict.OK
    mismatch = _check_fields(server, [_assoc_request("bob@other")], mode=1)
    assert mismatch.verdict is Verdict.DECLINED and "group mismatch" in mismatch.reason
    assert _check_fields(server, [_assoc_request("bob")], mode=1).verdict is Verdict.DECLINED
    # `crypto ident other` lets group "other" in
    assert _check_fields(_grouped(vectors, "alice@grp", ident="other"), [_assoc_request("bob@other")],
                         mode=1).verdict is Verdict.OK
    # a server's answer to our association (mode 4): its group must be ours or the association's `ident`
    client = _grouped(vectors, "alice@grp")
    answer = [_assoc_request("bob@other", response=True)]
    assoc = FakeAssoc(38363, (CLIENT_ADDR, 123), SERVER_ADDR, 3, ident="other")
    assert _check_fields(client, answer, mode=4, assoc=assoc).verdict is not Verdict.DECLINED
    assoc = FakeAssoc(38364, (CLIENT_ADDR, 123), SERVER_ADDR, 3, ident="third")
    assert _check_fields(client, answer, mode=4, assoc=assoc).verdict is Verdict.DECLINED
    # without an `ident` on the association, `crypto ident` decides
    assoc = FakeAssoc(38365, (CLIENT_ADDR, 123), SERVER_ADDR, 3)
    assert _check_fields(_grouped(vectors, "alice@grp", ident="other"), answer, mode=4,
                         assoc=assoc).verdict is not Verdict.DECLINED
    assert _check_fields(client, answer, mode=4, assoc=assoc).verdict is Verdict.DECLINED


# --- what a client checks in every signed response (crypto_verify), seen as ntpq's crypto_event and cryptostats ---


ASSID = 38363  # the pair's association


def _answer(pair, fields: list[ExtensionField] | bytes, *, stratum: int = 5, refid: bytes = b"") -> object:
    """The client sends its next request; `fields` come back in a reply with the cookie-0 MAC anyone can compute
    (packets with fields use cookie 0), so only the checks inside the fields stand between them and the client."""
    header = encode_header(NtpPacket(mode=3, stratum=10, poll=6))
    request = decode(header + pair.client.request_tail(pair.assoc, header, pair.now))
    return _deliver_answer(pair, request.keyid, fields, stratum=stratum, refid=refid)


def _deliver_answer(pair, keyid: int, fields: ExtensionField | list[ExtensionField] | bytes, *, stratum: int = 5,
                    refid: bytes = b"") -> object:
    """A reply to the request with `keyid` (already sent) carrying `fields`, cookie-0 MAC'd, checked by the client."""
    rheader = encode_header(NtpPacket(mode=4, stratum=stratum, poll=6, refid=refid))
    if isinstance(fields, ExtensionField):
        fields = [fields]
    region = fields if isinstance(fields, bytes) else b"".join(f.encode() for f in fields)
    rdata = rheader + region + mac(session_key(SERVER_ADDR, CLIENT_ADDR, keyid, 0), keyid, rheader + region)
    return pair.client.check(decode(rdata), rdata, (SERVER_ADDR, 123), CLIENT_ADDR, pair.assoc, pair.now)


def _event(pair) -> str:
    return dict(pair.client.peer_variables(pair.assoc)).get("crypto_event", "")


def _leap(pair, tstamp: int, fstamp: int, **kw) -> ExtensionField:
    """A LEAP response signed by the server's own key with chosen timestamps."""
    signed = pair.server.host.signed(pair.server.host.leap.value, tstamp, fstamp)
    return dataclasses.replace(signed.field(Opcode.LEAP, ASSID), **kw)


@pytest.fixture
def proven_pair(vectors):
    pair = make_pair(vectors, "iff")
    assert pair.run(12) == 0x87F23
    return pair


NTP_NOW = int(VECTOR_NOW) + NTP_UNIX_OFFSET


@pytest.mark.parametrize("field, code", [
    (lambda p: ExtensionField(code=Opcode.LEAP, associd=ASSID, response=True, error=True), Xevnt.ERR),
    (lambda p: ExtensionField(code=Opcode.LEAP, associd=ASSID, response=True), Xevnt.LEN),  # no value at all
    (lambda p: _leap(p, NTP_NOW, NTP_NOW - 9, associd=ASSID + 1), Xevnt.ERR),  # another association's answer
    (lambda p: _leap(p, NTP_NOW, NTP_NOW - 9, value=b""), Xevnt.LEN),
    (lambda p: _leap(p, 0, 0), Xevnt.TSP),  # the server was not synchronized: nothing is signed
    (lambda p: _leap(p, NTP_NOW - 9, NTP_NOW), Xevnt.TSP),  # signed before its key file was made
    (lambda p: _leap(p, NTP_NOW, NTP_NOW - 9, signature=b""), Xevnt.ERR),
    (lambda p: dataclasses.replace(_leap(p, NTP_NOW, NTP_NOW - 9), tstamp=NTP_NOW + 1), Xevnt.SIG),  # not as signed
], ids=["error-bit", "short", "associd", "empty", "unsynchronized", "tstamp-before-fstamp", "unsigned", "tampered"])
def test_refused_response_names_its_error_and_changes_nothing(proven_pair, field, code):
    pair = proven_pair
    tai = pair.assoc.auth_state.tai
    answer = field(pair)
    verdict = _answer(pair, [answer])
    assert verdict.verdict is Verdict.ERROR and pair.flags == 0x87F23 and pair.assoc.auth_state.tai == tai
    assert _event(pair).startswith(f'"0x{code:x} ')
    # cryptostats: the source address, then ntpd's "%04x %d %02x %s" (opcode word, association, code, text)
    assert pair.log[-1].startswith(f"C {SERVER_ADDR} {answer.encode()[:2].hex()} {ASSID} {int(code):x} ")


def test_response_signed_at_its_filestamp_is_accepted(proven_pair):
    # tstamp == fstamp (values signed in the second their key file was made) is not "before" it
    pair = proven_pair
    assert _answer(pair, [_leap(pair, NTP_NOW, NTP_NOW)]).ok
    assert pair.log[-1] == f"C {SERVER_ADDR} leap TAI offset 37 at 3692217600 expire 3694377600 fs {NTP_NOW}"


def _auto(pair, tstamp: int, fstamp: int, key: int = 0x12345678) -> ExtensionField:
    return pair.server.host.signed(autokey_value(17, key), tstamp, fstamp).field(Opcode.AUTO, ASSID)


def test_autokey_values_pushed_again_are_accepted_and_older_filestamps_refused(proven_pair):
    pair = proven_pair
    assert _answer(pair, [_auto(pair, NTP_NOW, NTP_NOW)]).ok
    assert _answer(pair, [_auto(pair, NTP_NOW, NTP_NOW)]).ok  # the same values again (ntpd pushes after SIGN)
    assert pair.assoc.auth_state.recval == (NTP_NOW, NTP_NOW, 17, 0x12345678)
    # newer values must not come from an older key file
    assert _answer(pair, [_auto(pair, NTP_NOW + 5, NTP_NOW - 1, key=0x2345)]).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{Xevnt.FSP:x} ')
    assert pair.assoc.auth_state.recval == (NTP_NOW, NTP_NOW, 17, 0x12345678)
    assert _answer(pair, [_auto(pair, NTP_NOW + 5, NTP_NOW + 1, key=0x2345)]).ok


def test_unreadable_field_is_a_length_error_from_the_server(proven_pair):
    # the field's own length is right (the packet parses), its value length is not: XEVNT_LEN, logged as ntpd does
    pair = proven_pair
    raw = bytearray(_leap(pair, NTP_NOW, NTP_NOW - 9).encode())
    raw[16:20] = (4000).to_bytes(4, "big")  # value length beyond the field
    assert _answer(pair, bytes(raw)).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{Xevnt.LEN:x} ')
    assert pair.log[-1].startswith(f"C {SERVER_ADDR} 0000 {ASSID} 101 ")


# --- a RATE kiss through an Autokey association slows its steps to iburst's spacing (AutokeyAuth's pacing) ----------

def _as_rate_kiss(rdata: bytes) -> bytes:
    """The server's reply as ntpd's fast_xmit sends it under `restrict limited kod`: stratum 0, refid RATE, the
    answer and its cookie-0 MAC kept."""
    header = bytearray(rdata[:48])
    header[1], header[12:16] = 0, b"RATE"
    pkt = decode(rdata)
    region = rdata[48:pkt.mac_covered]
    keyid = pkt.keyid
    return bytes(header) + region + mac(session_key(SERVER_ADDR, CLIENT_ADDR, keyid, 0), keyid, bytes(header) + region)


def test_steps_follow_answers_quickly_and_a_rate_kiss_slows_them(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()  # ASSOC answered: a new flag, the next step 0.5 s after the answer
    assert pair.client.next_step(pair.assoc, pair.now) == pair.now - 1 + 0.5
    pair.step(tamper=_as_rate_kiss)  # the certificate, in a kiss: progress still, but no faster than iburst
    assert pair.flags & 0x100
    assert pair.client.next_step(pair.assoc, pair.now) == pair.now - 1 + 2.0
    pair.step()
    assert pair.client.next_step(pair.assoc, pair.now) == pair.now - 1 + 2.0  # for the rest of the exchange


def test_answer_that_gains_nothing_backs_the_next_step_off(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()
    assert pair.client.next_step(pair.assoc, pair.now) == pair.now - 1 + 0.5
    refused = ExtensionField(code=Opcode.CERT, associd=ASSID, response=True, error=True)
    assert _answer(pair, [refused]).verdict is Verdict.ERROR
    assert pair.client.next_step(pair.assoc, pair.now) == pair.now + 1.0  # twice the spacing, from now
    assert _answer(pair, [refused]).verdict is Verdict.ERROR
    assert pair.client.next_step(pair.assoc, pair.now) == pair.now + 2.0


# --- broadcast with `crypto digest sha1`: the key ID chain is walked with the configured digest ---------------------

def test_broadcast_client_with_sha1_session_keys_follows_the_key_list(vectors):
    stats: list[str] = []
    creds = {name: dataclasses.replace(load_creds(vectors, "iff", name), digest="sha1") for name in ("alice", "bob")}
    net = BroadcastNet(autokey_host(BSERVER_CONF, SERVER, creds["alice"], stats),
                       autokey_host(BCLIENT_CONF, CLIENT, creds["bob"], stats))
    net.run(40, until=lambda: (a := broadcast_assoc(net.client)) is not None and a.hmode == MODE_BCLIENT
            and a.bcast_delay is not None)
    assoc = broadcast_assoc(net.client)
    assert assoc.hmode == MODE_BCLIENT and assoc.auth_state.crypto == 0x87F23
    received = assoc.received
    net.run(40, step=0.25)
    assert assoc.received - received >= 4 and assoc.hmode == MODE_BCLIENT
    assert net.client.counters["badauth"] == 0 and net.client.authenticator.counters["keylist"] == 0
    broadcasts = [decode(d) for d in net.to_client if decode(d).mode == MODE_BROADCAST]
    assert broadcasts and all(len(p.mac) == 20 for p in broadcasts)  # SHA1 MACs
    # cryptostats name the broadcaster as the source of what it sent (association message, autokey values)
    client_lines = [line for line in stats if line.startswith(f"{CLIENT} ")]
    assert any(line.startswith(f"{CLIENT} {SERVER} assoc ") for line in client_lines)
    assert any(line.startswith(f"{CLIENT} {SERVER} auto seq ") for line in client_lines)


# --- the server's signature budget: requests that cost a private-key operation, at most 200 at once then 100/s ------

def _server_answer(server: AutokeyAuth, field: ExtensionField, now: float) -> ExtensionField:
    region = field.encode()
    data = _session_mac_packet(0x5A5A5A5A, 0, region)
    request = decode(data)
    verdict = server.check(request, data, (CLIENT_ADDR, 123), SERVER_ADDR, None, now)
    reply = _header(4)
    tail = server.reply_tail(request, verdict, (CLIENT_ADDR, 123), SERVER_ADDR, reply, now)
    return decode_field(decode(reply + tail).extensions[0])[0]


def test_expensive_requests_beyond_the_signature_budget_get_an_error_answer(vectors):
    server = _server(vectors)
    cookie_request = AutokeyHost(load_creds(vectors, "iff", "bob")).pubkey.field(Opcode.COOK, 4711, response=False)
    answers = [_server_answer(server, cookie_request, VECTOR_NOW) for _ in range(200)]
    assert all(a.code == Opcode.COOK and a.response and not a.error and a.signature for a in answers)
    refused = _server_answer(server, cookie_request, VECTOR_NOW)
    assert (refused.code, refused.associd, refused.response, refused.error, refused.short) == (Opcode.COOK, 4711, True,
                                                                                               True, True)
    # what costs no signature is still answered: the host's association message
    assoc = _server_answer(server, _assoc_request("bob"), VECTOR_NOW)
    assert assoc.code == Opcode.ASSOC and not assoc.error and assoc.value == b"alice"
    # the budget refills at 100 per second: 1.5 signatures after 15 ms
    assert not _server_answer(server, cookie_request, VECTOR_NOW + 0.015).error
    assert _server_answer(server, cookie_request, VECTOR_NOW + 0.015).error


# --- autokey values: the same values again are nothing new; different ones under the same timestamp are a replay ----

def test_autokey_values_replayed_or_changed_under_one_timestamp_are_refused(proven_pair):
    pair = proven_pair
    assert _answer(pair, [_auto(pair, NTP_NOW, NTP_NOW - 5)]).ok
    assert _answer(pair, [_auto(pair, NTP_NOW, NTP_NOW - 5)]).ok  # pushed again: accepted, nothing changes
    assert _answer(pair, [_auto(pair, NTP_NOW, NTP_NOW - 5, key=0x2345)]).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{Xevnt.TSP:x} ')
    assert _answer(pair, [_auto(pair, NTP_NOW - 3, NTP_NOW - 5, key=0x2345)]).verdict is Verdict.ERROR  # older
    assert _event(pair).startswith(f'"0x{Xevnt.TSP:x} ')
    assert pair.assoc.auth_state.recval == (NTP_NOW, NTP_NOW - 5, 17, 0x12345678)


def test_signed_response_before_the_servers_certificate_is_a_protocol_error(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()  # ASSOC: the digest is known, the server's key is not yet
    assert _answer(pair, [_leap(pair, NTP_NOW, NTP_NOW - 9)]).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{Xevnt.ERR:x} ') and not pair.flags & 0x4000


# --- symmetric peers: plain packets must follow the peer's key list; a request is answered within ANSWER_DELAY -----

@functools.lru_cache(maxsize=None)
def _gq_group():
    return gq.generate(512)


def _symmetric_peer(name: str, log: list[str]) -> AutokeyAuth:
    group = _gq_group()
    key = rsa.generate_private_key(65537, 1024)
    mine = group.with_new_key()
    fstamp = int(VECTOR_NOW) - 3600 + NTP_UNIX_OFFSET
    cert = build_certificate(subject=name, public_key=key.public_key(), issuer=name, signing_key=key, digest="md5",
                             serial=fstamp, not_before=int(VECTOR_NOW) - 3600, not_after=int(VECTOR_NOW) + 86400,
                             extensions=ntp_extensions("trust", gq_public=mine.v))
    ident = IdentityKeys(gq=mine, gq_fstamp=fstamp, clients={("gq", "grp"): (group.client(), fstamp)})
    auth = AutokeyAuth(AutokeyHost(HostCredentials(host_key=key, host_fstamp=fstamp, certificate=cert,
                                                   cert_fstamp=fstamp, identity=ident),
                                   stats=lambda src, line: log.append(f"{name} {src} {line}")))
    auth.set_synchronized(True, VECTOR_NOW)
    return auth


def _packet(frm: AutokeyAuth, frm_assoc, now: float) -> bytes:
    header = encode_header(NtpPacket(mode=frm_assoc.hmode, stratum=3, poll=6))
    return header + frm.request_tail(frm_assoc, header, now)


def _deliver(data: bytes, to: AutokeyAuth, to_assoc, now: float):
    return to.check(decode(data), data, (to_assoc.srcadr[0], 123), to_assoc.dstadr, to_assoc, now)


def _symmetric_peers_after_a_broken_key_list():
    """Two GQ peers at full flags, then one of a's genuine packets replayed to b after a later one."""
    log: list[str] = []
    a, b = _symmetric_peer("ahost", log), _symmetric_peer("bhost", log)
    pa = FakeAssoc(1001, ("127.0.0.2", 123), "127.0.0.1", 1, ident="grp")
    pb = FakeAssoc(2002, ("127.0.0.1", 123), "127.0.0.2", 2, ident="grp")
    now = VECTOR_NOW
    assert _deliver(_packet(a, pa, now), b, pb, now).ok  # a's ASSOC request: b answers it soon, not at its poll
    assert b.next_step(pb, now) == now + 0.2
    _deliver(_packet(b, pb, now), a, pa, now)
    for _ in range(20):
        now += 1
        _deliver(_packet(a, pa, now), b, pb, now)
        _deliver(_packet(b, pb, now), a, pa, now)
    assert pb.auth_state.crypto & 0xFFFF == 0x7F41
    full = pb.auth_state.crypto
    first = _packet(a, pa, now)
    second = _packet(a, pa, now + 1)
    assert not decode(first).extensions and not decode(second).extensions
    assert _deliver(first, b, pb, now).ok and _deliver(second, b, pb, now + 1).ok
    # the first again (its MAC is genuine): its key ID does not hash to the last one, so the key list is broken
    replayed = _deliver(first, b, pb, now + 2)
    assert replayed.verdict is Verdict.ERROR and replayed.reason == "autokey sequence broken"
    return b, pb, full, now + 3


def test_symmetric_peer_answers_a_request_within_the_answer_delay_and_follows_the_key_list():
    b, pb, full, now = _symmetric_peers_after_a_broken_key_list()
    assert pb.auth_state.crypto & 0xFFFF == full & 0xFFFF & ~0x1000  # AUTO cleared, the rest kept
    request = decode(_packet(b, pb, now))  # b asks for a's autokey values again
    assert [decode_field(raw)[0].code for raw in request.extensions] == [Opcode.AUTO]


# ~CryptoFlag.AUTO complements only the defined flags (0x6fff): it cleared the signature NID until bbf9b6c
def test_broken_key_list_keeps_the_signature_nid_in_the_status_word():
    b, pb, full, _ = _symmetric_peers_after_a_broken_key_list()
    assert pb.auth_state.crypto >> 16 == full >> 16 == 8
    assert dict(b.peer_variables(pb))["signature"] == '"md5WithRSAEncryption"'


# --- the server side: every malformed request gets an error answer (E bit) and a cryptostats line, never more -------

def _logging_server(vectors, *, synchronized: bool = True, with_ident: bool = True) -> tuple[AutokeyAuth, list[str]]:
    log: list[str] = []
    auth = AutokeyAuth(AutokeyHost(load_creds(vectors, "iff", "alice", with_ident=with_ident),
                                   stats=lambda src, line: log.append(f"{src} {line}")))
    auth.set_synchronized(synchronized, VECTOR_NOW)
    return auth, log


def _request(code: int, **kw) -> ExtensionField:
    return ExtensionField(**{"code": code, "associd": 4711, "tstamp": NTP_NOW, "fstamp": 0, **kw})


@pytest.mark.parametrize("request_field, code, synchronized", [
    (_request(Opcode.CERT, value=b""), Xevnt.LEN, True),  # no subject name
    (_request(Opcode.CERT, value=b"a" * 256), Xevnt.LEN, True),  # longer than a host name may be
    (_request(Opcode.COOK, value=b""), Xevnt.LEN, True),
    (_request(Opcode.COOK, value=b"\x30\x03\x02\x01\x05"), Xevnt.PUB, True),  # not an RSA public key
    (_request(Opcode.SIGN, value=b"not a certificate"), Xevnt.TSP, False),  # unsynchronized: signs nothing
    (_request(Opcode.SIGN, value=b"not a certificate"), Xevnt.CRT, True),
    (_request(Opcode.SIGN, value=b""), Xevnt.LEN, True),
    (_request(Opcode.IFF, value=b""), Xevnt.LEN, True),  # no challenge
    (_request(Opcode.GQ, value=b"\x00" * 8), Xevnt.ID, True),  # a scheme this server does not hold
    (_request(Opcode.MV, value=b"\x00" * 8), Xevnt.ID, True),
    (_request(Opcode.AUTO), Xevnt.ERR, True),  # no broadcast association 4711 here
    (_request(Opcode.CERT, value=b"alice", response=True), Xevnt.ERR, True),  # a response, not a request
    (_request(12, value=b"x"), Xevnt.ERR, True),  # no such request
], ids=["cert-empty", "cert-long", "cook-empty", "cook-garbage", "sign-unsync", "sign-garbage", "sign-empty",
        "iff-empty", "gq-unavailable", "mv-unavailable", "auto-unknown", "response", "unknown-code"])
def test_malformed_request_gets_an_error_answer_and_a_cryptostats_line(vectors, request_field, code, synchronized):
    server, log = _logging_server(vectors, synchronized=synchronized)
    answer = server.host.respond(request_field, CLIENT_ADDR, SERVER_ADDR, VECTOR_NOW)
    assert (answer.code, answer.associd, answer.response, answer.error, answer.short) == (request_field.code, 4711,
                                                                                         True, True, True)
    opcode_word = (request_field.code << 16 | 0xC2000000) >> 16
    assert log[-1] == f"{CLIENT_ADDR} {opcode_word:04x} 4711 {int(code):x} {text(code)}"


def test_identity_request_to_a_server_without_the_groups_key_is_an_identity_error(vectors):
    server, log = _logging_server(vectors, with_ident=False)
    answer = server.host.respond(_request(Opcode.IFF, value=b"\x00" * 8), CLIENT_ADDR, SERVER_ADDR, VECTOR_NOW)
    assert answer.error and log[-1].endswith(f" {int(Xevnt.ID):x} {text(Xevnt.ID)}")


def test_certificate_request_for_an_unknown_subject_or_while_unsynchronized_gets_an_empty_answer(vectors):
    # not an error (ntpd answers with an empty value): the client asks again later
    for synchronized, subject in ((True, b"mallory"), (False, b"alice")):
        server, log = _logging_server(vectors, synchronized=synchronized)
        logged = len(log)
        answer = server.host.respond(_request(Opcode.CERT, value=subject), CLIENT_ADDR, SERVER_ADDR, VECTOR_NOW)
        assert answer.response and not answer.error and answer.short and len(log) == logged
    server, _ = _logging_server(vectors)
    answer = server.host.respond(_request(Opcode.CERT, value=b"a" * 255), CLIENT_ADDR, SERVER_ADDR, VECTOR_NOW)
    assert not answer.error  # 255 bytes: the longest host name, looked up (and not found)


# --- the client's first answer: the server's association message (ntpd's crypto_recv for ASSOC) --------------------

def _assoc_answer(**kw) -> ExtensionField:
    return ExtensionField(**{"code": Opcode.ASSOC, "associd": ASSID, "response": True, "tstamp": NTP_NOW,
                             "fstamp": 0x80021, "value": b"alice", **kw})


@pytest.mark.parametrize("answer, code", [
    (_assoc_answer(error=True, tstamp=None, value=b""), Xevnt.ERR),
    (_assoc_answer(value=b""), Xevnt.LEN),  # no host name
    (_assoc_answer(value=b"a" * 256), Xevnt.LEN),  # longer than a host name may be
    (_assoc_answer(fstamp=0x3E70021), Xevnt.MD),  # signature NID 999: no digest for it
], ids=["error-bit", "no-name", "long-name", "unknown-nid"])
def test_unusable_association_message_is_refused_with_ntpds_code(vectors, answer, code):
    pair = make_pair(vectors, "iff")
    assert _answer(pair, [answer]).verdict is Verdict.ERROR
    assert pair.flags == 0 and _event(pair).startswith(f'"0x{code:x} ')


def test_association_message_with_the_longest_host_name_is_accepted(vectors):
    pair = make_pair(vectors, "iff")
    assert _answer(pair, [_assoc_answer(value=b"a" * 255)]).ok
    assert dict(pair.client.peer_variables(pair.assoc))["host"] == '"' + "a" * 255 + '"'


def test_association_message_from_another_association_later_is_refused(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()
    flags = pair.flags
    assert _answer(pair, [_assoc_answer()]).ok  # the same association again: nothing new
    assert _answer(pair, [_assoc_answer(associd=ASSID + 1, value=b"mallory")]).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{Xevnt.ERR:x} ')
    assert pair.flags == flags and pair.assoc.auth_state.subject == "alice"


# --- SIGN: the server issues a certificate for the requester's subject and key, copying its extensions -------------



def _bob_certificate(vectors, *, issuer: str = "bob", not_before: int | None = None, version: int = 2):
    creds = load_creds(vectors, "iff", "bob")
    issued = int(VECTOR_NOW) - 60 if not_before is None else not_before
    return build_certificate(subject="bob", public_key=creds.host_key.public_key(), issuer=issuer,
                             signing_key=creds.host_key, digest="md5", serial=issued + NTP_UNIX_OFFSET,
                             not_before=issued, not_after=issued + 86400, extensions=ntp_extensions(None),
                             version=version)


def test_sign_request_is_answered_with_a_certificate_under_the_servers_name(vectors):
    server, _ = _logging_server(vectors)
    mine = _bob_certificate(vectors, version=0)
    answer = server.host.respond(_request(Opcode.SIGN, value=mine.der, fstamp=NTP_NOW - 77), CLIENT_ADDR,
                                 SERVER_ADDR, VECTOR_NOW)
    assert not answer.error and answer.fstamp == NTP_NOW - 77 and answer.tstamp == NTP_NOW
    issued = parse_certificate(answer.value)
    assert (issued.subject, issued.issuer, issued.extensions, issued.version) == ("bob", "alice", mine.extensions, 0)
    assert issued.verify(server.host.sign_key.public_key())
    assert (issued.not_before, issued.not_after) == (int(VECTOR_NOW), int(VECTOR_NOW) + 365 * 86400)
    verify(server.host.sign_key.public_key(), answer.signed_bytes(), answer.signature, "md5")


@pytest.mark.parametrize("make, code", [
    (lambda v: _bob_certificate(v, issuer="carol").der, Xevnt.VFY),  # not self-signed
    (lambda v: _bob_certificate(v).der[:-1] + bytes([_bob_certificate(v).der[-1] ^ 1]), Xevnt.VFY),  # bad signature
], ids=["not-self-signed", "bad-signature"])
def test_sign_request_with_a_certificate_that_does_not_verify_is_refused(vectors, make, code):
    server, log = _logging_server(vectors)
    answer = server.host.respond(_request(Opcode.SIGN, value=make(vectors)), CLIENT_ADDR, SERVER_ADDR, VECTOR_NOW)
    assert answer.error and log[-1].endswith(f" {int(code):x} {text(code)}")


def test_server_whose_certificate_expired_signs_nothing(vectors):
    server, log = _logging_server(vectors)
    later = VECTOR_NOW + 20 * 365 * 86400  # beyond the vector certificate's lifetime
    answer = server.host.respond(_request(Opcode.SIGN, value=_bob_certificate(vectors).der), CLIENT_ADDR,
                                 SERVER_ADDR, later)
    assert answer.error and log[-1].endswith(f" {int(Xevnt.PER):x} {text(Xevnt.PER)}")


# --- cookies and identity proofs: no replays --------------------------------------------------------------------------

def _cookie_answer(pair, at: float) -> ExtensionField:
    request = pair.client.host.pubkey.field(Opcode.COOK, ASSID, response=False)
    return pair.server.host.respond(request, CLIENT_ADDR, SERVER_ADDR, at)


def test_older_cookie_is_refused_and_the_same_or_a_newer_one_accepted(proven_pair):
    pair = proven_pair
    peer = pair.assoc.auth_state
    held = peer.cookie_tstamp
    assert _answer(pair, [_cookie_answer(pair, held - NTP_UNIX_OFFSET - 60)]).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{Xevnt.TSP:x} ') and peer.cookie_tstamp == held
    assert _answer(pair, [_cookie_answer(pair, held - NTP_UNIX_OFFSET)]).ok  # the same second: not older
    assert _answer(pair, [_cookie_answer(pair, held - NTP_UNIX_OFFSET + 60)]).ok
    assert peer.cookie_tstamp == held + 60 and pair.flags == 0x87F23


def test_identity_proof_replayed_after_the_exchange_is_refused(vectors):
    pair = make_pair(vectors, "iff")
    seen: list[bytes] = []

    def keep_identity_answers(rdata: bytes) -> bytes:
        seen.extend(raw for raw in decode(rdata).extensions if decode_field(raw)[0].code == Opcode.IFF)
        return rdata

    for _ in range(12):
        pair.step(tamper=keep_identity_answers)
    assert pair.flags == 0x87F23 and len(seen) == 1
    assert _answer(pair, seen[0]).verdict is Verdict.ERROR  # no challenge outstanding: one answer per challenge
    assert _event(pair).startswith(f'"0x{Xevnt.ID:x} ') and pair.flags == 0x87F23


# --- credentials that do not fit together are refused (at start, and on SIGHUP the running ones are kept) -----------

def test_reload_with_credentials_that_do_not_fit_keeps_the_running_keys(vectors):
    auth, log = _logging_server(vectors)
    alice, bob = load_creds(vectors, "iff", "alice"), load_creds(vectors, "iff", "bob")
    issued = int(VECTOR_NOW) - 60
    signed_by_bob = build_certificate(subject="alice", public_key=alice.host_key.public_key(), issuer="bob",
                                      signing_key=bob.host_key, digest="md5", serial=issued, not_before=issued,
                                      not_after=issued + 86400)
    for creds, code in ((dataclasses.replace(alice, certificate=bob.certificate), Xevnt.PUB),  # bob's key, not ours
                        (dataclasses.replace(alice, certificate=signed_by_bob), Xevnt.CRT)):  # not self-signed
        with pytest.raises(AutokeyError) as refused:
            AutokeyHost(creds)
        assert refused.value.code == code
        auth.offer_credentials(creds)
        auth.reload(VECTOR_NOW)
        assert log[-1].startswith(f"0.0.0.0 reload failed, keeping the running keys: {text(code)} (0x{int(code):x})")
        assert auth.host.hostname == "alice" and auth.host.creds.certificate is not creds.certificate
    auth.offer_credentials(load_creds(vectors, "iff", "alice"))
    auth.reload(VECTOR_NOW)
    assert log[-1] == "0.0.0.0 keys reloaded, restarted associations none"
    assert any(line.startswith("0.0.0.0 setup 0x80023 host alice md5WithRSAEncryption") for line in log)


def test_client_whose_own_certificate_expired_asks_for_no_signature(vectors):
    bob = load_creds(vectors, "iff", "bob")
    issued = int(VECTOR_NOW) - 60
    short_lived = build_certificate(subject="bob", public_key=bob.host_key.public_key(), issuer="bob",
                                    signing_key=bob.host_key, digest="md5", serial=issued + NTP_UNIX_OFFSET,
                                    not_before=issued, not_after=int(VECTOR_NOW) + 2,
                                    extensions=ntp_extensions("trust"))
    pair = make_pair(vectors, "iff", client_creds=dataclasses.replace(bob, certificate=short_lived,
                                                                      cert_fstamp=issued + NTP_UNIX_OFFSET))
    pair.run(12)
    assert not pair.flags & 0x2000 and pair.flags & 0x0F00 == 0x0F00  # proven, cookie; no SIGN
    assert _event(pair).startswith(f'"0x{Xevnt.PER:x} ')
    assert f"C 0.0.0.0 0006 {ASSID} 10a host certificate expired" in pair.log


# --- request_tail: a trail whose certificate expired starts the exchange again; no local address, no MAC -----------

def test_expired_certificate_trail_restarts_the_exchange(vectors):
    pair = make_pair(vectors, "iff")
    assert pair.run(12) == 0x87F23
    later = pair.assoc.auth_state.trail_until + 1  # just past the end of the server certificate
    header = encode_header(NtpPacket(mode=3, stratum=10, poll=6))
    request = decode(header + pair.client.request_tail(pair.assoc, header, later))
    assert pair.flags == 0 and [decode_field(raw)[0].code for raw in request.extensions] == [Opcode.ASSOC]
    assert pair.log[-1] == f"C {SERVER_ADDR} certificate trail of association {ASSID} expired, exchange restarted"


def test_autokey_association_without_a_local_address_sends_no_mac(vectors):
    client = AutokeyAuth(AutokeyHost(load_creds(vectors, "iff", "bob")))
    assoc = FakeAssoc(7, (SERVER_ADDR, 123), None, 3, ident="alice")
    assert client.request_tail(assoc, _header(), VECTOR_NOW) == b""


# --- the host's Autokey counters, as `ntpq -c "rv 0"` shows them (autokey_*) -----------------------------------------

def _counters(auth: AutokeyAuth) -> dict[str, int]:
    return {name: int(value) for name, value in auth.counter_variables()}


def test_autokey_counters_count_each_event_once(vectors, proven_pair):
    server = _server(vectors)
    assert _counters(server) == dict.fromkeys(("autokey_badlength", "autokey_crypto_errors", "autokey_crypto_naks",
                                               "autokey_keylist", "autokey_signatures_refused"), 0)
    nak = _header() + (0x5A5A5A5A).to_bytes(4, "big")  # a session key ID and no digest: a crypto-NAK
    for _ in range(2):
        verdict = server.check(decode(nak), nak, (CLIENT_ADDR, 123), SERVER_ADDR, None, VECTOR_NOW)
        assert verdict.verdict is Verdict.CRYPTO_NAK
    cookie_request = AutokeyHost(load_creds(vectors, "iff", "bob")).pubkey.field(Opcode.COOK, 4711, response=False)
    for _ in range(202):
        _server_answer(server, cookie_request, VECTOR_NOW)
    assert _counters(server)["autokey_crypto_naks"] == 2 and _counters(server)["autokey_signatures_refused"] == 2
    pair = proven_pair
    before = _counters(pair.client)
    for _ in range(2):
        _answer(pair, [ExtensionField(code=Opcode.LEAP, associd=ASSID, response=True, error=True)])
    raw = bytearray(_leap(pair, NTP_NOW, NTP_NOW - 9).encode())
    raw[16:20] = (4000).to_bytes(4, "big")
    _answer(pair, bytes(raw))
    after = _counters(pair.client)
    assert after["autokey_crypto_errors"] - before["autokey_crypto_errors"] == 2
    assert after["autokey_badlength"] - before["autokey_badlength"] == 1


# --- the certificates a client is shown at CERT (cert_parse, cert_hike): forged, looping or out-of-time ones refused


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _cert_answer(pair, der: bytes, fstamp: int) -> ExtensionField:
    """A CERT response carrying `der`: the field itself is not signature-checked at CERT (the server's key is what
    the trail is about to establish), so an attacker on the path can send any certificate; only its checks stop it."""
    return pair.server.host.signed(der, NTP_NOW, fstamp).field(Opcode.CERT, ASSID)


def _crafted(subject: str, issuer: str, key, signer, not_before: int, not_after: int,
             purpose: str | None = "trust") -> bytes:
    return build_certificate(subject=subject, public_key=key.public_key(), issuer=issuer, signing_key=signer,
                             digest="md5", serial=not_before + NTP_UNIX_OFFSET, not_before=not_before,
                             not_after=not_after, extensions=ntp_extensions(purpose)).der


@pytest.fixture
def pair_at_cert(vectors):
    pair = make_pair(vectors, "iff")
    pair.step()  # ASSOC: the client now asks for alice's certificate
    assert not pair.flags & 0x0700 and pair.assoc.auth_state.issuer == "alice"  # no CERT, VRFY or PROV yet
    return pair


_ISSUED = int(VECTOR_NOW) - 60


@pytest.mark.parametrize("make, code", [
    # self-signed in alice's name, but by another key than the one it carries
    (lambda: _crafted("alice", "alice", _rsa_key(), _rsa_key(), _ISSUED, _ISSUED + 86400), Xevnt.VFY),
    # issued by the client itself for someone else: a trail that comes back to us
    (lambda: _crafted("alice", "bob", _rsa_key(), _rsa_key(), _ISSUED, _ISSUED + 86400), Xevnt.CRT),
    # valid until before it is valid from
    (lambda: (k := _rsa_key()) and _crafted("alice", "alice", k, k, _ISSUED, _ISSUED - 1), Xevnt.PER),
    # expired a minute ago
    (lambda: (k := _rsa_key()) and _crafted("alice", "alice", k, k, _ISSUED - 86400, _ISSUED), Xevnt.PER),
    # not valid for another day
    (lambda: (k := _rsa_key()) and _crafted("alice", "alice", k, k, _ISSUED + 86400, _ISSUED + 2 * 86400), Xevnt.PER),
    (lambda: b"\x30\x03\x02\x01\x00", Xevnt.CRT),  # not a certificate at all
], ids=["forged-self-signed", "trail-loop", "times-reversed", "expired", "not-yet-valid", "unreadable"])
def test_refused_certificate_names_its_error_and_proves_nothing(pair_at_cert, make, code):
    pair = pair_at_cert
    der = make()
    fstamp = NTP_NOW - 120 if code is not Xevnt.PER else min(NTP_NOW - 120, _ISSUED - 86400 + NTP_UNIX_OFFSET)
    answer = _cert_answer(pair, der, fstamp)
    verdict = _answer(pair, [answer])
    assert verdict.verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{code:x} '), _event(pair)
    assert not pair.flags & 0x0700 and pair.assoc.auth_state.xinfo is None  # nothing walked, nothing verified
    assert pair.log[-1].startswith(f"C {SERVER_ADDR} {answer.encode()[:2].hex()} {ASSID} {int(code):x} ")
    pair.run(12)  # and the genuine exchange still completes afterwards
    assert pair.flags == 0x87F23


def test_certificate_older_than_its_filestamp_is_refused(pair_at_cert):
    pair = pair_at_cert
    key = _rsa_key()
    der = _crafted("alice", "alice", key, key, _ISSUED, _ISSUED + 86400)
    verdict = _answer(pair, [_cert_answer(pair, der, _ISSUED + NTP_UNIX_OFFSET + 1)])  # made after it became valid
    assert verdict.verdict is Verdict.ERROR and _event(pair).startswith(f'"0x{Xevnt.PER:x} ')
    assert _answer(pair, [_cert_answer(pair, der, _ISSUED + NTP_UNIX_OFFSET)]).ok  # made the second it did


def test_self_signed_certificate_without_trust_proves_nothing(pair_at_cert):
    """Anyone can make a self-signed certificate in the server's name; only a trusted root (ntp-keygen -T) ends a
    trail with CERT. An untrusted one is refused with CRT and sets no step."""
    pair = pair_at_cert
    key = _rsa_key()
    der = _crafted("alice", "alice", key, key, _ISSUED, _ISSUED + 86400, purpose=None)
    verdict = _answer(pair, [_cert_answer(pair, der, NTP_NOW - 120)])
    assert verdict.verdict is Verdict.ERROR and _event(pair).startswith(f'"0x{Xevnt.CRT:x} '), _event(pair)
    assert not pair.flags & 0x0700


@pytest.fixture
def two_level(pair_at_cert):
    """alice shows a certificate issued by `root` (a group server's trail, as ntp-keygen and SIGN make it)."""
    pair = pair_at_cert
    root, alice = _rsa_key(), _rsa_key()
    leaf = _crafted("alice", "root", alice, root, _ISSUED, _ISSUED + 86400, purpose=None)
    assert _answer(pair, [_cert_answer(pair, leaf, NTP_NOW - 120)]).ok
    assert pair.assoc.auth_state.issuer == "root" and not pair.flags & CryptoFlag.CERT  # root is asked for next
    return pair, root


def _installed(pair) -> dict[tuple[str, str], int]:
    return {(e.subject, e.issuer): e.flags for e in pair.client.host.certs}


def test_trail_through_an_issuer_to_a_trusted_root_sets_cert(two_level):
    pair, root = two_level
    der = _crafted("root", "root", root, root, _ISSUED - 60, _ISSUED + 86400)
    assert _answer(pair, [_cert_answer(pair, der, NTP_NOW - 180)]).ok
    assert pair.flags & CryptoFlag.CERT and pair.assoc.auth_state.trail == 2
    installed = _installed(pair)
    # alice's certificate is now known to be signed by a verified issuer; its other flags stay (valid)
    assert installed[("alice", "root")] == CERT_VALID | CERT_SIGN and not installed[("root", "root")] & CERT_SIGN


@pytest.mark.parametrize("make, code", [
    # the next link is not the certificate asked for (root), though root signed the first one
    (lambda root: _crafted("other", "other", root, root, _ISSUED - 60, _ISSUED + 86400), Xevnt.CRT),
    # root's name, but not the key that signed alice's certificate
    (lambda root: (k := _rsa_key()) and _crafted("root", "root", k, k, _ISSUED - 60, _ISSUED + 86400),
     Xevnt.VFY),
    # root's key, but its lifetime starts after it signed alice's certificate
    (lambda root: _crafted("root", "root", root, root, _ISSUED + 1, _ISSUED + 86400), Xevnt.PER),
], ids=["wrong-subject", "wrong-key", "signed-outside-lifetime"])
def test_trail_link_that_does_not_fit_is_refused(two_level, make, code):
    pair, root = two_level
    verdict = _answer(pair, [_cert_answer(pair, make(root), NTP_NOW - 180)])
    assert verdict.verdict is Verdict.ERROR and _event(pair).startswith(f'"0x{code:x} '), _event(pair)
    assert not pair.flags & CryptoFlag.CERT
    assert not _installed(pair)[("alice", "root")] & CERT_SIGN


# --- the identity proof (crypto_iff/gq/mv on the client): another scheme's answer, a wrong filestamp, no challenge ---


def _identity_exchange(vectors, scheme: str):
    """A pair whose client has just sent its identity challenge; returns the pair, the request's key ID and the
    server's genuine answer (not delivered)."""
    pair = make_pair(vectors, scheme)
    while not pair.flags & CryptoFlag.CERT:
        pair.step()
    assert not pair.flags & CryptoFlag.VRFY
    header = encode_header(NtpPacket(mode=3, stratum=10, poll=6))
    data = header + pair.client.request_tail(pair.assoc, header, pair.now)
    request = decode(data)
    verdict = pair.server.check(request, data, (CLIENT_ADDR, 123), SERVER_ADDR, None, pair.now)
    rheader = encode_header(NtpPacket(mode=4, stratum=5, poll=6))
    reply = decode(rheader + pair.server.reply_tail(request, verdict, (CLIENT_ADDR, 123), SERVER_ADDR, rheader, pair.now))
    (answer,) = [f for f in (decode_field(raw)[0] for raw in reply.extensions) if f.code in (Opcode.IFF, Opcode.GQ, Opcode.MV)]
    return pair, request.keyid, answer


def _resigned(pair, field: ExtensionField, fstamp: int) -> ExtensionField:
    """The same proof signed again by the server's own key under another filestamp (the signature still verifies)."""
    return pair.server.host.signed(field.value, field.tstamp, fstamp).field(field.code, field.associd)


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_identity_proof_under_another_schemes_opcode_is_refused(vectors, scheme):
    pair, keyid, answer = _identity_exchange(vectors, scheme)
    other = {Opcode.IFF: Opcode.GQ, Opcode.GQ: Opcode.MV, Opcode.MV: Opcode.IFF}[answer.code]
    assert _deliver_answer(pair, keyid, dataclasses.replace(answer, code=other)).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{Xevnt.ID:x} ') and not pair.flags & CryptoFlag.VRFY
    # a refused answer does not use the challenge up: the genuine one still verifies (a forger cannot pre-empt it)
    assert _deliver_answer(pair, keyid, answer).ok and pair.flags & CryptoFlag.VRFY


@pytest.mark.parametrize("scheme, shift, accepted", [
    ("iff", +1, False), ("iff", -1, False), ("mv", +1, False),
    ("gq", -1, False), ("gq", +1, True),  # GQ keys are renewed under the same parameters: a newer filestamp is fine
])
def test_identity_proof_filestamp_must_match_the_groups_parameters(vectors, scheme, shift, accepted):
    pair, keyid, answer = _identity_exchange(vectors, scheme)
    verdict = _deliver_answer(pair, keyid, _resigned(pair, answer, answer.fstamp + shift))
    if accepted:
        assert verdict.ok and pair.flags & CryptoFlag.VRFY
    else:
        assert verdict.verdict is Verdict.ERROR and _event(pair).startswith(f'"0x{Xevnt.FSP:x} ')
        assert not pair.flags & CryptoFlag.VRFY


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_genuine_identity_proof_verifies_once(vectors, scheme):
    pair, keyid, answer = _identity_exchange(vectors, scheme)
    assert _deliver_answer(pair, keyid, answer).ok and pair.flags & CryptoFlag.VRFY
    assert _deliver_answer(pair, keyid, answer).verdict is Verdict.ERROR  # a replay: no challenge outstanding
    assert _event(pair).startswith(f'"0x{Xevnt.ID:x} ')


# --- SIGN on the client (crypto_recv's CRYPTO_SIGN): only our own key, certified by our server, is installed ---------


def _sign_answer(pair, *, key=None, subject: str = "bob", issuer: str = "alice", signer=None) -> ExtensionField:
    """A SIGN response, its field signed by alice (a server on the path cannot be told apart by that alone); the
    certificate inside is for `subject` and `key` (default: bob's own), issued as `issuer` by `signer`."""
    key = key or pair.client.host.host_public_key
    signer = signer or pair.server.host.sign_key
    issued = int(pair.now) - 1
    der = build_certificate(subject=subject, public_key=key, issuer=issuer, signing_key=signer, digest="md5",
                            serial=issued + NTP_UNIX_OFFSET, not_before=issued, not_after=issued + 86400,
                            extensions=ntp_extensions(None)).der
    return pair.server.host.signed(der, int(pair.now) + NTP_UNIX_OFFSET, issued + NTP_UNIX_OFFSET).field(
        Opcode.SIGN, ASSID)


def test_certificate_signed_by_the_server_for_our_key_is_installed(proven_pair):
    pair = proven_pair
    answer = _sign_answer(pair)
    assert _answer(pair, [answer]).ok
    (entry,) = [e for e in pair.client.host.certs if (e.subject, e.issuer) == ("bob", "alice")]
    assert entry.cert.der == answer.value  # this one, newer than the one the handshake's SIGN brought


@pytest.mark.parametrize("make, code", [
    (lambda p: _sign_answer(p, key=_rsa_key().public_key()), Xevnt.CRT),  # our name, another key
    (lambda p: _sign_answer(p, subject="carol"), Xevnt.CRT),  # our key, another name
    (lambda p: _sign_answer(p, signer=_rsa_key()), Xevnt.VFY),  # alice's name as issuer, another key signed it
    (lambda p: _sign_answer(p, issuer="mallory"), Xevnt.VFY),  # signed by alice's key, another issuer's name
], ids=["another-key", "another-subject", "forged-signature", "another-issuer"])
def test_signed_certificate_that_is_not_ours_or_not_the_servers_is_refused(proven_pair, make, code):
    pair = proven_pair
    before = _installed(pair)
    assert _answer(pair, [make(pair)]).verdict is Verdict.ERROR
    assert _event(pair).startswith(f'"0x{code:x} '), _event(pair)
    assert _installed(pair) == before  # nothing installed, nothing our clients would be shown
