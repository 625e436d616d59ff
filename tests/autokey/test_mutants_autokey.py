"""Tests written to kill surviving mutants of ntpd_py/autokey/ (bench/mutation/run.py, issue 13).

Each asserts behaviour a peer or an operator can see (bytes out, flags, counters, peer variables) through public
methods, so that they survive refactors of the internals.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from autokey_broadcast import CLIENT, SERVER, BroadcastNet, autokey_host, broadcast_assoc, make_net
from autokey_pair import VECTOR_NOW, load_creds, make_pair

from ntpd_py.autokey import schemes
from ntpd_py.autokey.authenticator import AutokeyAuth
from ntpd_py.autokey.local_host import AutokeyHost
from ntpd_py.autokey.session import mac, session_key
from ntpd_py.engine.association import MODE_BCLIENT, MODE_BROADCAST
from ntpd_py.keys.cert import build_certificate, ntp_extensions
from ntpd_py.ntptime import NTP_UNIX_OFFSET, to_ntp64
from ntpd_py.wire.extension import ExtensionField, Opcode
from ntpd_py.wire.packet import NtpPacket, encode_header

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
