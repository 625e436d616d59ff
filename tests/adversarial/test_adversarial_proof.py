"""Time waits for proof: a real ntpd-py client (`server X iburst autokey ident alice`) against servers whose
identity is never proven. Each attacker's clock is 1000 s ahead, so a victim that took its time would show it.

Each test first shows that the attack reaches the victim (its packets arrive, their MACs verify: the
association is `authentic` and its flags show the exchange went on), then that the victim never selects
that server, its offset stays 0, and the not-proventic counter (`ss_notproven`, flash 0x80) rises.
`test_relay_forwarding_everything_is_selected` is the control: the same server and relay, identity
response let through, and the victim does take the 1000 s, so these tests can fail.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from adversary import (SKEW, EngineServer, NoKeysServer, Replayer, Watch, client_body, free_loopback, make_group,
                       own_certificate, response_fields, start_client, watch)

from ntpd_py.wire.extension import Opcode

TEST_AUTOKEY = 0x80  # ntpd's TEST8, "not proventic" (ntpq: pkt_autokey)
PROV = 0x400
pytestmark = pytest.mark.slow


def assert_attack_reached_and_failed(seen: Watch, victim) -> None:
    """The shared verdict: packets arrived MAC-valid, were counted not proventic, and changed nothing."""
    assert seen.rows, victim.text("ntpd.log")
    row, variables = seen.rows[0], seen.variables[0]
    flags = int(variables.get("flags", "0"), 0)
    # the attack reaches the victim: its packets pass every test up to the last (MAC, origin, duplicate)
    # and are counted not proventic, and the exchange went on (ASSOC accepted: ENAB)
    assert seen.notproven[-1] >= 1 and seen.notproven == sorted(seen.notproven), seen.notproven
    assert flags & 0x1, (row, variables, victim.text("cryptostats")[-1500:])
    # ... and fails: never proven, never selected, the clock's offset untouched
    assert not flags & PROV, hex(flags)
    assert int(variables["flash"], 16) & TEST_AUTOKEY, variables["flash"]
    assert row.selection == "reject" and not row.reachable, row
    assert set(seen.sys_peers) == {"0"}, seen.sys_peers
    assert all(abs(o) < 1.0 for o in seen.offsets), seen.offsets  # milliseconds; the attacker is 1e6 ms ahead
    assert float(variables["offset"]) == 0.0, variables["offset"]


def _run(tmp_path, server_addr: str, extra: str = "", seconds: float = 14.0):
    victim = start_client(free_loopback(), tmp_path / "bob", client_body(server_addr, extra))
    try:
        seen = watch(victim, seconds)
    finally:
        exit_time = victim.stop()
    assert exit_time < 5, exit_time
    return victim, seen


# The five attacks: each makes its own group, attacker and victim (own directory, own loopback address) and returns
# what its test asserts on. They run at once (`attacks`): each victim is watched for 14 s, and one after the other
# they took 70 s of the suite.

def _fake_server_without_keys(tmp_path) -> dict:
    make_group(tmp_path)
    fake = NoKeysServer().start()
    try:
        victim, seen = _run(tmp_path, fake.addr)
    finally:
        fake.stop()
    return {"victim": victim, "seen": seen, "received": fake.received, "sent": fake.sent}


def _impostor_with_its_own_group_key(tmp_path) -> dict:
    make_group(tmp_path)
    impostor_keys = make_group(tmp_path / "impostor", clients=())["alice"]
    impostor = EngineServer(impostor_keys).start()
    try:
        victim, seen = _run(tmp_path, impostor.addr)
    finally:
        impostor.stop()
    return {"victim": victim, "seen": seen}


def _untrusted_certificate_with_notrust(tmp_path) -> dict:
    make_group(tmp_path)
    untrusted_keys = make_group(tmp_path / "untrusted", clients=(), trusted=False)["alice"]
    der, fstamp = own_certificate(untrusted_keys)
    server = NoKeysServer(certificate=der, cert_fstamp=fstamp).start()
    try:
        victim, seen = _run(tmp_path, server.addr, extra=f"restrict {server.addr} notrust\n")
    finally:
        server.stop()
    return {"victim": victim, "seen": seen}


def _replayed_responses(tmp_path) -> dict:
    dirs = make_group(tmp_path, clients=("bob", "carol"))
    recorded = {}

    def record(data: bytes) -> bytes:
        for f in response_fields(data):
            if not f.error and not f.short:
                recorded.setdefault(f.code, f)
        return data

    real = EngineServer(dirs["alice"], skew=0.0, outgoing=record).start()
    first = start_client(free_loopback(), tmp_path / "carol", client_body(real.addr).replace("bob", "carol"))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not {Opcode.IFF, Opcode.COOK} <= set(recorded):
            time.sleep(0.2)
    finally:
        first.stop()
        real.stop()
    assert {Opcode.ASSOC, Opcode.CERT, Opcode.IFF, Opcode.COOK} <= set(recorded), sorted(recorded)
    replayer = Replayer(recorded).start()
    try:
        victim, seen = _run(tmp_path, replayer.addr)
    finally:
        replayer.stop()
    return {"victim": victim, "seen": seen, "replayed": replayer.replayed}


def _relay_drops_identity(dropped: list[int]):
    def outgoing(data: bytes) -> bytes | None:
        if any(f.code in (Opcode.IFF, Opcode.GQ, Opcode.MV) for f in response_fields(data)):
            dropped.append(1)
            return None
        return data
    return outgoing


def _relay_that_drops_the_identity_response(tmp_path) -> dict:
    dirs = make_group(tmp_path)
    dropped: list[int] = []
    server = EngineServer(dirs["alice"], outgoing=_relay_drops_identity(dropped)).start()
    try:
        victim, seen = _run(tmp_path, server.addr)
    finally:
        server.stop()
    return {"victim": victim, "seen": seen, "dropped": dropped}


ATTACKS = {"fake": _fake_server_without_keys, "impostor": _impostor_with_its_own_group_key,
           "untrusted": _untrusted_certificate_with_notrust, "replayed": _replayed_responses,
           "relay": _relay_that_drops_the_identity_response}


@pytest.fixture(scope="module")
def attacks(tmp_path_factory) -> dict[str, Future]:
    """Every attack, started at once; a test takes its own result (an attack that failed to run fails its test)."""
    with ThreadPoolExecutor(len(ATTACKS)) as pool:
        return {name: pool.submit(run, tmp_path_factory.mktemp(name)) for name, run in ATTACKS.items()}


def test_fake_server_without_keys_is_never_selected(attacks):
    result = attacks["fake"].result()
    victim, seen = result["victim"], result["seen"]
    assert result["received"] >= 2 and result["sent"] >= 2
    assert_attack_reached_and_failed(seen, victim)
    assert seen.rows[0].authentic  # ntpq's auth column says "ok": every MAC verifies (cookie 0, anyone's)
    assert 'host="alice"' in str(seen.variables[0]) or seen.variables[0].get("host", "").strip('"') == "alice"


def test_impostor_with_its_own_group_key_is_never_selected(attacks):
    """Its own trusted authority named alice and its own IFF group key: the trail is 'trusted', the identity
    challenge (with the real group's parameters) fails."""
    result = attacks["impostor"].result()
    victim, seen = result["victim"], result["seen"]
    assert_attack_reached_and_failed(seen, victim)
    flags = int(seen.variables[0]["flags"], 0)
    assert flags & 0x100 and not flags & 0x200, hex(flags)  # CERT (its own root) but never VRFY


def test_untrusted_certificate_is_never_selected_even_with_notrust(attacks):
    result = attacks["untrusted"].result()
    victim, seen = result["victim"], result["seen"]
    assert_attack_reached_and_failed(seen, victim)
    assert not int(seen.variables[0]["flags"], 0) & 0x100  # the trail never reaches a trusted root
    assert "bad or missing certificate" in victim.text("cryptostats")  # XEVNT_CRT: the trail ends untrusted


def test_replayed_responses_are_never_selected(attacks):
    """Responses of the real server, recorded while it served a real client, replayed to the same client
    keys later: signed CERT, IFF and COOK values in fresh headers with fresh cookie-0 MACs."""
    result = attacks["replayed"].result()
    victim, seen = result["victim"], result["seen"]
    assert result["replayed"] >= 3  # ASSOC, CERT and at least one IFF answer were replayed
    assert_attack_reached_and_failed(seen, victim)
    flags = int(seen.variables[0]["flags"], 0)
    assert flags & 0x100 and not flags & 0x200, hex(flags)  # the public certificate replays; the identity cannot


def test_relay_that_drops_the_identity_response_is_never_selected(attacks):
    result = attacks["relay"].result()
    victim, seen = result["victim"], result["seen"]
    assert result["dropped"], "the relay never saw an identity response"
    assert_attack_reached_and_failed(seen, victim)
    flags = int(seen.variables[0]["flags"], 0)
    assert flags & 0x100 and not flags & 0x200, hex(flags)  # the real trail, but no identity


def test_relay_forwarding_everything_is_selected(tmp_path):
    """The control for the tests above: the real server (1000 s ahead) behind a relay that forwards the
    identity response too. The victim proves it, selects it, and shows the 1000 s offset."""
    dirs = make_group(tmp_path)
    server = EngineServer(dirs["alice"]).start()
    victim = start_client(free_loopback(), tmp_path / "bob", client_body(server.addr))
    try:
        seen = watch(victim, 30, until=lambda w: w.sys_peers and w.sys_peers[-1] != "0")
    finally:
        victim.stop()
        server.stop()
    assert seen.sys_peers[-1] != "0", (seen.sys_peers, seen.variables)
    assert int(seen.variables[0]["flags"], 0) & PROV
    assert abs(seen.offsets[-1] - SKEW * 1000) < 1000, seen.offsets[-1]
