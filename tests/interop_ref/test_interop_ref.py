"""Interop with the reference ntpd 4.2.8p15 (../shared/ref-ntpd), both directions, every Autokey scheme.

All cells start at once (module fixture; each cell has its own pair of network namespaces), then each test
asserts one cell. A cell passes when the client holds the reference's full flags for the scheme AND has
selected the server (sys.peer). Seconds to full flags per cell are printed at the end of the run.

Key files cross over on purpose (cell names say who made which: server, client host key, client parameters):
- ntpd-py-keygen's files loaded by the reference: authorities served by the reference, client keys and
  parameters of reference clients, and for every scheme a reference pair with nothing but ntpd-py-keygen's files;
- the reference ntp-keygen's files loaded by ntpd-py: authorities served by ntpd-py (IFF, GQ, TC, PC: stock MV
  files cannot serve, ntp-keygen never writes ntpkey_mvkey), client host keys of ntpd-py clients, stock GQ
  parameters; stock PKCS#8 IFF and MV parameters are refused with a message (asserted below);
- an IFF authority made by the reference, its client parameters exported by `ntpd-py-keygen -e` (the repair
  that message suggests), loaded by a reference client.
Subjects are `-s alice@grp` / `-s bob@grp`: a reference server declines clients without `@group`.
"""

from __future__ import annotations

from pathlib import Path

import keysets as ks
import pytest
from cells import PRODUCTION_RESTRICT, CellResult, CellSpec, renew_then_wait, run_cells
from refntpd import require_ref

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SCHEMES = ("iff", "gq", "mv", "tc", "pc")
CERT, VRFY = 0x100, 0x200


def _ref_server(scheme: str) -> CellSpec:
    # ntpd-py client of a reference server; the GQ authority and its parameters by the reference ntp-keygen
    # (stock GQ files are sound; the stock *daemon* misreads them: ntpd-gqfix serves), the others by ntpd-py
    tool = "ref" if scheme == "gq" else "py"
    return CellSpec(scheme, "ref", "py", server_keys=tool, client_keys="ref", params_keys=tool)


def _py_server(scheme: str) -> CellSpec:
    # reference client of an ntpd-py server that loads the reference's authority files (MV: ntpd-py's)
    server = "py" if scheme == "mv" else "ref"
    params = {"iff": "py", "gq": "ref", "mv": "py"}.get(scheme, "py")
    return CellSpec(scheme, "py", "ref", server_keys=server, client_keys="py", params_keys=params)


CELLS: dict[str, tuple[CellSpec, object]] = {}
for _scheme in SCHEMES:
    CELLS[f"{_scheme}: reference server <- ntpd-py client"] = (_ref_server(_scheme), None)
    CELLS[f"{_scheme}: ntpd-py server <- reference client"] = (_py_server(_scheme), None)
    # every file by ntpd-py-keygen, both ends the reference: the generator alone against the reference
    CELLS[f"{_scheme}: reference server <- reference client, every file by ntpd-py-keygen"] = (
        CellSpec(_scheme, "ref", "ref"), None)
STOCK = {
    "iff": CellSpec("iff", "ref", "py", server_keys="ref", client_keys="ref", params_keys="ref", timeout=15),
    "mv": CellSpec("mv", "ref", "py", server_keys="py", client_keys="ref", params_keys="ref", timeout=15),
}
for _scheme, _spec in STOCK.items():
    CELLS[f"{_scheme}: stock PKCS#8 parameters refused by an ntpd-py client"] = (_spec, None)
PRODUCTION_PY = "iff: reference server with `limited` <- ntpd-py client"
PRODUCTION_REF = "iff: reference server with `limited` <- reference client"
CELLS[PRODUCTION_PY] = (CellSpec("iff", "ref", "py", restrict=PRODUCTION_RESTRICT), None)
CELLS[PRODUCTION_REF] = (CellSpec("iff", "ref", "ref", restrict=PRODUCTION_RESTRICT), None)
RENEWAL = "iff: renewal with SIGHUP on an ntpd-py server <- reference client"
CELLS[RENEWAL] = (CellSpec("iff", "py", "ref"), renew_then_wait())
CELLS["iff broadcast: reference server -> ntpd-py broadcastclient"] = (
    CellSpec("iff", "ref", "py", mode="broadcast", timeout=60), None)
# the reference client declines a first broadcast that carries AUTO (a broadcaster's first, new key list: ntpd's
# and ours), mobilizes on the next (ASSOC), then takes one Autokey step per broadcast poll (8 s): about 50 s
CELLS["iff broadcast: ntpd-py server -> reference broadcastclient"] = (
    CellSpec("iff", "py", "ref", mode="broadcast", timeout=90), None)

