"""The plugin unit tests import the collection as `ansible_collections.autokey.ntp`, and through it ntpd_py, under
both runners: `ansible-test units` (the collection is importable already; ntpd_py travels inside its tree) and
the project's main pytest run (this checkout, linked as autokey.ntp under .collections by scripts/bootstrap.sh,
the link made here when missing). pytest loads this file before the test modules beside it."""

from __future__ import annotations

import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if ROOT not in sys.path and os.path.isdir(os.path.join(ROOT, "ntpd_py")):
    sys.path.append(ROOT)  # the modules import ntpd_py from the collection's tree
try:
    importlib.import_module("ansible_collections.autokey.ntp.plugins")
except ImportError:  # the main pytest run
    COLLECTIONS = os.path.join(ROOT, ".collections")  # the collections_path of ansible.cfg
    LINK = os.path.join(COLLECTIONS, "ansible_collections", "autokey", "ntp")
    if not os.path.lexists(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink("../../..", LINK)
    sys.path.insert(0, COLLECTIONS)
