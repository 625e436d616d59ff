# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""The one message every module gives when ntpd_py cannot be imported on the managed host.

Modules import ntpd_py (the daemon's package) on the host, as community.crypto's modules import cryptography,
instead of carrying a second copy of its logic; this turns a failed import into an instruction.
"""

from __future__ import annotations

import sys

NTPD_PY_ROLE = "autokey.ntp.ntpd_py"


def missing_ntpd_py_message(import_error: str) -> str:
    """Explain which Python lacked ntpd_py and how to get it there."""
    last_line = import_error.strip().splitlines()[-1] if import_error.strip() else "ImportError"
    return (
        "ntpd_py is not installed on this host: run the %s role first, and run this task with "
        "ansible_python_interpreter set to the python of its virtual environment (ntpd_py_venv). "
        "Python used: %s. Import error: %s" % (NTPD_PY_ROLE, sys.executable, last_line)
    )


def fail_if_missing(module, import_error: str | None) -> None:
    """Fail the module with missing_ntpd_py_message when the guarded import failed."""
    if import_error is not None:
        module.fail_json(msg=missing_ntpd_py_message(import_error), exception=import_error)
