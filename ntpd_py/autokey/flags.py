"""Autokey status word and verification bits (ntp_crypto.h CRYPTO_FLAG_*), and the signature NIDs.

An association's `flags` = the server's status word (ENAB, TAI, scheme bits, signature NID << 16)
| the client's verification bits (CERT ... LEAP), as ntpd 4.2.8p15 computes it.
"""

from __future__ import annotations

from enum import IntFlag

NID_SHIFT = 16


class CryptoFlag(IntFlag):
    ENAB = 0x0001  # crypto enabled (ASSOC accepted)
    TAI = 0x0002  # leapseconds table / TAI offset available
    PRIV = 0x0010  # PC identity scheme (private certificate)
    IFF = 0x0020
    GQ = 0x0040
    MV = 0x0080
    CERT = 0x0100  # certificate trail to a trusted root verified
    VRFY = 0x0200  # identity verified
    PROV = 0x0400  # first signature verified after identity: proventic
    COOK = 0x0800
    AUTO = 0x1000
    SIGN = 0x2000
    LEAP = 0x4000


SCHEME_MASK = 0x00F0  # CRYPTO_FLAG_MASK: PRIV | IFF | GQ | MV
STATUS_MASK = 0x00FF
VERIFY_MASK = 0x7F00  # CRYPTO_FLAG_ALL

# Certificate flags (cert_info.flags), shown in `rv 0 cert`: "alice alice 0x5"; owned by keys.cert.
from ..keys.cert import CERT_ERROR, CERT_PRIV, CERT_SIGN, CERT_TRUST, CERT_VALID  # noqa: E402,F401
from ..keys.cert import SIGNATURE_SCHEMES  # noqa: E402

# OpenSSL NIDs with OpenSSL's long names: the signature schemes ntpd-py-keygen writes (keys.cert.SIGNATURE_SCHEMES),
# then the older signature NIDs and the digest NIDs that ntpd shows.
NID_NAMES = {scheme[0]: scheme[1] for scheme in SIGNATURE_SCHEMES.values()} | {
    3: "md2WithRSAEncryption",
    4: "md5",
    7: "md2WithRSAEncryption",
    64: "sha1",
    114: "md5-sha1",
    116: "dsaWithSHA1",
    117: "ripemd160",
    119: "ripemd160WithRSA",
    672: "sha256",
    673: "sha384",
    674: "sha512",
    675: "sha224",
}
# Signature NID -> digest name (hashlib / cryptography) used with it: every scheme ntpd-py-keygen writes
# (keys.cert.SIGNATURE_SCHEMES, DSA-SHA256 included), and the older NIDs of the same digests that ntpd accepts.
NID_DIGEST = {scheme[0]: scheme[2] for scheme in SIGNATURE_SCHEMES.values()} | {116: "sha1", 119: "ripemd160"}
# Digest short names (`crypto digest D`) -> OpenSSL NID, as crypto_config() resolves them.
DIGEST_NIDS = {"md5": 4, "sha1": 64, "sha": 64, "ripemd160": 117, "sha256": 672, "sha224": 675, "sha384": 673, "sha512": 674}


def status_word(nid: int, *, scheme: int = 0, tai: bool = False, priv: bool = False) -> int:
    """The host status word ntpd sends in ASSOC messages (crypto_flags)."""
    word = CryptoFlag.ENAB | scheme | (nid << NID_SHIFT)
    if tai:
        word |= CryptoFlag.TAI
    if priv:
        word |= CryptoFlag.PRIV
    return int(word)


SCHEME_FLAGS = {"tc": 0, "pc": CryptoFlag.PRIV, "iff": CryptoFlag.IFF, "gq": CryptoFlag.GQ, "mv": CryptoFlag.MV}


def full_flags(scheme: str | None, *, nid: int = 8, tai: bool = False) -> int:
    """An association's flags once every step is verified: IFF 0x87f21, GQ 0x87f41, MV 0x87f81, TC 0x87f01,
    PC 0x87f11 (signature NID 8, md5WithRSAEncryption); `tai` adds 0x2 (the server has a leap table)."""
    return status_word(nid, scheme=int(SCHEME_FLAGS[scheme or "tc"]), tai=tai) | VERIFY_MASK


def signature_nid(flags: int) -> int:
    return (flags >> NID_SHIFT) & 0xFFFF


def nid_name(nid: int) -> str:
    return NID_NAMES.get(nid, f"nid{nid}")


def decode(flags: int) -> list[str]:
    """Names of the bits set, plus the signature algorithm: what an operator reads from `rv ASSID flags`."""
    names = [f.name for f in CryptoFlag if flags & f and f.name]
    nid = signature_nid(flags)
    if nid:
        names.append(nid_name(nid))
    unknown = flags & 0xFFFF & ~(0x00F3 | VERIFY_MASK)
    if unknown:
        names.append(f"unknown:0x{unknown:x}")
    return names


def describe(flags: int) -> str:
    return f"0x{flags:x} " + " ".join(decode(flags))
