"""Helpers for the Autokey tests: the reference captures and the reference key files.

Key files are read with `cryptography` directly here until ntpd_py.keys provides the loaders.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ntpd_py.pcap import read_pcap
from ntpd_py.wire.extension import ExtensionField, decode_fields

SCHEMES = ["iff", "gq", "mv", "iff-noident", "iff-stock-pkcs8-fail", "gq-stock-fail", "mv-stock-fail"]
LEN_PKT_NOMAC = 48
MAX_MAC_LEN = 24


@dataclass
class CapturedPacket:
    time: float
    src: str
    dst: str
    raw: bytes
    header: bytes
    fields: list[ExtensionField]
    region: bytes
    keyid: int | None
    mac: bytes

    @property
    def authenticated_part(self) -> bytes:
        return self.raw[: LEN_PKT_NOMAC + len(self.region)]


def split_packet(raw: bytes) -> tuple[bytes, bytes, int | None, bytes]:
    """Header, extension region, key ID, MAC: the walk 4.2.8 receive() does (fields while > MAX_MAC_LEN left)."""
    off = LEN_PKT_NOMAC
    while len(raw) - off > MAX_MAC_LEN:
        length = struct.unpack_from("!I", raw, off)[0] & 0xFFFF
        if length < 8 or length % 4 or off + length > len(raw):
            raise ValueError(f"bad extension length {length} at {off}")
        off += length
    tail = raw[off:]
    keyid = struct.unpack_from("!I", tail)[0] if len(tail) >= 4 else None
    return raw[:LEN_PKT_NOMAC], raw[LEN_PKT_NOMAC:off], keyid, tail[4:]


def captured_packets(vectors: Path, scheme: str) -> list[CapturedPacket]:
    out = []
    datagrams = list(read_pcap(vectors / scheme / "capture.pcap"))
    t0 = datagrams[0].time
    for d in datagrams:
        if 123 not in (d.sport, d.dport):
            continue
        header, region, keyid, mac = split_packet(d.payload)
        out.append(CapturedPacket(d.time - t0, d.src, d.dst, d.payload, header, decode_fields(region), region, keyid, mac))
    return out


def decoded_json(vectors: Path, scheme: str) -> list[dict]:
    return json.loads((vectors / scheme / "capture.decoded.json").read_text())


def _strip_header(path: Path) -> bytes:
    return b"".join(line + b"\n" for line in path.read_bytes().splitlines() if not line.startswith(b"#"))


def key_file(vectors: Path, scheme: str, host: str, prefix: str) -> Path:
    keys = vectors / scheme / host / "keys"
    matches = sorted(keys.glob(f"ntpkey_{prefix}*"))
    if not matches:
        raise FileNotFoundError(f"{keys}/ntpkey_{prefix}*")
    return matches[0]


def filestamp(path: Path) -> int:
    return int(path.name.rsplit(".", 1)[1])


def load_private(path: Path, password: str | None):
    data = _strip_header(path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (TypeError, ValueError):
        return serialization.load_pem_private_key(data, password=password.encode() if password else None)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_strip_header(path))


PASSWORDS = {"alice": "serverpw", "bob": "clientpw"}


def host_key(vectors: Path, scheme: str, host: str):
    return load_private(key_file(vectors, scheme, host, "RSAhost_"), PASSWORDS[host])


def host_cert(vectors: Path, scheme: str, host: str) -> x509.Certificate:
    return load_cert(key_file(vectors, scheme, host, "RSA-MD5cert_"))


def raw_values(path: Path, password: str | None) -> dict:
    from ntpd_py.keys.files import read_key_file
    from ntpd_py.keys.pem import raw_key

    text = read_key_file(path)
    return raw_key(text.blocks[0], password, path).values


def identity_groups(vectors: Path, scheme: str):
    """(server group, client group) for the scheme, with the numbers from the vectors' key files."""
    from ntpd_py.keys.identity.gq import GqParams
    from ntpd_py.keys.identity.iff import IffParams
    from ntpd_py.keys.identity.mv import MvClientKey, MvServerKey

    base = scheme.split("-")[0]
    if base == "iff":
        s = raw_values(key_file(vectors, scheme, "alice", "IFFkey_"), "serverpw")
        c = raw_values(key_file(vectors, scheme, "bob", "iffpar_"), None)
        v = pow(s["g"], s["q"] - s["priv"], s["p"])
        return IffParams(s["p"], s["q"], s["g"], v=v, b=s["priv"]), IffParams(c["p"], c["q"], c["g"], v=c["pub"])
    if base == "gq":
        s = raw_values(key_file(vectors, scheme, "alice", "GQkey_"), "serverpw")
        c = raw_values(key_file(vectors, scheme, "bob", "gqpar_"), None)
        return GqParams(s["n"], s["e"], u=s["p"], v=s["q"]), GqParams(c["n"], c["e"])
    if base == "mv":
        s = raw_values(key_file(vectors, scheme, "alice", "mvkey_"), "serverpw")
        c = raw_values(key_file(vectors, scheme, "bob", "mvpar_"), None)
        return MvServerKey(s["p"], s["q"], s["g"], s["priv"], s["pub"]), MvClientKey(c["p"], c["priv"], c["pub"])
    raise ValueError(scheme)


def gq_public_from_cert(cert: x509.Certificate) -> int:
    ski = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("2.5.29.14")).value
    return int.from_bytes(ski.digest, "big")
