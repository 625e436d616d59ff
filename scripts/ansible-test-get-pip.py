"""Offline stand-in for pip's get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs its bootstrap script with pip's install arguments (`pip==24.2 --no-setuptools ...`) inside a new
virtual environment; this puts the pip bundled with Python there (ensurepip), then installs what was asked from PyPI.
scripts/ansible-test.sh copies it to ~/.ansible/test/cache/get_pip_<version>.py when that file is missing.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    # In a child process: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, which would hide the
    # machine's pip configuration (index, certificates) from the install below.
    status = subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"])
    if status:
        return status
    return subprocess.call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    sys.exit(main())
