"""Long association lists through the classic ntpq 4.2.8p15 (../shared/ref-ntpd/ntpq) and ntpsec's ntpq.

The report: the classic `ntpq -c as` printed no rows against ntpd-py holding 64 ephemeral (unproven)
associations, while our own client listed them. The cause is not the wire: classic ntpq's `associations`
and `peers` print only associations that are configured or reachable (printassoc/dopeers skip a status
without CTL_PST_CONFIG or CTL_PST_REACH); `lassociations` and `lpeers` print every one. The reference ntpd
under the same flood shows the same thing (test_flooded_ephemeral_associations_side_by_side).

What is tested here:
- the READSTAT list is fragmented as ntpd's read_status does it (117 (assid, status) pairs, 468 octets, per
  fragment; MORE on all but the last), so both ntpqs list every association across fragment boundaries, up to
  what each client can reassemble: the classic ntpq keeps 32 fragments (3744 associations), ntpsec's 63
  (7371); a list longer than the 16-bit offsets can address is cut at whole pairs instead of wrapping;
- a real ntpd-py with 130 `server` lines: both ntpqs list all 130 in `as`, `peers`, `lpeers`;
- side by side with the reference in network namespaces: the same fragment layout for the same number of
  associations, and under a flood of spoofed ASSOC packets, `as` hides the ephemeral associations on both
  daemons while `las`/`lpeers` list every one.
The reference tests FAIL when CI=true and the reference is missing (tests/refntpd.py require_ref).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "core"))
from conftest import ROOT, free_loopback, require_program  # noqa: E402
from core_daemons import NtpdPy, wait_until  # noqa: E402
from ctl_fakes import FakeView, UdpControlServer  # noqa: E402
from refntpd import REF_DIR, Host, Lab, PyDaemon, RefDaemon, require_ref  # noqa: E402

from ntpd_py.control.client import ControlClient  # noqa: E402
from ntpd_py.control.responder import MAX_LISTED_ASSOCIATIONS, ControlResponder  # noqa: E402
from ntpd_py.wire import control as wire  # noqa: E402
from ntpd_py.wire import control_values as v  # noqa: E402

CONFIGURED_UNREACHABLE = 0x8011  # conf, no reach, last event mobilize: a `server` line nobody answers
EPHEMERAL_UNREACHABLE = 0x4011  # authenable only: what a flood's unproven symmetric passive peer shows
PAIRS_PER_FRAGMENT = wire.CTL_MAX_DATA_LEN // 4  # 117
CLASSIC_MAX = 32 * PAIRS_PER_FRAGMENT  # classic ntpq: MAXFRAGS 32 fragments
NTPSEC_MAX = 63 * PAIRS_PER_FRAGMENT  # ntpsec's ntpq gives up at its 2 * MAXFRAGS-th packet: 63 fragments


def classic() -> str:
    require_ref()
    return str(REF_DIR / "ntpq")


def ntpsec() -> str:
    return require_program("ntpq")


def run(program: str, command: str, address: str, netns: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [program, "-n", "-c", command, address]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assoc_rows(out: str) -> list[int]:
    """Association IDs of `as` / `las` output (ind assid status ...)."""
    ids = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].isdigit() and fields[1].isdigit():
            ids.append(int(fields[1]))
    return ids


def peer_rows(out: str) -> list[str]:
    """Remote addresses of `peers` / `lpeers` output: each row after the ==== line, its tally column dropped."""
    lines = out.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("=====")), len(lines))
    return [line[1:].split()[0] for line in lines[start:] if line[1:].strip()]


def listed(program: str, command: str, address: str, netns: str | None = None) -> list[int]:
    result = run(program, command, address, netns)
    assert result.returncode == 0 and not result.stderr.strip(), (command, result.stderr)
    return assoc_rows(result.stdout)


# ------------------------------------------------------------------ the responder behind a real UDP socket

def peer_items(i: int) -> list[tuple[str, str]]:
    return [("srcadr", f"10.{i // 250 % 250}.{i % 250}.1"), ("srcport", "123"), ("dstadr", "10.0.0.1"),
            ("leap", "3"), ("stratum", "16"), ("refid", "INIT"), ("reftime", v.timestamp(0)),
            ("rec", v.timestamp(0)), ("reach", v.reach(0)), ("hmode", "3"), ("hpoll", "6"), ("ppoll", "10"),
            ("offset", v.fixed(0.0)), ("delay", v.fixed(0.0)), ("dispersion", v.fixed(16000.0)),
            ("jitter", v.fixed(0.0))]


def fake_server(statuses: list[int]) -> UdpControlServer:
    assocs = [(1000 + i, status) for i, status in enumerate(statuses)]
    view = FakeView(assocs=assocs, peervars={assid: peer_items(i) for i, (assid, _) in enumerate(assocs)})
    return UdpControlServer(ControlResponder(view), free_loopback())


@pytest.mark.interop
@pytest.mark.parametrize("count", [1, 64, 116, 117, 118, 234, 235, 1000, CLASSIC_MAX])
def test_classic_ntpq_lists_every_association(count: int) -> None:
    with fake_server([CONFIGURED_UNREACHABLE] * count) as srv:
        want = list(range(1000, 1000 + count))
        assert listed(classic(), "as", srv.address[0]) == want
        assert listed(classic(), "las", srv.address[0]) == want


@pytest.mark.interop
@pytest.mark.parametrize("count", [64, 118, 235, 1000, CLASSIC_MAX + 1, NTPSEC_MAX])
def test_ntpsec_ntpq_lists_every_association(count: int) -> None:
    with fake_server([CONFIGURED_UNREACHABLE] * count) as srv:
        assert listed(ntpsec(), "as", srv.address[0]) == list(range(1000, 1000 + count))


@pytest.mark.interop
@pytest.mark.parametrize("program", ["classic", "ntpsec"])
def test_peers_lists_every_association_across_fragments(program: str) -> None:
    count = PAIRS_PER_FRAGMENT + 3  # the list takes two fragments; each row is one READVAR
    exe = classic() if program == "classic" else ntpsec()
    with fake_server([CONFIGURED_UNREACHABLE] * count) as srv:
        for command in ("peers", "lpeers"):
            result = run(exe, command, srv.address[0])
            assert not result.stderr.strip(), result.stderr
            assert peer_rows(result.stdout) == [items[0][1] for items in map(peer_items, range(count))], command


@pytest.mark.interop
def test_classic_as_shows_only_configured_or_reachable_associations() -> None:
    """ntpq's own rule, not the server's: `as`/`peers` skip a status with neither CONFIG nor REACH; `las`/`lpeers`
    show all of them. 64 unproven ephemeral associations therefore give `as` no rows (the reported symptom)."""
    statuses = [EPHEMERAL_UNREACHABLE] * 64 + [CONFIGURED_UNREACHABLE] + [0x5014]  # + reachable ephemeral
    with fake_server(statuses) as srv:
        address = srv.address[0]
        assert listed(classic(), "as", address) == [1064, 1065]
        assert listed(classic(), "las", address) == list(range(1000, 1066))
        assert len(peer_rows(run(classic(), "peers", address).stdout)) == 2
        assert len(peer_rows(run(classic(), "lpeers", address).stdout)) == 66
        assert listed(ntpsec(), "as", address) == list(range(1000, 1066))  # ntpsec's `as` does not filter


def read_status_layout(statuses: int) -> list[tuple[int, int, bool]]:
    view = FakeView(assocs=[(1 + i % 65535, CONFIGURED_UNREACHABLE) for i in range(statuses)])
    frames = [wire.decode(d) for d in ControlResponder(view).handle(wire.request(wire.OP_READSTAT, 7))]
    return [(f.offset, f.count or 0, f.more) for f in frames]


def ntpd_layout(pairs: int) -> list[tuple[int, int, bool]]:
    """ntpd 4.2.8's read_status: full 468-octet fragments, then the rest (an empty list: one empty frame)."""
    total = pairs * 4
    starts = list(range(0, total, wire.CTL_MAX_DATA_LEN)) or [0]
    return [(s, min(wire.CTL_MAX_DATA_LEN, total - s), i < len(starts) - 1) for i, s in enumerate(starts)]


