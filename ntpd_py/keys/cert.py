"""X.509v3 certificates exactly as ntp-keygen 4.2.8 and ntpd's cert_sign() write them.

`cryptography` will not sign md5WithRSAEncryption, which is ntp-keygen's default, so certificates are built
and parsed with asn1crypto; every RSA signature and hash is still computed by `cryptography`.

What ntp-keygen puts in a certificate: version 3, serial = NTP seconds of generation, issuer and subject a
single CN, validity now .. now + lifetime days, then the extensions basicConstraints (critical, CA:TRUE),
keyUsage (digitalSignature, keyCertSign), subjectKeyIdentifier = the GQ public key (only with GQ), and
extendedKeyUsage trustRoot (-T) or "Private" (-P, OID 1.3.6.1.4).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import core, x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa

from .files import pem_text

MAX_DER_BYTES = 1024  # ntpd's certificate value must fit an extension field

OID_TRUST_ROOT = "1.3.6.1.5.5.7.48.1.11"  # OpenSSL: trustRoot / "Trust Root"
OID_PRIVATE = "1.3.6.1.4"  # OpenSSL: private / "Private" (the IANA 'private' arc), ntp-keygen -P

# ntpq's cert flags (ntpd's CERT_* bits)
CERT_TRUST = 0x01
CERT_SIGN = 0x02
CERT_VALID = 0x04
CERT_PRIV = 0x08
CERT_ERROR = 0x80

# Signature schemes: asn1crypto name -> (OpenSSL NID, OpenSSL long name, digest name, ntp-keygen -c name)
SIGNATURE_SCHEMES: dict[str, tuple[int, str, str, str]] = {
    "md5_rsa": (8, "md5WithRSAEncryption", "md5", "RSA-MD5"),
    "sha1_rsa": (65, "sha1WithRSAEncryption", "sha1", "RSA-SHA1"),
    "sha224_rsa": (671, "sha224WithRSAEncryption", "sha224", "RSA-SHA224"),
    "sha256_rsa": (668, "sha256WithRSAEncryption", "sha256", "RSA-SHA256"),
    "sha384_rsa": (669, "sha384WithRSAEncryption", "sha384", "RSA-SHA384"),
    "sha512_rsa": (670, "sha512WithRSAEncryption", "sha512", "RSA-SHA512"),
    "sha1_dsa": (113, "dsaWithSHA1", "sha1", "DSA-SHA1"),
    "sha256_dsa": (803, "dsa_with_SHA256", "sha256", "DSA-SHA256"),
}

# ntp-keygen -c names (case-insensitive) -> asn1crypto signature algorithm names
SCHEME_BY_NAME: dict[str, str] = {v[3].upper(): k for k, v in SIGNATURE_SCHEMES.items()}
SCHEME_BY_NAME.update({"RSA-SHA": "sha1_rsa", "DSA-SHA": "sha1_dsa"})

# digest names as ntpd and ntp-keygen spell them; Autokey signs values with the same digests
HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class CertificateError(ValueError):
    """A certificate that cannot be parsed or built."""


def scheme_for(name: str) -> str:
    """asn1crypto signature algorithm for an ntp-keygen scheme name like "RSA-MD5" (or "md5WithRSAEncryption")."""
    key = name.upper()
    if key in SCHEME_BY_NAME:
        return SCHEME_BY_NAME[key]
    for algo, (_, long_name, _, _) in SIGNATURE_SCHEMES.items():
        if long_name.upper() == key:
            return algo
    raise CertificateError(f"unknown digest/signature scheme {name!r} (try RSA-MD5, RSA-SHA1, RSA-SHA256)")


def hash_algorithm(digest_name: str) -> hashes.HashAlgorithm:
    try:
        return HASH_ALGORITHMS[digest_name]()
    except KeyError:
        raise CertificateError(f"unsupported digest {digest_name!r}") from None


def _to_unix(value: _dt.datetime) -> int:
    return int(value.timestamp())


def _cn(name: x509.Name) -> str:
    """The common name, or OpenSSL's oneline form if the name has anything else (ntpd compares these)."""
    native = name.native
    if list(native.keys()) == ["common_name"]:
        return str(native["common_name"])
    return name.human_friendly


