#!/usr/bin/env python3
"""Run tests against chosen mutants of a run.py scratch copy: did a new test kill them?

    .venv/bin/python bench/mutation/try_mutant.py autokey tests/autokey/test_mutants_autokey.py::test_x \\
        'ntpd_py.autokey.authenticator.xǁAutokeyAuthǁproven__mutmut_1' ...

The test file is copied into .mutation/<package>/mutants/tests/ and run there with MUTANT_UNDER_TEST set, which
is how mutmut itself activates a mutant; the clean run (no mutant) must pass.  Prints killed/SURVIVED per mutant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    package, test, *mutants = argv
    work = ROOT / ".mutation" / package / "mutants"
    source = test.split("::", 1)[0]
    shutil.copy2(ROOT / source, work / source)
    env = dict(os.environ, PYTHONPATH=str(work), PYTHONDONTWRITEBYTECODE="1",
               NTPD_PY_VECTORS=str((ROOT.parent / "shared" / "vectors").resolve()))
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test]
    status = 0
    for mutant in ["", *mutants]:
        run_env = dict(env, MUTANT_UNDER_TEST=mutant) if mutant else env
        rc = subprocess.run(cmd, cwd=work, env=run_env, capture_output=True, text=True).returncode
        if not mutant:
            print(f"clean run: {'passes' if rc == 0 else 'FAILS'}")
            if rc:
                return 1
            continue
        print(f"{'killed  ' if rc else 'SURVIVED'} {mutant}")
        status |= 0 if rc else 2
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
