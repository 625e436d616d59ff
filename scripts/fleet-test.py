#!/usr/bin/env python3
"""Run `molecule test -s fleet` and time its steps.

    scripts/fleet-test.py [--timeout SECONDS] [-- extra molecule arguments]

Passes molecule's output through unchanged, notes when each molecule action ("INFO [fleet > converge]
Executing") and each side-effect step (plays named "FLEET STEP <name>") begins, and ends with a table of
seconds per step and the rc. The whole run is bounded (default 900 s): on timeout molecule's process group is
stopped and `molecule destroy -s fleet` removes the hosts. Exit status: molecule's.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ACTION = re.compile(r"\[fleet > ([a-z_]+)\] Executing")
STEP = re.compile(r"^PLAY \[FLEET STEP ([a-z_]+)\]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("molecule_args", nargs="*")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    env["PATH"] = f"{repo / '.venv' / 'bin'}:{env.get('PATH', '')}"
    cmd = ["molecule", "test", "-s", "fleet", *args.molecule_args]
    start = time.monotonic()
    marks: list[tuple[str, float]] = []
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, start_new_session=True)

    def on_timeout(_signum: int, _frame: object) -> None:
        print(f"\nfleet-test: no result after {args.timeout:.0f} s: stopping molecule (pid {proc.pid})", flush=True)
        os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGALRM, on_timeout)
    signal.alarm(int(args.timeout))
    assert proc.stdout is not None
    side_effect = False
    for line in proc.stdout:
        sys.stdout.write(line)
        now = time.monotonic() - start
        if m := ACTION.search(line):
            side_effect = m.group(1) == "side_effect"
            marks.append((m.group(1), now))
        elif side_effect and (m := STEP.search(line)):
            marks.append((f"side_effect: {m.group(1)}", now))
    rc = proc.wait()
    signal.alarm(0)
    total = time.monotonic() - start
    if rc != 0 and any(name == "create" for name, _ in marks):
        subprocess.run(["molecule", "destroy", "-s", "fleet"], cwd=repo, env=env, timeout=120, check=False)

    print("\nfleet scenario, seconds per step (molecule test -s fleet)")
    print(f"{'STEP':<24} {'SECONDS':>8}")
    ends = [t for _, t in marks[1:]] + [total]
    for (name, begun), ended in zip(marks, ends):
        if name in ("side_effect", "side_effect: end", "dependency", "prepare", "cleanup"):
            continue
        print(f"{name:<24} {ended - begun:>8.1f}")
    print(f"{'total':<24} {total:>8.1f}")
    print(f"rc {rc}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
