"""Server-side group rules as ntpd 4.2.8 applies them (receive() and group_test() in ntp_proto.c; issue 11).

A host whose name carries a group (alice@grp) looks at the host name in every ASSOC field it receives:
- without `@group` the packet is dropped and counted as declined ("empty autokey groupname"), before any
  answer: so a server alice@grp never answers client `bob`, whose certificate has no group;
- for packets other than a client's request (symmetric passive, broadcast, an association's own packets)
  the group must be ours or the association's `ident` (else `crypto ident`), else declined too.

Each rule is first shown on the pure host object, then with real daemons: ntpd-py server alice@grp with an
ntpd-py client `bob` (declined, `ss_declined` rises, the client never gets past ASSOC) beside `bob@grp` (full
flags), and the same with the reference ntpd 4.2.8p15 as the client (in its own network namespace).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from autokey_daemons import free_loopback, ntpq, read_flags, start, wait_flags  # noqa: E402
from refntpd import Lab, require_ref  # noqa: E402

from ntpd_py.autokey.local_host import AutokeyHost, HostCredentials, IdentityKeys, group_of  # noqa: E402
from ntpd_py.keys.keygen import KeygenOptions, generate  # noqa: E402
from ntpd_py.keys.store import KeyStore  # noqa: E402
from ntpd_py.wire.extension import ExtensionField, Opcode  # noqa: E402

T0 = time.time()
FULL_IFF = 0x87F21  # no leap file
CERT = 0x100


def assoc_field(hostname: str, response: bool = False) -> bytes:
    return ExtensionField(code=Opcode.ASSOC, associd=7, response=response, tstamp=0, fstamp=0x80021,
                          value=hostname.encode()).encode()


def host_named(tmp_path: Path, subject: str, ident: str | None = None) -> AutokeyHost:
    name = subject.partition("@")[0]
    generate(KeygenOptions(host=subject, trusted=True, password="pw", modulus=1024), tmp_path, T0)
    store = KeyStore(tmp_path, host=name, password="pw")
    cert = store.certificate()
    return AutokeyHost(HostCredentials(host_key=store.host_key().value, host_fstamp=0, certificate=cert.value,
                                       cert_fstamp=0, identity=IdentityKeys(), ident=ident))


def test_group_of_host_names() -> None:
    assert group_of("alice@grp") == "grp" and group_of("alice") is None and group_of("alice@") == ""


def test_host_with_a_group_declines_assoc_without_one(tmp_path: Path) -> None:
    alice = host_named(tmp_path, "alice@grp")
    assert alice.group == "grp"
    assert "empty autokey groupname" in alice.group_declines([assoc_field("bob")], None, request=True)
    assert "empty autokey groupname" in alice.group_declines([assoc_field("bob", response=True)], None, request=False)
    assert alice.group_declines([assoc_field("bob@grp")], None, request=True) == ""
    # a client's request from another group is answered (ntpd's fast path has no group_test) ...
    assert alice.group_declines([assoc_field("bob@other")], None, request=True) == ""
    # ... but a symmetric, broadcast or association packet from another group is declined, unless ident names it
    assert "group mismatch" in alice.group_declines([assoc_field("bob@other")], None, request=False)
    assert alice.group_declines([assoc_field("bob@other")], "other", request=False) == ""


def test_host_without_a_group_applies_no_rule(tmp_path: Path) -> None:
    alice = host_named(tmp_path, "alice")
    assert alice.group is None
    assert alice.group_declines([assoc_field("bob")], None, request=False) == ""
    assert alice.group_declines([assoc_field("bob@other")], None, request=False) == ""


def test_only_assoc_fields_are_looked_at(tmp_path: Path) -> None:
    alice = host_named(tmp_path, "alice@grp")
    cert_request = ExtensionField(code=Opcode.CERT, associd=7, tstamp=0, fstamp=0, value=b"alice@grp").encode()
    assert alice.group_declines([cert_request], None, request=True) == ""


def _keys(base: Path) -> dict[str, Path]:
    """alice@grp (trusted, IFF), clients bob@grp and carl (no group), each with the group's parameters."""
    dirs = {name: base / name / "keys" for name in ("alice", "bob", "carl")}
    for d in dirs.values():
        d.mkdir(parents=True)
    generate(KeygenOptions(host_key=True, host="alice@grp", trusted=True, iff=True, password="serverpw", modulus=1024),
             dirs["alice"], T0)
    for i, (name, subject) in enumerate((("bob", "bob@grp"), ("carl", "carl"))):
        generate(KeygenOptions(export=True, host="alice@grp", password="serverpw", export_dir=dirs[name]),
                 dirs["alice"], T0 + 1 + i)
        generate(KeygenOptions(host_key=True, host=subject, password="clientpw", modulus=1024), dirs[name], T0)
    return dirs


def declined(text: str) -> int:
    found = re.search(r"ss_declined=(\d+)", text)
    assert found, text
    return int(found.group(1))


@pytest.mark.interop
def test_server_with_a_group_declines_a_client_without_one(tmp_path: Path) -> None:
    dirs = _keys(tmp_path)
    alice, bob, carl = free_loopback(), free_loopback(), free_loopback()
    server = "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\ncrypto host alice pw serverpw\n"
    client = f"pw clientpw\nserver {alice} iburst autokey ident grp minpoll 4\n"
    daemons = [start("alice", alice, dirs["alice"].parent, server),
               start("bob", bob, dirs["bob"].parent, "crypto host bob " + client),
               start("carl", carl, dirs["carl"].parent, "crypto host carl " + client)]
    try:
        flags, _, seen = wait_flags(bob, FULL_IFF, 60)
        assert flags == FULL_IFF, (seen, daemons[0].log(), daemons[1].log())
        carl_flags = read_flags(carl)
        assert carl_flags is None or not carl_flags & CERT, hex(carl_flags)  # never past ASSOC
        assert declined(ntpq(alice, "rv 0 ss_declined")) > 0
        assert "host=\"alice@grp\"" in ntpq(bob, "rv &1 host")
    finally:
        for daemon in daemons:
            daemon.stop()


@pytest.mark.interop
def test_server_with_a_group_declines_the_reference_client_without_one(tmp_path: Path) -> None:
    """The reference client `carl` (no group) asks ntpd-py's alice@grp: declined, counted, never answered."""
    require_ref()
    dirs = _keys(tmp_path)  # each tmp_path/NAME/keys: the launcher's keysdir for workdir tmp_path/NAME
    with Lab(2) as lab:
        server, client = lab.hosts
        alice = server.start_py(dirs["alice"].parent, "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\n"
                                                      "crypto host alice pw serverpw\nrestrict default\n")
        carl = client.start_ref(dirs["carl"].parent, f"tos orphan 10\ntos orphanwait 1\nrestrict default\n"
                                                     f"crypto host carl pw clientpw\n"
                                                     f"server {server.addr} iburst autokey ident grp minpoll 3 maxpoll 4\n")
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline and count == 0:
            text = alice.ntpq("rv 0 ss_declined")
            count = declined(text) if "ss_declined=" in text else 0
            time.sleep(0.5)
        assert count > 0, alice.ntpq("rv 0")
        assoc = carl.assoc_for(server.addr)
        flags = assoc.flags if assoc is not None else None
        assert flags is None or not flags & CERT, hex(flags)