@pytest.mark.parametrize("count", [0, 1, 116, 117, 118, 234, 235, 3744, 16383])
def test_read_status_fragments_as_ntpd(count: int) -> None:
    assert read_status_layout(count) == ntpd_layout(count)


def test_a_list_longer_than_the_offsets_address_is_cut_at_whole_pairs() -> None:
    """Offsets are 16 bits: ntpd would wrap them past 65535 octets (its fragments then overlap and no client
    reassembles anything); ntpd-py lists the first MAX_LISTED_ASSOCIATIONS instead."""
    assert MAX_LISTED_ASSOCIATIONS == 0xFFFF // 4
    layout = read_status_layout(17000)
    assert layout == ntpd_layout(MAX_LISTED_ASSOCIATIONS)
    offsets = [offset for offset, _, _ in layout]
    assert offsets == sorted(set(offsets)) and layout[-1][0] + layout[-1][1] <= 0xFFFF


def test_our_client_reads_the_longest_list() -> None:
    with fake_server([CONFIGURED_UNREACHABLE] * 17000) as srv:
        with ControlClient(srv.address[0], timeout=5) as client:
            assert len(client.associations()) == MAX_LISTED_ASSOCIATIONS


# ------------------------------------------------------------------------------- a real ntpd-py daemon

SERVERS = 130  # more than one fragment (117 pairs) and more than the 64 of the report


