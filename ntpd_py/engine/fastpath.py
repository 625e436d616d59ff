"""The server's fast path for client requests MAC'd with a symmetric key or an Autokey session key:
verified and answered without decoding the packet into objects.

The full path (NtpHost.receive_datagram -> decode -> authenticator -> _serve) costs about 19 us per MAC'd
request; most of it is object construction (NtpPacket, AuthResult, DatagramToSend) and per-call hasher lookups.
This path takes only the common case and hands back None for everything else, so the full path still
decides every unusual one (a bad MAC, an unknown or untrusted key, crypto-NAKs, rate limiting, KoDs):

- an NTPv4 mode-3 request of 48 bytes + key ID + MD5 (68) or SHA1 (72) digest, no extension fields;
- a key ID of a symmetric key (<= NTP_MAXKEY: Autokey hands those to the symmetric keys too) that is trusted
  and whose digest has that length, or a key ID above NTP_MAXKEY for which the authenticator gives session
  keys (Authenticator.quick_session_keys: Autokey's, from the server cookie, as ntpd's fast_xmit) of that
  length;
- a source whose restrict flags let it be served without checks (none of ignore, noserve, notrust, limited,
  version);
- a MAC that verifies.

Counters and the MRU list move as on the full path (received, thisver, processed).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from ..protocol import NTP_MAXKEY
from ..wire.packet import HEADER_LEN

if TYPE_CHECKING:
    from .host import NtpHost

_DIGESTS = {"MD5": (hashlib.md5, 16), "SHA1": (hashlib.sha1, 20)}
_LENGTHS = {68: 16, 72: 20}  # datagram length -> digest length


def quick_mac_reply(host: NtpHost, data: bytes, src: tuple, now: float, dst: str | None = None) -> bytes | None:
    """The whole MAC'd reply (its transmit stamp is covered by the MAC: send as is), or None. `dst`, the
    local address the request came to, is needed for Autokey's session keys; without it those take the full
    path."""
    digest_len = _LENGTHS.get(len(data))
    if digest_len is None or data[0] & 0x3F != 0x23:
        return None
    keyid = int.from_bytes(data[48:52], "big")
    if keyid > NTP_MAXKEY:
        if dst is None:
            return None
        keys = host.authenticator.quick_session_keys(src[0], dst, keyid, now)
        if keys is None or len(keys.receive) != digest_len:
            return None
        hasher, check_key, reply_key = keys.hasher, keys.receive, keys.reply
    else:
        symmetric = host.symmetric
        if keyid not in symmetric.trusted:
            return None
        key = symmetric.keys.get(keyid)
        if key is None:
            return None
        algorithm = _DIGESTS.get(key.algorithm)
        if algorithm is None or algorithm[1] != digest_len:
            return None
        hasher, check_key = algorithm[0], key.secret
        reply_key = check_key
    rflags = host._quick_rflags(src[0])
    if rflags is None:
        return None
    if not hmac.compare_digest(hasher(check_key + data[:HEADER_LEN]).digest(), data[52:]):
        return None  # the full path counts it (badauth) and answers with a crypto-NAK
    host._now = now
    host.mru.note(src, now, 0x23, rflags)
    counters = host.counters
    counters["received"] += 1
    counters["thisver"] += 1
    header = host._reply_header(data, 4, now)
    return header + data[48:52] + hasher(reply_key + header).digest()
