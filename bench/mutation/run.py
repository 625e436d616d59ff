#!/usr/bin/env python3
"""Mutation testing of ntpd_py's wire/, autokey/ and engine/ packages with mutmut 3, one package at a time.

Not part of `make test` (too slow for CI): run by hand, e.g.

    flock /tmp/ntpd-py-heavy.lock .venv/bin/python bench/mutation/run.py wire autokey engine

Each package is mutated in its own scratch copy of the checkout (.mutation/<package>/, mutmut's results are
cached there, so a second run only tests what changed), against a fast selection of the tests that exercise it
(mutmut then runs, for each mutant, only the tests that call the mutated function).  Every run is bounded
(`--budget` seconds per package); mutants not reached are reported as "not checked".  The table printed at
the end (and written to .mutation/<package>/survivors.txt) is what tests/README.md quotes.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
VECTORS = Path(os.environ.get("NTPD_PY_VECTORS", ROOT.parent / "shared" / "vectors")).resolve()

FAST = "not slow and not interop"
# Pure (sans-IO) tests only: a daemon in a subprocess never sees mutmut's mutants, and live daemons' timing makes
# survivors slow to confirm.  Each package's NEW mutant-killing tests are named here from the start: changing a
# selection makes mutmut forget every cached result.
AUTOKEY_PURE = ["tests/autokey/test_autokey_" + name + ".py" for name in (
    "broadcast", "exchange", "fuzz", "hardening", "leapfile", "reload_trail", "replay", "schemes", "session",
    "signed_requests", "steps", "symmetric", "wire", "setup")]  # not "pure": it reads the (rewritten) source
SELECTIONS: dict[str, list[str]] = {
    "wire": ["tests/core/test_core_packet.py", "tests/autokey/test_autokey_wire.py", "tests/control/test_control_wire.py",
             "tests/core/test_core_vectors.py"],
    "autokey": AUTOKEY_PURE + ["tests/autokey/test_mutants_autokey.py", "-m", FAST],
    "engine": ["tests/core/test_core_engine.py", "tests/core/test_core_mru.py", "tests/core/test_core_closed_loop.py",
               "tests/core/test_core_loglimit.py", "tests/core/test_core_pacing.py", "tests/core/test_core_fuzz.py",
               "tests/core/test_core_fastpath.py", "tests/core/test_core_discipline_wiring.py",
               "tests/core/test_core_limiter.py", "tests/core/test_core_xmt_stamp.py",
               "tests/control/test_control_responder.py", "tests/core/test_mutants_engine.py"]
              + [t for t in AUTOKEY_PURE if t.rsplit("_", 1)[-1] in (
                  "broadcast.py", "exchange.py", "hardening.py", "replay.py", "requests.py", "symmetric.py")]
              + ["-m", FAST,
                 "--deselect", "tests/core/test_core_limiter.py::test_live_daemon_kisses_a_flood_once",
                 "--deselect",
                 "tests/core/test_core_xmt_stamp.py::test_chrony_ntpdata_sees_a_response_time_for_a_maced_reply"],
}
# code that is not worth a mutant: log text, __repr__, docstrings are skipped by mutmut itself
DO_NOT_MUTATE = ["*/__init__.py"]


def prepare(package: str, keep_sources: bool = False) -> Path:
    """The scratch copy of ntpd_py and tests for `package`. With `keep_sources` an existing copy's ntpd_py stays
    as it is (only tests are refreshed): mutmut keys its cached results to the sources, so a recheck after the
    checkout's sources moved on would otherwise start over."""
    work = ROOT / ".mutation" / package
    work.mkdir(parents=True, exist_ok=True)
    for name in ("ntpd_py", "tests"):
        target = work / name
        if name == "ntpd_py" and keep_sources and target.exists():
            continue
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    selection = [s for s in SELECTIONS[package] if not s.startswith("tests/") or (ROOT / s.split("::")[0]).exists()]
    config = {
        "source_paths": ["ntpd_py/"],
        "only_mutate": [f"ntpd_py/{package}/*"],
        "do_not_mutate": DO_NOT_MUTATE,
        "pytest_add_cli_args_test_selection": selection,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"],
        "timeout_multiplier": 5.0,
        "use_git_change_detection": False,
        # a fresh process per mutant batch: "fork" (the default) forks from the process that ran the suite, whose
        # caches (lru_cache'd key material, signed values) hide mutants: it reported survivors that a fresh run kills
        "process_isolation": "forkserver",
    }
    lines = ["[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    pyproject = (ROOT / "pyproject.toml").read_text()
    pyproject = re.sub(r"\n\[tool\.mutmut\][^\[]*", "\n", pyproject)
    (work / "pyproject.toml").write_text(pyproject + "\n" + "\n".join(lines) + "\n")
    return work


def mutmut_results(work: Path, env: dict[str, str]) -> dict[str, list[str]]:
    out = subprocess.run([str(VENV_BIN / "mutmut"), "results", "--all", "true"], cwd=work, env=env,
                         capture_output=True, text=True).stdout
    by_status: dict[str, list[str]] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            by_status.setdefault(m.group(2).strip(), []).append(m.group(1))
    return by_status


def run(package: str, budget: float, children: int, niceness: int, recheck: list[str] | None,
        keep_sources: bool = False) -> dict[str, list[str]]:
    """One mutmut run over `package`, resumed from the scratch copy's cached results when the code is unchanged.

    With `recheck` (a list of fnmatch patterns, [] for all), only the mutants that survived last time and match
    are run again (after new tests were written); `keep_sources` as in `prepare`."""
    work = prepare(package, keep_sources)
    env = dict(os.environ, NTPD_PY_VECTORS=str(VECTORS), PYTHONDONTWRITEBYTECODE="1")
    names = []
    if recheck is not None:
        names = [n for n in mutmut_results(work, env).get("survived", [])
                 if not recheck or any(fnmatch.fnmatch(n, pattern) for pattern in recheck)]
        if not names:
            print(f"[mutation] {package}: no survivor to check again")
            by_status = mutmut_results(work, env)
            by_status["_elapsed"] = ["0"]
            return by_status
    started = time.monotonic()
    # own session: on budget expiry the whole group (mutmut, its fork server and workers) is stopped, not only mutmut
    proc = subprocess.Popen([str(VENV_BIN / "mutmut"), "run", "--max-children", str(children), *names], cwd=work,
                            env=env, stdout=(work / "mutmut.out").open("w"), stderr=(work / "mutmut.log").open("w"),
                            start_new_session=True, preexec_fn=(lambda: os.nice(niceness)) if niceness else None)
    try:
        proc.wait(timeout=budget or None)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        print(f"[mutation] {package}: budget of {budget:.0f} s spent; unchecked mutants stay 'not checked'")
    elapsed = time.monotonic() - started
    by_status = mutmut_results(work, env)
    (work / "survivors.txt").write_text("\n".join(sorted(by_status.get("survived", []))) + "\n")
    by_status["_elapsed"] = [f"{elapsed:.0f}"]
    return by_status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packages", nargs="*", default=["wire", "autokey", "engine"], choices=sorted(SELECTIONS))
    ap.add_argument("--budget", type=float, default=1500.0, help="seconds per package (default 1500; 0: no bound)")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--nice", type=int, default=0, help="niceness of mutmut and its workers (19 on a shared machine)")
    ap.add_argument("--recheck", nargs="*", metavar="PATTERN",
                    help="run only last run's survivors again (after new tests); with patterns, those that match")
    ap.add_argument("--keep-sources", action="store_true",
                    help="keep the scratch copy's ntpd_py (refresh tests only), so that a recheck keeps mutmut's "
                         "cached results after the checkout's sources changed; the new tests must pass on it")
    args = ap.parse_args(argv)
    rows = []
    for package in args.packages:
        res = run(package, args.budget, args.max_children, args.nice, args.recheck, args.keep_sources)
        killed = len(res.get("killed", [])) + len(res.get("timeout", []))
        survived = len(res.get("survived", []))
        unchecked = sum(len(v) for k, v in res.items() if k not in ("killed", "timeout", "survived", "_elapsed"))
        score = killed / (killed + survived) if killed + survived else 0.0
        rows.append((package, killed, survived, unchecked, score, res["_elapsed"][0]))
        for name in sorted(res.get("survived", [])):
            print(f"  survived {name}")
    print(f"\n{'package':<10}{'killed':>8}{'survived':>10}{'other':>8}{'score':>8}{'seconds':>9}")
    for package, killed, survived, unchecked, score, elapsed in rows:
        print(f"{package:<10}{killed:>8}{survived:>10}{unchecked:>8}{score:>8.1%}{elapsed:>9}")
    print("other = not checked within the budget, no tests, or skipped; details: .mutation/<package>/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
