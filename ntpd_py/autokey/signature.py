"""Signing and verifying Autokey values: RSA PKCS#1 v1.5 (or DSA) over timestamp|filestamp|vallen|value.

The digest is the one bound to the host certificate's signature NID (md5WithRSAEncryption -> MD5).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa

from ..keys.cert import HASH_ALGORITHMS
from .errors import AutokeyError, Xevnt
from .flags import NID_DIGEST


def digest_for_nid(nid: int) -> str:
    try:
        return NID_DIGEST[nid]
    except KeyError:
        raise AutokeyError(Xevnt.MD, f"unsupported signature NID {nid}") from None


def signature_length(key) -> int:
    """EVP_PKEY_size: the exact length a signature by this key must have."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return (key.key_size + 7) // 8
    if isinstance(key, (dsa.DSAPrivateKey, dsa.DSAPublicKey)):
        qbytes = (key.parameters().parameter_numbers().q.bit_length() + 7) // 8
        return 2 * qbytes + 8  # DER SEQUENCE of two INTEGERs, upper bound as OpenSSL reports it
    raise AutokeyError(Xevnt.PUB, f"unsupported key type {type(key).__name__}")


def sign(private_key, data: bytes, digest: str = "md5") -> bytes:
    algorithm = HASH_ALGORITHMS[digest]()
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), algorithm)
    if isinstance(private_key, dsa.DSAPrivateKey):
        return private_key.sign(data, algorithm)
    raise AutokeyError(Xevnt.PUB, f"cannot sign with {type(private_key).__name__}")


def verify(public_key, data: bytes, signature: bytes, digest: str = "md5") -> None:
    """XEVNT_PUB without a key, XEVNT_SGL on a wrong length, XEVNT_SIG on a bad signature."""
    if public_key is None:
        raise AutokeyError(Xevnt.PUB, "no public key to verify with")
    if isinstance(public_key, rsa.RSAPublicKey) and len(signature) != signature_length(public_key):
        raise AutokeyError(Xevnt.SGL, f"signature has {len(signature)} bytes, key needs {signature_length(public_key)}")
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), HASH_ALGORITHMS[digest]())
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature, data, HASH_ALGORITHMS[digest]())
        else:
            raise AutokeyError(Xevnt.PUB, f"unsupported key type {type(public_key).__name__}")
    except InvalidSignature:
        raise AutokeyError(Xevnt.SIG, "signature not verified") from None
