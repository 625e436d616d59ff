"""An in-memory client ⇄ server (or peer ⇄ peer) Autokey harness: real packets, real crypto, fake clock."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autokey_vectors import identity_groups, key_file

from ntpd_py.autokey.authenticator import AutokeyAuth
from ntpd_py.autokey.local_host import AutokeyHost, HostCredentials, IdentityKeys
from ntpd_py.autokey.leapfile import load as load_leap
from ntpd_py.keys.cert import parse_certificate
from ntpd_py.keys.files import read_key_file
from ntpd_py.keys.pem import load_private_key
from ntpd_py.wire.packet import NtpPacket, decode, encode_header

VECTOR_NOW = 1795336000.0  # 2026-11-22 08:26 UTC: inside the vectors' certificate lifetimes
PASSWORDS = {"alice": "serverpw", "bob": "clientpw"}


@dataclass
class FakeAssoc:
    assid: int
    srcadr: tuple[str, int]
    dstadr: str | None
    hmode: int
    keyid: int | None = None
    autokey: bool = True
    ident: str | None = None
    auth_state: Any = None
    hpoll: int = 6


@functools.lru_cache(maxsize=None)
def _host_material(vectors: Path, scheme: str, host: str):
    hk_path = key_file(vectors, scheme, host, "RSAhost_")
    hk = read_key_file(hk_path)
    key = load_private_key(hk.blocks[0], PASSWORDS[host], hk_path)
    cert_path = key_file(vectors, scheme, host, "RSA-MD5cert_")
    cert = parse_certificate(read_key_file(cert_path).blocks[0].der)
    return hk_path, key, cert_path, cert


_identity_groups = functools.lru_cache(maxsize=None)(identity_groups)


def load_creds(vectors: Path, scheme: str, host: str, *, leap: bool = True, with_ident: bool = True) -> HostCredentials:
    """Fresh credentials (tests may change them) from cached, expensive-to-decrypt key material."""
    hk_path, key, cert_path, cert = _host_material(vectors, scheme, host)
    ident = IdentityKeys()
    base = scheme.split("-")[0]
    if with_ident:
        server, client = _identity_groups(vectors, scheme)
        if host == "alice":
            fstamp = int(key_file(vectors, scheme, "alice", {"iff": "IFFkey_", "gq": "GQkey_", "mv": "mvkey_"}[base]).name.rsplit(".", 1)[1])
            ident = IdentityKeys(**{base: server, f"{base}_fstamp": fstamp})
        else:
            par = key_file(vectors, scheme, "bob", f"{base}par_")
            fs = int(par.name.rsplit(".", 1)[1])
            ident = IdentityKeys(clients={(base, "alice"): (client, fs)})
    return HostCredentials(
        host_key=key,
        host_fstamp=int(hk_path.name.rsplit(".", 1)[1]),
        certificate=cert,
        cert_fstamp=int(cert_path.name.rsplit(".", 1)[1]),
        identity=ident,
        leap=load_leap(vectors / "leap-seconds.list") if leap and host == "alice" else None,
    )


@dataclass
class Pair:
    """A client association on `client` talking to the stateless server `server`."""

    client: AutokeyAuth
    server: AutokeyAuth
    assoc: FakeAssoc
    now: float = VECTOR_NOW
    client_addr: str = "10.99.0.2"
    server_addr: str = "10.99.0.1"
    log: list[str] = field(default_factory=list)

    def step(self, tamper=None) -> tuple[Any, Any]:
        header = encode_header(NtpPacket(mode=3, stratum=10, poll=6))
        data = header + self.client.request_tail(self.assoc, header, self.now)
        pkt = decode(data)
        verdict = self.server.check(pkt, data, (self.client_addr, 123), self.server_addr, None, self.now)
        rheader = encode_header(NtpPacket(mode=4, stratum=5, poll=6))
        rdata = rheader + self.server.reply_tail(pkt, verdict, (self.client_addr, 123), self.server_addr, rheader, self.now)
        if tamper is not None:
            rdata = tamper(rdata)
        rpkt = decode(rdata)
        cverdict = self.client.check(rpkt, rdata, (self.server_addr, 123), self.client_addr, self.assoc, self.now)
        self.now += 1.0
        return verdict, cverdict

    @property
    def flags(self) -> int:
        return self.assoc.auth_state.crypto if self.assoc.auth_state else 0

    def run(self, steps: int = 12) -> int:
        for _ in range(steps):
            self.step()
        return self.flags


def make_pair(vectors: Path, scheme: str, *, leap: bool = True, ident: str | None = "alice", synchronized: bool = True,
              server_creds: HostCredentials | None = None, client_creds: HostCredentials | None = None) -> Pair:
    stats: list[str] = []
    s_host = AutokeyHost(server_creds or load_creds(vectors, scheme, "alice", leap=leap), stats=lambda src, line: stats.append(f"S {src} {line}"))
    c_host = AutokeyHost(client_creds or load_creds(vectors, scheme, "bob"), stats=lambda src, line: stats.append(f"C {src} {line}"))
    server, client = AutokeyAuth(s_host), AutokeyAuth(c_host)
    server.set_synchronized(True, VECTOR_NOW)
    client.set_synchronized(synchronized, VECTOR_NOW)
    assoc = FakeAssoc(38363, ("10.99.0.1", 123), "10.99.0.2", 3, ident=ident)
    pair = Pair(client, server, assoc)
    pair.log = stats
    return pair
