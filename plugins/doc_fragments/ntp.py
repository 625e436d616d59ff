# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Option and attribute documentation shared by the autokey.ntp modules."""

from __future__ import annotations


class ModuleDocFragment:
    """Shared documentation: the keys directory, its password, and check/diff-mode attributes."""

    # The keys directory, ntp-keygen's working directory.
    DOCUMENTATION = r"""
options:
  keysdir:
    description:
      - The keys directory on the managed host (ntpd's C(keysdir), ntp-keygen's working directory).
      - Files are named C(ntpkey_<type>_<name>.<filestamp>) and found by ntpd through links such as C(ntpkey_host_<host>).
    type: path
    required: true
seealso:
  - name: RFC 5906, Network Time Protocol Version 4 Autokey Specification
    description: The protocol whose key material these modules manage.
    link: https://www.rfc-editor.org/rfc/rfc5906
"""

    # The password of a keys directory's private files.
    PASSWORD = r"""
options:
  password:
    description:
      - The password that encrypts (and decrypts) the private files of this keys directory, ntp-keygen's C(-p)
        and ntpd's C(crypto pw).
      - Never logged.
    type: str
requirements:
  - ntpd_py (the ntpd-py package, installed on the managed host by the M(autokey.ntp.ntpd_py) role; run the task
    with that virtual environment's interpreter)
"""

    # Ownership and modes of the files a module writes, where `group` means something else (the trust group).
    FILES = r"""
options:
  mode:
    description:
      - The permissions of the files, as for M(ansible.builtin.file) (for example V("0600") or V(u=rw,g=r,o=)).
    type: raw
  owner:
    description:
      - The user that should own the files.
    type: str
  file_group:
    description:
      - The group that should own the files (the common file argument C(group) under another name).
    type: str
  seuser:
    description:
      - The user part of the files' SELinux context.
    type: str
  serole:
    description:
      - The role part of the files' SELinux context.
    type: str
  setype:
    description:
      - The type part of the files' SELinux context.
    type: str
  selevel:
    description:
      - The level part of the files' SELinux context.
    type: str
"""

    # A module that changes files: full check and diff mode.
    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    # A module that only reads.
    ATTRIBUTES_READ_ONLY = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads; it behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The module never changes anything.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""