@dataclass(frozen=True)
class Certificate:
    """A parsed certificate with what Autokey needs: names, serial, validity, flags, key and signature."""

    der: bytes
    tbs: bytes
    signature: bytes
    signature_algorithm: str  # asn1crypto name, e.g. "md5_rsa"
    subject: str
    issuer: str
    serial: int
    not_before: int
    not_after: int
    public_key: Any
    trusted: bool
    private: bool
    gq_public: int | None
    version: int
    extensions: tuple[bytes, ...]  # each Extension's DER, in order (cert_sign copies them)

    @property
    def signature_nid(self) -> int:
        return SIGNATURE_SCHEMES[self.signature_algorithm][0]

    @property
    def signature_name(self) -> str:
        return SIGNATURE_SCHEMES[self.signature_algorithm][1]

    @property
    def digest_name(self) -> str:
        return SIGNATURE_SCHEMES[self.signature_algorithm][2]

    @property
    def scheme(self) -> str:
        """ntp-keygen's name of the scheme ("RSA-MD5"), used in the file name ntpkey_RSA-MD5cert_<host>."""
        return SIGNATURE_SCHEMES[self.signature_algorithm][3]

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    @property
    def cert_flags(self) -> int:
        """The flags ntpq shows for a certificate as loaded (CERT_TRUST, CERT_PRIV)."""
        return (CERT_TRUST if self.trusted else 0) | (CERT_PRIV if self.private else 0)

    @property
    def until(self) -> str:
        """not_after as ntpq prints it: YYYYMMDDHHMM in UTC."""
        return _dt.datetime.fromtimestamp(self.not_after, _dt.timezone.utc).strftime("%Y%m%d%H%M")

    def pem(self) -> str:
        return pem_text("CERTIFICATE", self.der)

    def valid_at(self, unix: float) -> bool:
        return self.not_before <= unix <= self.not_after

    def verify(self, issuer_public_key: Any) -> bool:
        """True when `issuer_public_key` signed this certificate."""
        return verify_signature(issuer_public_key, self.signature_algorithm, self.tbs, self.signature)


def verify_signature(public_key: Any, signature_algorithm: str, data: bytes, signature: bytes) -> bool:
    """Check an RSA PKCS#1 v1.5 or DSA signature over `data` with the scheme's digest."""
    digest = hash_algorithm(SIGNATURE_SCHEMES[signature_algorithm][2])
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), digest)
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature, data, digest)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def sign_bytes(private_key: Any, digest_name: str, data: bytes) -> bytes:
    """Sign as OpenSSL's X509_sign does: RSA PKCS#1 v1.5 (or DSA) over the digest of `data`."""
    digest = hash_algorithm(digest_name)
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), digest)
    if isinstance(private_key, dsa.DSAPrivateKey):
        return private_key.sign(data, digest)
    raise CertificateError(f"cannot sign with a {type(private_key).__name__}")


def parse_certificate(der: bytes) -> Certificate:
    """Parse DER into a `Certificate`; CertificateError says what is wrong."""
    try:
        cert = x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
        algorithm = cert["signature_algorithm"]["algorithm"].native
        if algorithm not in SIGNATURE_SCHEMES:
            raise CertificateError(f"unsupported signature algorithm {algorithm!r}")
        trusted = private = False
        gq_public: int | None = None
        extension_ders: list[bytes] = []
        for extension in tbs["extensions"]:
            extension_ders.append(extension.dump())
            name = extension["extn_id"].dotted
            if name == "2.5.29.37":  # extendedKeyUsage
                purposes = [oid.dotted for oid in extension["extn_value"].parsed]
                trusted = trusted or OID_TRUST_ROOT in purposes
                private = private or OID_PRIVATE in purposes
            elif name == "2.5.29.14":  # subjectKeyIdentifier: the GQ public key
                gq_public = int.from_bytes(extension["extn_value"].parsed.native, "big")
        spki = tbs["subject_public_key_info"].dump()
        public_key = serialization.load_der_public_key(spki)
        return Certificate(
            der=der,
            tbs=tbs.dump(),
            signature=cert["signature_value"].native,
            signature_algorithm=algorithm,
            subject=_cn(tbs["subject"]),
            issuer=_cn(tbs["issuer"]),
            serial=int(tbs["serial_number"].native),
            not_before=_to_unix(tbs["validity"]["not_before"].native),
            not_after=_to_unix(tbs["validity"]["not_after"].native),
            public_key=public_key,
            trusted=trusted,
            private=private,
            gq_public=gq_public,
            version=int(tbs["version"].native[1:]) - 1 if isinstance(tbs["version"].native, str) else 0,
            extensions=tuple(extension_ders),
        )
    except CertificateError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"corrupt certificate: {exc}") from None


# ---------------------------------------------------------------- building


def _time(unix: int) -> x509.Time:
    """UTCTime until 2049, GeneralizedTime after, as RFC 5280 and OpenSSL do."""
    moment = _dt.datetime.fromtimestamp(unix, _dt.timezone.utc)
    if moment.year < 2050:
        return x509.Time(name="utc_time", value=moment)
    return x509.Time(name="general_time", value=moment)


