# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""The collection's one dependency check: every ntpd_py import of the modules and backends happens here.

Modules import ntpd_py (the daemon's package) on the managed host, as community.crypto's modules import
cryptography, instead of carrying a second copy of its logic. A failed import becomes one instruction, given by
`check_ntpd_py(module)`; the backends use the names below only after that check passed.
"""

from __future__ import annotations

import sys
import traceback

NTPD_PY_ROLE = "autokey.ntp.ntpd_py"

# Re-exported for the backends and modules (imported once, here).
__all__ = ["IMPORT_ERROR", "NTPD_PY_ROLE", "autokey_errors", "autokey_flags", "check_ntpd_py", "control_client",
           "fail_if_missing", "key_cert", "key_files", "key_pem", "key_store", "keygen", "missing_ntpd_py_message",
           "symmetric"]

try:
    from ntpd_py.autokey import errors as autokey_errors
    from ntpd_py.autokey import flags as autokey_flags
    from ntpd_py.control import client as control_client
    from ntpd_py.keys import cert as key_cert
    from ntpd_py.keys import files as key_files
    from ntpd_py.keys import keygen
    from ntpd_py.keys import pem as key_pem
    from ntpd_py.keys import store as key_store
    from ntpd_py.symkeys import generate as symmetric
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
    autokey_errors = autokey_flags = control_client = key_cert = key_files = keygen = key_pem = key_store = None
    symmetric = None
else:
    IMPORT_ERROR = None


def missing_ntpd_py_message(import_error: str) -> str:
    """Explain which Python lacked ntpd_py and how to get it there."""
    last_line = import_error.strip().splitlines()[-1] if import_error.strip() else "ImportError"
    return (
        "ntpd_py is not installed on this host: run the %s role first, and run this task with "
        "ansible_python_interpreter set to the python of its virtual environment (ntpd_py_venv). "
        "Python used: %s. Import error: %s" % (NTPD_PY_ROLE, sys.executable, last_line)
    )


def check_ntpd_py(module) -> None:
    """Fail the module with missing_ntpd_py_message when ntpd_py could not be imported."""
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_ntpd_py_message(IMPORT_ERROR), exception=IMPORT_ERROR)


def fail_if_missing(module, import_error: str | None = None) -> None:
    """Older name of check_ntpd_py (kept for playbooks' own modules that imported it)."""
    if import_error is not None:
        module.fail_json(msg=missing_ntpd_py_message(import_error), exception=import_error)
    check_ntpd_py(module)
