"""Private-key containers as ntp-keygen and OpenSSL write them: PKCS#8 (PBES2) and traditional PEM.

Identity parameters hide odd numbers in RSA and DSA shaped structures (IFF client priv=1, GQ d=1 and p=q=1,
MV q=g=1), which `cryptography` refuses to load.  So this module decrypts and decodes every form itself
(asn1crypto for the ASN.1, `cryptography` primitives for the ciphers and KDFs) and hands out raw integers;
host and sign keys are then turned into `cryptography` objects by `load_private_key`.

Writing follows ntp-keygen 4.2.8 on OpenSSL 3: PKCS#8 with PBES2, PBKDF2-HMAC-SHA256 (2048 rounds, 8-byte
salt) and des-ede3-cbc for host/sign keys; traditional ``BEGIN RSA/DSA PRIVATE KEY`` with the legacy
``Proc-Type: 4,ENCRYPTED`` / ``DEK-Info: DES-EDE3-CBC`` encryption for identity parameters, because that
form keeps every value (PKCS#8 DSA has no slot for the public value).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, core, keys
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .files import KeyFileError, PemBlock, WrongPassword, pem_text

PBKDF2_ROUNDS = 2048  # what OpenSSL 3's PEM_write_PKCS8PrivateKey uses (PKCS5_DEFAULT_ITER)
SALT_BYTES = 8

_PBKDF2_PRF = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# DEK-Info cipher name -> (factory, key bytes)
_LEGACY_CIPHERS = {
    "DES-EDE3-CBC": (TripleDES, 24),
    "AES-128-CBC": (algorithms.AES, 16),
    "AES-192-CBC": (algorithms.AES, 24),
    "AES-256-CBC": (algorithms.AES, 32),
}


@dataclass(frozen=True)
class RawKey:
    """The integers of an RSA or DSA shaped private key, as stored, plus the container form they came from.

    RSA: n, e, d, p, q, dmp1, dmq1, iqmp.  DSA: p, q, g, pub (None when the container has no slot), priv.
    `form` is "pkcs8" or "traditional"; `encrypted` tells whether a password was needed.
    """

    algorithm: str
    values: dict[str, int | None]
    form: str
    encrypted: bool

    def __getitem__(self, name: str) -> int | None:
        return self.values[name]


def _password_bytes(password: str | bytes | None) -> bytes | None:
    if password is None:
        return None
    return password.encode("utf-8") if isinstance(password, str) else password


def _decrypt_cbc(factory, key: bytes, iv: bytes, data: bytes) -> bytes:
    """CBC decrypt and strip PKCS#7 padding; a wrong key shows up as bad padding (ValueError)."""
    cipher = factory(key)
    if len(data) == 0 or len(data) % (cipher.block_size // 8):
        raise ValueError("ciphertext length is not a multiple of the block size")
    decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(cipher.block_size).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _encrypt_cbc(factory, key: bytes, iv: bytes, data: bytes) -> bytes:
    cipher = factory(key)
    padder = padding.PKCS7(cipher.block_size).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(cipher, modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def evp_bytes_to_key(password: bytes, salt: bytes, key_len: int) -> bytes:
    """OpenSSL's legacy PEM key derivation (EVP_BytesToKey with MD5, one round)."""
    derived = b""
    block = b""
    while len(derived) < key_len:
        block = hashlib.md5(block + password + salt).digest()
        derived += block
    return derived[:key_len]


# ---------------------------------------------------------------- decryption


def _decrypt_pkcs8(der: bytes, password: bytes | None, path: Path) -> bytes:
    """PKCS#8 EncryptedPrivateKeyInfo (PBES2/PBKDF2) -> PrivateKeyInfo DER."""
    if password is None:
        raise WrongPassword(path, "key is encrypted and no password was given")
    try:
        info = keys.EncryptedPrivateKeyInfo.load(der)
        algorithm = info["encryption_algorithm"]
        data = info["encrypted_data"].native
        if algorithm["algorithm"].native != "pbes2":
            raise KeyFileError(path, f"unsupported key encryption {algorithm['algorithm'].native!r} (only PBES2)")
        params = algorithm["parameters"]
        kdf = params["key_derivation_func"]
        if kdf["algorithm"].native != "pbkdf2":
            raise KeyFileError(path, f"unsupported key derivation {kdf['algorithm'].native!r}")
        kdf_params = kdf["parameters"]
        salt = kdf_params["salt"].native
        rounds = kdf_params["iteration_count"].native
        prf_name = kdf_params["prf"]["algorithm"].native if kdf_params["prf"].native else "sha1"
        prf_name = prf_name.replace("hmac_", "").replace("hmacwith", "")
        scheme = params["encryption_scheme"]
        cipher_name = scheme["algorithm"].native
        iv = scheme["parameters"].native
    except KeyFileError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, IndexError, AttributeError) as exc:
        raise KeyFileError(path, f"corrupt encrypted PKCS#8 structure: {exc}") from None
    if cipher_name == "tripledes_3key":
        factory, key_len = TripleDES, 24
    elif cipher_name in ("aes128_cbc", "aes192_cbc", "aes256_cbc"):
        factory, key_len = algorithms.AES, int(cipher_name[3:6]) // 8
    else:
        raise KeyFileError(path, f"unsupported PKCS#8 cipher {cipher_name!r}")
    prf = _PBKDF2_PRF.get(prf_name)
    if prf is None:
        raise KeyFileError(path, f"unsupported PBKDF2 PRF {prf_name!r}")
    if not isinstance(rounds, int) or not 1 <= rounds <= 10_000_000 or not isinstance(iv, bytes):
        raise KeyFileError(path, "corrupt encrypted PKCS#8 structure (KDF or cipher parameters)")
    try:
        key = PBKDF2HMAC(algorithm=prf(), length=key_len, salt=salt, iterations=rounds).derive(password)
    except (ValueError, TypeError, OverflowError) as exc:
        raise KeyFileError(path, f"corrupt encrypted PKCS#8 structure: {exc}") from None
    try:
        plain = _decrypt_cbc(factory, key, iv, data)
        keys.PrivateKeyInfo.load(plain).native  # noqa: B018 - a wrong key almost never yields valid DER
    except (ValueError, TypeError, OverflowError):
        raise WrongPassword(path, "wrong password or corrupt key (decryption failed)") from None
    return plain


def _decrypt_traditional(block: PemBlock, password: bytes | None, path: Path) -> bytes:
    """Legacy ``Proc-Type: 4,ENCRYPTED`` PEM -> traditional DER."""
    if password is None:
        raise WrongPassword(path, "key is encrypted and no password was given")
    dek = block.headers.get("DEK-Info", "")
    name, _, iv_hex = dek.partition(",")
    name = name.strip().upper()
    if name not in _LEGACY_CIPHERS:
        raise KeyFileError(path, f"unsupported PEM encryption {name or 'missing DEK-Info'!r}")
    factory, key_len = _LEGACY_CIPHERS[name]
    try:
        iv = bytes.fromhex(iv_hex.strip())
    except ValueError:
        raise KeyFileError(path, f"corrupt DEK-Info IV {iv_hex!r}") from None
    key = evp_bytes_to_key(password, iv[:8], key_len)
    try:
        plain = _decrypt_cbc(factory, key, iv, block.der)
        # a wrong key passes the padding check about one time in 256, but almost never yields DER
        core.load(plain, strict=True)
    except ValueError:
        raise WrongPassword(path, "wrong password or corrupt key (decryption failed)") from None
    return plain


def decrypt_block(block: PemBlock, password: str | bytes | None, path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """Unencrypted DER of a private-key PEM block: ("pkcs8"|"rsa"|"dsa", der)."""
    path = Path(path)
    secret = _password_bytes(password)
    if block.label == "ENCRYPTED PRIVATE KEY":
        return "pkcs8", _decrypt_pkcs8(block.der, secret, path)
    if block.label == "PRIVATE KEY":
        return "pkcs8", block.der
    if block.label in ("RSA PRIVATE KEY", "DSA PRIVATE KEY"):
        kind = block.label.split()[0].lower()
        if "ENCRYPTED" in block.headers.get("Proc-Type", ""):
            return kind, _decrypt_traditional(block, secret, path)
        return kind, block.der
    raise KeyFileError(path, f"not a private key (PEM label {block.label!r})")


_RSA_FIELDS = ("n", "e", "d", "p", "q", "dmp1", "dmq1", "iqmp")
_RSA_ASN1 = ("modulus", "public_exponent", "private_exponent", "prime1", "prime2", "exponent1", "exponent2", "coefficient")


class _DsaTraditional(core.Sequence):
    """OpenSSL's traditional DSA private key: SEQUENCE {version, p, q, g, pub, priv}."""

    _fields = [
        ("version", core.Integer),
        ("p", core.Integer),
        ("q", core.Integer),
        ("g", core.Integer),
        ("public_key", core.Integer),
        ("private_key", core.Integer),
    ]


def _rsa_values(der: bytes) -> dict[str, int | None]:
    parsed = keys.RSAPrivateKey.load(der)
    return {name: int(parsed[asn1].native) for name, asn1 in zip(_RSA_FIELDS, _RSA_ASN1)}


def _dsa_values(der: bytes) -> dict[str, int | None]:
    parsed = _DsaTraditional.load(der)
    return {
        "p": parsed["p"].native,
        "q": parsed["q"].native,
        "g": parsed["g"].native,
        "pub": parsed["public_key"].native,
        "priv": parsed["private_key"].native,
    }


def raw_key(block: PemBlock, password: str | bytes | None, path: str | os.PathLike[str]) -> RawKey:
    """Decrypt and decode a private-key block into integers, whatever values it holds."""
    path = Path(path)
    kind, der = decrypt_block(block, password, path)
    try:
        if kind == "rsa":
            return RawKey("rsa", _rsa_values(der), "traditional", block.encrypted)
        if kind == "dsa":
            return RawKey("dsa", _dsa_values(der), "traditional", block.encrypted)
        info = keys.PrivateKeyInfo.load(der)
        algorithm = info["private_key_algorithm"]["algorithm"].native
        inner = info["private_key"].contents
        if algorithm == "rsa":
            return RawKey("rsa", _rsa_values(inner), "pkcs8", block.encrypted)
        if algorithm == "dsa":
            params = info["private_key_algorithm"]["parameters"]
            priv = core.Integer.load(inner).native
            values: dict[str, int | None] = {
                "p": params["p"].native,
                "q": params["q"].native,
                "g": params["g"].native,
                "pub": None,  # PKCS#8 has no slot for it: readers recompute g^priv
                "priv": priv,
            }
            return RawKey("dsa", values, "pkcs8", block.encrypted)
    except KeyFileError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, IndexError, AttributeError) as exc:
        raise KeyFileError(path, f"corrupt {kind} key structure: {exc}") from None
    raise KeyFileError(path, f"unsupported key algorithm {algorithm!r}")


def load_private_key(block: PemBlock, password: str | bytes | None, path: str | os.PathLike[str]):
    """A `cryptography` RSA or DSA private key from a host or sign key block (512-bit keys load too)."""
    path = Path(path)
    kind, der = decrypt_block(block, password, path)
    try:
        return serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=False)
    except (ValueError, TypeError, OverflowError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(path, f"not a valid RSA/DSA private key ({kind}): {exc}") from None


# ---------------------------------------------------------------- encoding


def rsa_private_der(n: int, e: int, d: int, p: int, q: int, dmp1: int, dmq1: int, iqmp: int) -> bytes:
    """Traditional RSAPrivateKey DER holding exactly these values."""
    return keys.RSAPrivateKey(
        {
            "version": 0,
            "modulus": n,
            "public_exponent": e,
            "private_exponent": d,
            "prime1": p,
            "prime2": q,
            "exponent1": dmp1,
            "exponent2": dmq1,
            "coefficient": iqmp,
        }
    ).dump()


def dsa_private_der(p: int, q: int, g: int, pub: int, priv: int) -> bytes:
    """Traditional DSA private key DER (OpenSSL's SEQUENCE of six integers) holding exactly these values."""
    return _DsaTraditional({"version": 0, "p": p, "q": q, "g": g, "public_key": pub, "private_key": priv}).dump()


def traditional_pem(kind: str, der: bytes, password: str | bytes | None) -> str:
    """``BEGIN RSA|DSA PRIVATE KEY``; encrypted with DES-EDE3-CBC and OpenSSL's legacy KDF when a password is set."""
    label = f"{kind.upper()} PRIVATE KEY"
    secret = _password_bytes(password)
    if secret is None:
        return pem_text(label, der)
    iv = os.urandom(8)
    key = evp_bytes_to_key(secret, iv, 24)
    data = _encrypt_cbc(TripleDES, key, iv, der)
    headers = {"Proc-Type": "4,ENCRYPTED", "DEK-Info": f"DES-EDE3-CBC,{iv.hex().upper()}"}
    return pem_text(label, data, headers)


def pkcs8_pem(private_key_info_der: bytes, password: str | bytes | None) -> str:
    """PKCS#8 as ntp-keygen 4.2.8 on OpenSSL 3 writes it (PBES2, PBKDF2-HMAC-SHA256, des-ede3-cbc)."""
    secret = _password_bytes(password)
    if secret is None:
        return pem_text("PRIVATE KEY", private_key_info_der)
    salt = os.urandom(SALT_BYTES)
    iv = os.urandom(8)
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=24, salt=salt, iterations=PBKDF2_ROUNDS).derive(secret)
    data = _encrypt_cbc(TripleDES, key, iv, private_key_info_der)
    info = keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {
                        "algorithm": "pbkdf2",
                        "parameters": {
                            "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                            "iteration_count": PBKDF2_ROUNDS,
                            "prf": {"algorithm": "sha256", "parameters": core.Null()},
                        },
                    },
                    "encryption_scheme": {"algorithm": "tripledes_3key", "parameters": core.OctetString(iv)},
                },
            },
            "encrypted_data": data,
        }
    )
    return pem_text("ENCRYPTED PRIVATE KEY", info.dump())


