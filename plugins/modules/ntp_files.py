#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Lay out a host's NTP directories and small files in one module run (a loop of file tasks and a template task
cost one Python start each per host; on a fleet run that changes nothing they were most of the time)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ntp_files
short_description: Lay out an NTP host's directories and files in one step
version_added: 0.1.0
author:
  - ntpd-py developers (@ntpd-py)
description:
  - Makes sure that every directory in O(directories) exists with its mode, then that every file in O(files) and
    O(private_files) holds its content with its mode, in one module run. The roles use it where they used a loop of
    M(ansible.builtin.file) tasks and a M(ansible.builtin.template) task (the content comes from the
    P(ansible.builtin.template#lookup) lookup), so that a run that changes nothing costs one module run per host.
  - Missing parent directories of a directory are created with the same mode, as M(ansible.builtin.file) does.
  - A file is replaced atomically (a temporary file in the same directory, validated with O(files[].validate) when
    given, then renamed); a file whose content is unchanged keeps its inode and only gets its mode set.
  - O(private_files) is for files that hold secrets (ntp.conf's C(crypto pw)) - their content is never logged and
    never shown in a diff, only that they changed.
extends_documentation_fragment:
  - autokey.ntp.ntp.attributes
options:
  directories:
    description:
      - The directories to create or keep, each with O(directory_mode).
    type: list
    elements: path
    default: []
  directory_mode:
    description: The permissions of O(directories), an octal string such as V("0755").
    type: str
    default: "0755"
  files:
    description:
      - Files whose content may be shown in a diff.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file. Its directory must exist (list it in O(directories)).
        type: path
        required: true
      content:
        description: What the file holds.
        type: str
        required: true
      mode:
        description: Its permissions, an octal string such as V("0644").
        type: str
        default: "0644"
      validate:
        description:
          - A command run on the new content before it replaces the file; C(%s) stands for the temporary file.
            The file is left as it was when the command fails. Not run in check mode.
        type: str
  private_files:
    description:
      - Files that hold secrets, with the same suboptions as O(files). Their content is never logged, and a diff
        names them without their text.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file. Its directory must exist (list it in O(directories)).
        type: path
        required: true
      content:
        description: What the file holds. Never logged.
        type: str
        required: true
      mode:
        description: Its permissions, an octal string such as V("0644").
        type: str
        default: "0644"
      validate:
        description:
          - A command run on the new content before it replaces the file; C(%s) stands for the temporary file.
            The file is left as it was when the command fails. Not run in check mode.
        type: str
seealso:
  - module: ansible.builtin.file
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: The directories ntp.conf names, and ntp.conf itself (it holds the crypto password)
  autokey.ntp.ntp_files:
    directories: [/etc/ntpd-py, /var/log/ntpd-py/stats, /var/lib/ntpd-py]
    private_files:
      - path: /etc/ntpd-py/ntp.conf
        content: "{{ lookup('ansible.builtin.template', 'ntp.conf.j2') }}"
        mode: "0600"
        validate: /opt/ntpd-py/bin/ntpd-py --check -c %s
"""

RETURN = r"""
directories:
  description: The directories created or whose mode was set.
  returned: always
  type: list
  elements: str
files:
  description: The files (of O(files) and O(private_files)) written or whose mode was set.
  returned: always
  type: list
  elements: str
"""

import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

FILE_OPTIONS = dict(
    path=dict(type="path", required=True),
    content=dict(type="str", required=True),
    mode=dict(type="str", default="0644"),
    validate=dict(type="str"),
)
PRIVATE_FILE_OPTIONS = dict(FILE_OPTIONS, content=dict(type="str", required=True, no_log=True))


def octal_mode(module: AnsibleModule, text: str) -> int:
    try:
        mode = int(text, 8)
    except (TypeError, ValueError):
        mode = -1
    if not 0 <= mode <= 0o7777:
        module.fail_json(msg="mode must be an octal string such as 0755, not %r" % (text,))
    return mode


def ensure_directory(module: AnsibleModule, path: str, mode: int, diffs: list) -> bool:
    """Create the directory (and its missing parents) with `mode`, or set the mode of an existing one."""
    path = path.rstrip("/") or "/"
    if os.path.lexists(path):
        if not os.path.isdir(path):
            module.fail_json(msg="%s exists and is not a directory" % path)
        current = stat.S_IMODE(os.stat(path).st_mode)
        if current == mode:
            return False
        diffs.append(dict(before_header=path, after_header=path, before="mode %04o\n" % current, after="mode %04o\n" % mode))
        if not module.check_mode:
            os.chmod(path, mode)
        return True
    missing = []
    walk = path
    while walk and not os.path.lexists(walk):
        missing.append(walk)
        walk = os.path.dirname(walk)
    if walk and not os.path.isdir(walk):
        module.fail_json(msg="cannot create %s: %s is not a directory" % (path, walk))
    diffs.append(dict(before_header=path, after_header=path, before="absent\n", after="directory, mode %04o\n" % mode))
    if not module.check_mode:
        for directory in reversed(missing):
            try:
                os.mkdir(directory)
            except FileExistsError:
                continue
            os.chmod(directory, mode)
    return True


def ensure_file(module: AnsibleModule, spec: dict, private: bool, diffs: list) -> bool:
    """Write the file atomically when its content differs (after validation), then set its mode."""
    path, mode = spec["path"], octal_mode(module, spec["mode"])
    wanted = to_bytes(spec["content"], errors="surrogate_or_strict")
    if os.path.lexists(path) and not os.path.isfile(path):
        module.fail_json(msg="%s exists and is not a regular file" % path)
    before = None
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            before = handle.read()
    content_changed = before != wanted
    current_mode = stat.S_IMODE(os.stat(path).st_mode) if before is not None else None
    if not content_changed and current_mode == mode:
        return False
    if private:
        diffs.append(dict(before_header=path, after_header=path,
                          before="(private content)\n" if before is not None else "absent\n",
                          after="(private content, %s), mode %04o\n" % ("changed" if content_changed else "unchanged", mode)))
    else:
        diffs.append(dict(before_header=path, after_header=path,
                          before=to_text(before, errors="surrogate_or_replace") if before is not None else "",
                          after=to_text(wanted, errors="surrogate_or_replace")))
    if module.check_mode:
        return True
    if not content_changed:
        os.chmod(path, mode)
        return True
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        module.fail_json(msg="cannot write %s: directory %s does not exist" % (path, directory))
    handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(wanted)
        os.chmod(temp, mode)
        if spec.get("validate"):
            if "%s" not in spec["validate"]:
                module.fail_json(msg="validate must contain %%s (the file to check): %s" % spec["validate"])
            rc, out, err = module.run_command(spec["validate"] % temp)
            if rc != 0:
                module.fail_json(msg="%s failed validation (%s, rc %d): %s" % (
                    path, spec["validate"] % path, rc, (to_native(err) or to_native(out)).strip()))
        module.atomic_move(temp, path)
        os.chmod(path, mode)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="path", default=[]),
            directory_mode=dict(type="str", default="0755"),
            files=dict(type="list", elements="dict", default=[], options=FILE_OPTIONS),
            private_files=dict(type="list", elements="dict", default=[], options=PRIVATE_FILE_OPTIONS),
        ),
        supports_check_mode=True,
    )
    diffs: list = []
    directory_mode = octal_mode(module, module.params["directory_mode"])
    directories = [path for path in module.params["directories"] if ensure_directory(module, path, directory_mode, diffs)]
    files = [spec["path"] for spec in module.params["files"] if ensure_file(module, spec, False, diffs)]
    files += [spec["path"] for spec in module.params["private_files"] if ensure_file(module, spec, True, diffs)]
    result = dict(changed=bool(directories or files), directories=directories, files=files)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