def server_address() -> str:
    """A free loopback address for a `server` line: never 127.127.t.u, which names a reference clock."""
    while (address := free_loopback()).startswith("127.127."):
        pass
    return address


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str], Path]]:
    servers = [server_address() for _ in range(SERVERS)]
    daemon = NtpdPy(tmp_path_factory.mktemp("assoclist"), "assoclist", free_loopback(),
                    "disable ntp\nrestrict default\n" + "".join(f"server {s}\n" for s in servers)).start()
    try:
        def all_listed() -> bool:
            with daemon.client() as client:
                return len(client.associations()) == SERVERS

        wait_until(all_listed, 20, 0.2)
        yield daemon.address, servers, daemon.log
    finally:
        daemon.stop()  # ours, by its PID


@pytest.mark.interop
@pytest.mark.parametrize("program", ["classic", "ntpsec"])
def test_every_server_line_is_listed(daemon: tuple[str, list[str], Path], program: str) -> None:
    address, servers, log = daemon
    exe = classic() if program == "classic" else ntpsec()
    with ControlClient(address, timeout=2) as client:
        ours = sorted(a.assid for a in client.associations())
    assert len(ours) == SERVERS, log.read_text()[-3000:] if log.exists() else "no log"
    assert sorted(listed(exe, "as", address)) == ours
    for command in ("peers", "lpeers"):
        result = run(exe, command, address)
        assert not result.stderr.strip(), result.stderr
        assert sorted(peer_rows(result.stdout)) == sorted(servers), command


# --------------------------------------------------------------- side by side with the reference ntpd

LAYOUT_SCRIPT = """
import json, socket, sys
from ntpd_py.wire import control as wire
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(wire.request(wire.OP_READSTAT, 4242), ("127.0.0.1", 123))
frames = []
while True:
    f = wire.decode(s.recv(2048))
    if f.sequence != 4242:
        continue
    frames.append([f.offset, f.count, f.more])
    if not f.more:
        break
print(json.dumps(sorted(frames)))
"""


def _keys(keysdir: Path) -> None:
    from ntpd_py.keys.keygen import KeygenOptions, generate
    generate(KeygenOptions(host_key=True, host="alice", trusted=True, iff=True, password="serverpw", modulus=1024),
             keysdir, time.time() - 60)


def _wait_listed(host: Host, want: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(assoc_rows(host.ntpq("las"))) >= want:
            return
        time.sleep(0.5)
    raise AssertionError(f"{want} associations never listed: {host.ntpq('las')[-500:]}")


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ref", "py"])
def test_flooded_ephemeral_associations_side_by_side(kind: str, tmp_path: Path) -> None:
    """The same configuration and flood for the reference ntpd and ntpd-py: the same READSTAT fragment layout for
    the configured list; after the flood, classic `as`/`peers` show only the configured associations on both,
    `las`/`lpeers` and ntpsec's `as` every association the daemon holds (our client's count)."""
    require_ref()
    with Lab(2, prefix="al") as lab:
        target, attacker = lab.hosts
        net = lab.net
        servers = [f"{net}.{100 + i}" for i in range(SERVERS)]  # on the link, nobody there
        body = ("crypto host alice pw serverpw\ntos orphan 5\ntos orphanwait 1\nrestrict default nomodify notrap\n"
                + "".join(f"server {s}\n" for s in servers))
        workdir = tmp_path / kind
        daemon = RefDaemon(target, workdir, "ref", body) if kind == "ref" else PyDaemon(target, workdir, "py", body)
        _keys(daemon.keysdir)
        target._start(daemon)  # recorded by the lab: stopped by PID whatever happens
        _wait_listed(target, SERVERS)

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        layout = target.run([sys.executable, "-c", LAYOUT_SCRIPT], cwd=ROOT, env=env)
        assert layout.returncode == 0, layout.stderr
        assert [tuple(f) for f in json.loads(layout.stdout)] == [(0, 468, True), (468, 4 * (SERVERS - 117), False)]

        flood = attacker.run([sys.executable, str(ROOT / "bench" / "abuse" / "flood.py"), "--target", target.addr,
                              "--kind", "assoc", "--count", "300", "--rate", "2000", "--sources", "40", "--ports", "2",
                              "--src-prefix", net], timeout=60, env={**env, "FLOOD_NETNS": "1"}, cwd=ROOT)
        assert flood.returncode == 0, flood.stderr
        _wait_listed(target, SERVERS + 64)
        time.sleep(0.5)
        count = target.run([sys.executable, "-c", "from ntpd_py.control.client import ControlClient\n"
                            "with ControlClient('127.0.0.1', timeout=2) as c: print(len(c.associations()))"],
                           cwd=ROOT, env=env)
        total = int(count.stdout)
        assert total >= SERVERS + 64, (kind, total)

        assert len(listed(classic(), "as", "127.0.0.1", target.ns)) == SERVERS
        assert len(listed(classic(), "las", "127.0.0.1", target.ns)) == total
        assert len(listed(ntpsec(), "as", "127.0.0.1", target.ns)) == total
        peers = run(classic(), "peers", "127.0.0.1", target.ns).stdout
        assert sorted(peer_rows(peers)) == sorted(servers)
        assert len(peer_rows(run(classic(), "lpeers", "127.0.0.1", target.ns).stdout)) == total