def private_key_pem(private_key, password: str | bytes | None) -> str:
    """A `cryptography` host/sign key as encrypted PKCS#8 (what reference ntpd's OpenSSL reads)."""
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pkcs8_pem(der, password)


def rsa_key_from_values(values: dict[str, int | None]) -> rsa.RSAPrivateKey:
    """A `cryptography` RSA key from raw integers (only valid RSA keys)."""
    public = rsa.RSAPublicNumbers(values["e"], values["n"])  # type: ignore[arg-type]
    numbers = rsa.RSAPrivateNumbers(
        values["p"], values["q"], values["d"], values["dmp1"], values["dmq1"], values["iqmp"], public  # type: ignore[arg-type]
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def dsa_key_from_values(values: dict[str, int | None]) -> dsa.DSAPrivateKey:
    """A `cryptography` DSA key from raw integers (only valid DSA keys)."""
    params = dsa.DSAParameterNumbers(values["p"], values["q"], values["g"])  # type: ignore[arg-type]
    pub = values["pub"] if values["pub"] is not None else pow(values["g"], values["priv"], values["p"])  # type: ignore[arg-type]
    return dsa.DSAPrivateNumbers(values["priv"], dsa.DSAPublicNumbers(pub, params)).private_key()  # type: ignore[arg-type]


__all__ = [
    "RawKey",
    "decrypt_block",
    "raw_key",
    "load_private_key",
    "rsa_private_der",
    "dsa_private_der",
    "traditional_pem",
    "pkcs8_pem",
    "private_key_pem",
    "evp_bytes_to_key",
]