def _name(common_name: str) -> x509.Name:
    """A name with one CN, encoded as UTF8String (what X509_NAME_add_entry_by_txt with MBSTRING_ASC gives)."""
    return x509.Name.build({"common_name": common_name}, use_printable=False)


def ntp_extensions(purpose: str | None = None, gq_public: int | None = None) -> list[bytes]:
    """ntp-keygen's extensions in its order; purpose "trust" (-T), "private" (-P) or None."""
    extensions = [
        x509.Extension({"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True}}),
        x509.Extension(
            {
                "extn_id": "key_usage",
                "critical": False,
                "extn_value": {"digital_signature", "key_cert_sign"},
            }
        ),
    ]
    if gq_public is not None:
        length = max(1, (gq_public.bit_length() + 7) // 8)
        extensions.append(
            x509.Extension(
                {"extn_id": "key_identifier", "critical": False, "extn_value": gq_public.to_bytes(length, "big")}
            )
        )
    if purpose is not None:
        oid = {"trust": OID_TRUST_ROOT, "private": OID_PRIVATE}.get(purpose)
        if oid is None:
            raise CertificateError(f"unknown certificate purpose {purpose!r} (trust or private)")
        extensions.append(x509.Extension({"extn_id": "extended_key_usage", "critical": False, "extn_value": [oid]}))
    return [extension.dump() for extension in extensions]


def build_certificate(
    *,
    subject: str,
    public_key: Any,
    issuer: str,
    signing_key: Any,
    digest: str,
    serial: int,
    not_before: int,
    not_after: int,
    extensions: list[bytes] | tuple[bytes, ...] = (),
    version: int = 2,
) -> Certificate:
    """Build and sign a certificate.

    Covers both ntp-keygen's self-signed certificate (subject == issuer, own key) and ntpd's cert_sign(),
    where a server issues a certificate for a client's subject and key under its own name, serial = NTP
    seconds, validity one year, copying the client's extensions (pass `Certificate.extensions`).
    `digest` is "md5", "sha1", "sha256"...; `version` is the raw X.509 number (2 = v3).
    """
    key_kind = "rsa" if isinstance(signing_key, rsa.RSAPrivateKey) else "dsa"
    algorithm = f"{digest}_{key_kind}"
    if algorithm not in SIGNATURE_SCHEMES:
        raise CertificateError(f"unsupported digest/signature combination {digest}/{key_kind}")
    spki_der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    algorithm_id = {"algorithm": algorithm}
    if key_kind == "rsa":
        algorithm_id["parameters"] = core.Null()
    tbs_fields = {
        "version": f"v{version + 1}",
        "serial_number": serial,
        "signature": algorithm_id,
        "issuer": _name(issuer),
        "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
        "subject": _name(subject),
        "subject_public_key_info": x509.PublicKeyInfo.load(spki_der),
    }
    if extensions:
        tbs_fields["extensions"] = [x509.Extension.load(der) for der in extensions]
    tbs = x509.TbsCertificate(tbs_fields)
    tbs_der = tbs.dump()
    signature = sign_bytes(signing_key, digest, tbs_der)
    cert = x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": dict(algorithm_id), "signature_value": signature}
    )
    return parse_certificate(cert.dump())


def load_pem_certificate(text: str) -> Certificate:
    """The first CERTIFICATE block of PEM text (convenience for tests and tools)."""
    from .files import parse_key_text

    parsed = parse_key_text(text, "<text>")
    for block in parsed.blocks:
        if block.label == "CERTIFICATE":
            return parse_certificate(block.der)
    raise CertificateError("no CERTIFICATE block")


CERT_SIGN_LIFETIME = 365 * 86400  # ntp_crypto.c YEAR


def sign_request(request: Certificate, issuer: str, signing_key: Any, digest: str, now: int) -> Certificate:
    """What ntpd 4.2.8's cert_sign() returns for a client's certificate in a SIGN request.

    Subject, public key, version and extensions copied from the request; issuer = the server's host name;
    serial = NTP seconds of `now`; valid from `now` for one year; signed with the server's sign key and
    digest.  (ntpd also refuses to sign when its own certificate is not valid at `now`: the caller checks.)
    """
    from ..ntptime import ntp_seconds

    return build_certificate(
        subject=request.subject,
        public_key=request.public_key,
        issuer=issuer,
        signing_key=signing_key,
        digest=digest,
        serial=ntp_seconds(now),
        not_before=int(now),
        not_after=int(now) + CERT_SIGN_LIFETIME,
        extensions=request.extensions,
        version=request.version,
    )