# cells that fail because of a daemon bug owned by another helper: key -> reason (strict xfail)
KNOWN_BUGS: dict[str, str] = {}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, CellResult]:
    require_ref()
    base: Path = tmp_path_factory.mktemp("interop_ref")
    out = run_cells(CELLS, base)
    lines = ["", "interop with reference ntpd 4.2.8p15: seconds from client start (minpoll 3 maxpoll 4)",
             f"{'cell':<76}{'flags':>9}{'full':>7}{'sys.peer':>9}{'KoD':>5}"]
    for key, r in out.items():
        flags = f"0x{r.wait.flags:x}" if r.wait and r.wait.flags is not None else "-"
        full = f"{r.full_at:.1f}" if r.full_at is not None else "-"
        sel = f"{r.selected_at:.1f}" if r.selected_at is not None else "-"
        lines.append(f"{key:<76}{flags:>9}{full:>7}{sel:>9}{r.kods if r.kods is not None else '-':>5}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n".join(lines))
    return out


def _params(keys: list[str]) -> list[object]:
    return [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[k])) if k in KNOWN_BUGS else k
            for k in keys]


FULL_CELLS = [k for k in CELLS if ": stock" not in k and k != RENEWAL]


@pytest.mark.parametrize("key", _params(FULL_CELLS))
def test_full_flags_and_selected(results: dict[str, CellResult], key: str) -> None:
    result = results[key]
    assert result.error is None, result.explain()
    assert result.wait is not None and result.wait.flags == result.spec.want, result.explain()
    assert result.selected_at is not None, f"client never selected the server\n{result.explain()}"
    assert result.kods in (0, None), f"{result.kods} KoD sent by the server\n{result.explain()}"


def test_subjects_carry_the_group(results: dict[str, CellResult]) -> None:
    """Both generators, given `-s host@group`, write that subject (a reference server needs the group); PC
    members hold the authority's own certificate."""
    checked = set()
    for key, result in results.items():
        assert result.base is not None
        client = ks.subject(result.base / "client" / "keys" / f"ntpkey_cert_{ks.CLIENT}")
        server = ks.subject(result.base / "server" / "keys" / f"ntpkey_cert_{ks.SERVER}")
        want_client = "alice@grp" if result.spec.scheme == "pc" else "bob@grp"
        assert server.endswith("CN = alice@grp") and client.endswith(f"CN = {want_client}"), (key, server, client)
        checked.add((result.spec.server_keys, result.spec.client_keys))
    assert {("py", "ref"), ("ref", "py")} <= checked  # both generators made both kinds of files


@pytest.mark.parametrize("scheme", _params(list(STOCK)))
def test_stock_pkcs8_parameters_refused_with_a_message(results: dict[str, CellResult], scheme: str) -> None:
    """Stock ntp-keygen -e writes IFF/MV client parameters as PKCS#8, which loses the DSA public value: the
    ntpd-py client refuses the file, names it and says why, and never claims the identity verified."""
    key = next(k for k in CELLS if k.startswith(f"{scheme}: stock"))
    result = results[key]
    assert result.error is None, result.explain()
    assert result.wait is not None and result.wait.flags is not None, result.explain()
    assert result.wait.flags & CERT and not result.wait.flags & VRFY, result.explain()
    crypto = result.logs.get("client cryptostats", "")
    line = next((x for x in crypto.splitlines() if "identity parameters for group grp" in x), "")
    assert f"ntpkey_{scheme}par_grp" in line and "PKCS#8" in line, result.explain()
    if scheme == "iff":  # the repair it names works: the ntpd-py-server cell uses exactly that export
        assert "ntpd-py-keygen -e" in line


def test_sighup_renewal_keeps_the_reference_client(results: dict[str, CellResult]) -> None:
    """The monthly renewal on an ntpd-py server (new certificate, same host key, SIGHUP, no restart): the
    server serves the new certificate and the reference client keeps (or regains) full flags and selection."""
    result = results[RENEWAL]
    assert result.error is None, result.explain()
    assert result.wait is not None and result.wait.ok and result.selected_at is not None, result.explain()
    extra = result.extra
    assert extra.get("server_alive"), result.explain()
    assert extra.get("served_new"), f"server still serves {extra.get('cert_after')}, not {extra.get('new_cert')}"
    after = extra["after_hup"]
    assert after.ok and after.selected_at is not None, f"after SIGHUP: {after}\n{result.explain()}"


def test_welcome_behind_a_production_server(results: dict[str, CellResult]) -> None:
    """Behind `restrict default kod notrap nomodify nopeer noquery limited` the ntpd-py client reaches full flags
    without a single kiss (test_full_flags_and_selected checks KoD = 0), and no later than the reference
    client against the same server with the same polls, in the same run."""
    ours, reference = results[PRODUCTION_PY], results[PRODUCTION_REF]
    assert ours.full_at is not None and reference.full_at is not None, (ours.explain(), reference.explain())
    assert ours.full_at <= reference.full_at, (ours.full_at, reference.full_at)
