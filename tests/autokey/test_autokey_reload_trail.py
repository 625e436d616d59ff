"""Pure pieces of the reload-along-a-trail fix: certificates signed again replace the cached ones, a broken
trail is walked again from the server's certificate, an expired trail restarts the exchange."""

from __future__ import annotations

import functools

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ntpd_py.autokey.errors import AutokeyError, Xevnt
from ntpd_py.autokey.exchange import MODE_CLIENT, Exchange, PeerAutokey
from ntpd_py.autokey.flags import CryptoFlag
from ntpd_py.autokey.local_host import AutokeyHost, HostCredentials
from ntpd_py.keys.cert import build_certificate, ntp_extensions
from ntpd_py.ntptime import NTP_UNIX_OFFSET
from ntpd_py.wire.extension import ExtensionField, Opcode

NOW = 1795336000
DAY = 86400


@functools.lru_cache(maxsize=None)
def _key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)


def _cert(subject: str, issuer: str, not_before: int, *, trusted: bool = False, days: int = 365):
    return build_certificate(subject=subject, public_key=_key(subject).public_key(), issuer=issuer,
                             signing_key=_key(issuer), digest="md5", serial=not_before, not_before=not_before,
                             not_after=not_before + days * DAY, extensions=ntp_extensions("trust" if trusted else None, None))


def _client() -> AutokeyHost:
    host = AutokeyHost(HostCredentials(host_key=_key("c1"), host_fstamp=1, certificate=_cert("c1", "c1", NOW - DAY),
                                       cert_fstamp=1))
    host.set_synchronized(True, NOW)
    return host


def _response(cert, fstamp: int) -> ExtensionField:
    return ExtensionField(code=Opcode.CERT, associd=7, response=True, tstamp=NOW + NTP_UNIX_OFFSET, fstamp=fstamp,
                          value=cert.der)


def _peer() -> PeerAutokey:
    peer = PeerAutokey(7, MODE_CLIENT, "GR1")
    peer.crypto = 0x80021 | CryptoFlag.AUTO | CryptoFlag.LEAP  # after ASSOC from "srv"
    peer.assoc, peer.subject, peer.issuer, peer.digest = 9, "srv", "srv", "md5"
    return peer


def test_certificate_signed_again_with_the_same_filestamp_replaces_the_cached_one():
    host = _client()
    fs = NOW - 2 * DAY + NTP_UNIX_OFFSET
    old, new = _cert("srv", "ta", NOW - 2 * DAY), _cert("srv", "ta", NOW - 10)
    assert host.install_certificate(old, fs, NOW).cert is old
    assert host.install_certificate(new, fs, NOW).cert is new  # ntpd would keep `old`
    assert host.install_certificate(old, fs, NOW).cert is new  # never back to an older issue
    assert [e.cert for e in host.certs if e.subject == "srv"] == [new]


def test_broken_trail_is_walked_again_from_the_servers_certificate():
    """The server still shows its certificate signed before the authority renewed (lifetime begins later)."""
    host, exchange, peer = _client(), None, _peer()
    exchange = Exchange(host)
    fs_srv, fs_ta = NOW - 2 * DAY + NTP_UNIX_OFFSET, NOW - DAY + NTP_UNIX_OFFSET
    stale, renewed_ta = _cert("srv", "ta", NOW - 2 * DAY), _cert("ta", "ta", NOW - DAY, trusted=True)
    exchange.receive(peer, _response(stale, fs_srv), NOW, 4)
    assert peer.issuer == "ta" and peer.trail == 1 and peer.pkey is not None
    flags = peer.crypto
    with pytest.raises(AutokeyError) as err:
        exchange.receive(peer, _response(renewed_ta, fs_ta), NOW, 4)
    assert err.value.code == Xevnt.PER
    assert peer.crypto == flags and peer.xinfo is None and peer.trail == 0 and peer.issuer == "srv"
    # the server signed its certificate again: the walk goes through
    exchange.receive(peer, _response(_cert("srv", "ta", NOW - 10), fs_srv), NOW, 4)
    exchange.receive(peer, _response(renewed_ta, fs_ta), NOW, 4)
    assert peer.crypto & CryptoFlag.CERT and peer.trail == 2


def test_a_failure_on_the_servers_own_certificate_changes_nothing():
    host, peer = _client(), _peer()
    with pytest.raises(AutokeyError):
        Exchange(host).receive(peer, _response(_cert("other", "ta", NOW - DAY), NOW + NTP_UNIX_OFFSET - DAY), NOW, 4)
    assert peer.issuer == "srv" and peer.trail == 0


def test_expired_trail_restarts_the_exchange_only_then():
    host, peer = _client(), _peer()
    exchange = Exchange(host)
    fs = NOW - DAY + NTP_UNIX_OFFSET
    exchange.receive(peer, _response(_cert("srv", "ta", NOW - DAY, days=2), fs), NOW, 4)
    exchange.receive(peer, _response(_cert("ta", "ta", NOW - DAY, trusted=True), fs), NOW, 4)
    assert peer.crypto & CryptoFlag.CERT
    assert not exchange.trail_expired(peer, NOW)
    assert not exchange.trail_expired(peer, NOW + DAY - 1)
    assert exchange.trail_expired(peer, NOW + DAY + 1)  # the server's certificate (2 days) ran out first
