#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Install a received key file (identity parameters, leap seconds) into a keys directory under its standard link."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ntp_key_install
short_description: Install a received Autokey file into a keys directory, with its standard link
version_added: 0.1.0
author:
  - ntpd-py developers (@ntpd-py)
description:
  - Puts a file that a trusted authority exported (the client identity parameters C(ntpkey_iffpar_GR1.<filestamp>),
    C(ntpkey_gqpar_*), C(ntpkey_mvpar_*)) or a NIST leap-seconds file into a keys directory, and points the link
    by which ntpd finds it (C(ntpkey_iffpar_GR1), C(ntpkey_leap)) at it, as an administrator does by hand after
    copying the export.
  - Idempotent, nothing changes when the file already holds the same bytes and the link already points at it.
    Older generations stay in place, as ntp-keygen leaves them.
  - Writes are atomic (temporary file and rename); a link is replaced atomically too. Both go through ntpd_py's
    key file layer, as the daemon's own ntp-keygen writes them.
extends_documentation_fragment:
  - ansible.builtin.files
  - autokey.ntp.ntp
  - autokey.ntp.ntp.attributes
options:
  content:
    description:
      - The file's content, for example from the P(autokey.ntp.ntp_identity#lookup) lookup or the RV(autokey.ntp.ntp_identity_export#module:content)
        return value of M(autokey.ntp.ntp_identity_export). Never logged.
      - Exactly one of O(content) and O(src) is required.
    type: str
  src:
    description:
      - A file on the managed host to install instead of O(content).
    type: path
  filename:
    description:
      - The name of the file in O(keysdir).
      - Defaults to the name in the file's first header line (C(# ntpkey_iffpar_GR1.4004323481), as ntp-keygen
        writes it), then to the base name of O(src); for O(kind=leap) to C(leap-seconds.list).
    type: str
  link_name:
    description:
      - The name of the link in O(keysdir) that points at O(filename).
      - Defaults to O(filename) without its C(.<filestamp>) suffix for O(kind=identity), and to C(ntpkey_leap)
        for O(kind=leap).
    type: str
  kind:
    description:
      - What the file is; decides the checks made on the content and the defaults of O(link_name) and O(mode).
      - V(identity) must hold a PEM block; V(leap) must be a NIST leap-seconds list (data lines and an C(#@) expiry line).
    type: str
    choices: [identity, leap]
    default: identity
  mode:
    description:
      - The permissions of the installed file. Defaults to V(0600) for O(kind=identity) and V(0644) for O(kind=leap).
    type: raw
  validate:
    description:
      - Load client identity parameters (C(ntpkey_iffpar_*), C(ntpkey_gqpar_*), C(ntpkey_mvpar_*)) with ntpd_py
        before installing them, and refuse values that cannot work, such as stock ntp-keygen's PKCS#8 IFF and MV
        exports, which lost the public value and never verify.
      - With V(false) only the shape of the content is checked.
    type: bool
    default: true
requirements:
  - ntpd_py (the ntpd-py package, installed on the managed host by the M(autokey.ntp.ntpd_py) role; run the task
    with that virtual environment's interpreter)
notes:
  - O(validate) checks the values as the daemon will load them.
seealso:
  - module: autokey.ntp.ntp_identity_export
  - plugin: autokey.ntp.ntp_identity
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Install the IFF parameters of group GR1 that its trusted authority published (fetched to ./publish)
  autokey.ntp.ntp_key_install:
    keysdir: /etc/ntp/keys
    content: "{{ lookup('autokey.ntp.ntp_identity', 'GR1', publish_dir=playbook_dir ~ '/publish', scheme='iff').content }}"
    owner: root
    mode: "0600"
  no_log: true

- name: Install the leap-seconds file and its ntpkey_leap link
  autokey.ntp.ntp_key_install:
    keysdir: /etc/ntp/keys
    src: /usr/share/zoneinfo/leap-seconds.list
    kind: leap
"""

RETURN = r"""
path:
  description: The full path of the installed file.
  returned: success
  type: str
  sample: /etc/ntp/keys/ntpkey_iffpar_GR1.4004323481
link:
  description: The full path of the link that points at RV(path).
  returned: success
  type: str
  sample: /etc/ntp/keys/ntpkey_iffpar_GR1
filename:
  description: The name of the installed file.
  returned: success
  type: str
  sample: ntpkey_iffpar_GR1.4004323481
link_name:
  description: The name of the link.
  returned: success
  type: str
  sample: ntpkey_iffpar_GR1
filestamp:
  description: The filestamp (NTP seconds) in the file name, when it has one.
  returned: success
  type: int
  sample: 4004323481
"""

import hashlib
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.autokey.ntp.plugins.module_utils import ntpd_py_import as ntpd
from ansible_collections.autokey.ntp.plugins.module_utils.ntpd_py_import import check_ntpd_py

DEFAULT_LINK = {"leap": "ntpkey_leap"}
CLIENT_PARAMETERS = re.compile(r"^ntpkey_(iff|gq|mv)par_", re.IGNORECASE)
DEFAULT_MODE = {"identity": 0o600, "leap": 0o644}


def load_data(module) -> tuple[bytes, str]:
    """The bytes to install and a name for them in messages (the src path, or 'content')."""
    if module.params["src"] is not None:
        src = module.params["src"]
        try:
            with open(src, "rb") as handle:
                return handle.read(), src
        except OSError as exc:
            module.fail_json(msg="cannot read src %s: %s" % (src, to_native(exc.strerror or exc)))
    return to_bytes(module.params["content"], errors="surrogate_or_strict"), "content"


def check_shape(kind: str, data: bytes, origin: str) -> str | None:
    """A message when the data is plainly not what kind says, else None."""
    text = to_text(data, errors="surrogate_or_replace")
    if not text.strip():
        return "%s is empty" % origin
    if kind == "identity":
        if "-----BEGIN " not in text or "-----END " not in text:
            return "%s holds no PEM block: not identity parameters as ntp-keygen -e writes them" % origin
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        data_lines = [line for line in lines if not line.startswith("#") and line.split()[0].isdigit()]
        if not data_lines:
            return "%s holds no leap-second lines: not a NIST leap-seconds list" % origin
        if not any(line.startswith("#@") for line in lines):
            return "%s has no '#@' expiry line: not a NIST leap-seconds list" % origin
    return None


def choose_names(module, data: bytes, origin: str) -> tuple[str, str]:
    """(filename, link_name) from the options, the header line and the kind."""
    kind = module.params["kind"]
    filename = module.params["filename"]
    if not filename and kind == "identity":
        filename = ntpd.key_files.header_file_name(to_text(data, errors="surrogate_or_replace"))
    if not filename and module.params["src"]:
        filename = os.path.basename(module.params["src"])
    if not filename and kind == "leap":
        filename = "leap-seconds.list"
    if not filename:
        module.fail_json(msg="filename is required: %s has no '# ntpkey_...' header line to take it from" % origin)
    link_name = module.params["link_name"] or DEFAULT_LINK.get(kind)
    if not link_name:
        parts = ntpd.key_files.parse_file_name(filename)
        if parts is None:
            module.fail_json(msg="link_name is required: filename %s is not of the form ntpkey_<type>_<name>.<filestamp>"
                             % filename)
        kind, owner, _filestamp = parts
        link_name = ntpd.key_files.link_name(kind, owner)
    for option, value in (("filename", filename), ("link_name", link_name)):
        if "/" in value or value in (".", ".."):
            module.fail_json(msg="%s must be a plain file name inside keysdir, not %r" % (option, value))
    if filename == link_name:
        module.fail_json(msg="filename and link_name are both %s: the link would point at itself" % filename)
    return filename, link_name


def check_values(data: bytes, filename: str, link_name: str, origin: str) -> str | None:
    """Load client identity parameters with ntpd_py, as the daemon will; a message naming the file if they fail."""
    match = CLIENT_PARAMETERS.match(link_name) or CLIENT_PARAMETERS.match(filename)
    if match is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ntp-key-install-") as directory:
        path = os.path.join(directory, filename)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            ntpd.key_store.load_identity_file(path, match.group(1).lower(), False, None)
        except ntpd.key_files.KeyFileError as exc:
            return "%s (from %s) is refused: %s" % (filename, origin, exc.reason)
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            keysdir=dict(type="path", required=True),
            content=dict(type="str", no_log=True),
            src=dict(type="path"),
            filename=dict(type="str"),
            link_name=dict(type="str"),
            kind=dict(type="str", choices=["identity", "leap"], default="identity"),
            validate=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("content", "src")],
        required_one_of=[("content", "src")],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    check_ntpd_py(module)
    keysdir = module.params["keysdir"]
    data, origin = load_data(module)
    problem = check_shape(module.params["kind"], data, origin)
    if problem:
        module.fail_json(msg=problem)
    filename, link_name = choose_names(module, data, origin)
    if module.params["validate"] and module.params["kind"] == "identity":
        problem = check_values(data, filename, link_name, origin)
        if problem:
            module.fail_json(msg=problem)
    path = os.path.join(keysdir, filename)
    link = os.path.join(keysdir, link_name)

    if os.path.lexists(link) and not os.path.islink(link):
        module.fail_json(msg="%s exists and is not a link: remove it or choose another link_name" % link)
    if os.path.lexists(path) and not os.path.isfile(path):
        module.fail_json(msg="%s exists and is not a regular file" % path)

    # Hashes, not contents, in the diff: the files are secret.
    before = {"keysdir_exists": os.path.isdir(keysdir), "sha256": module.sha256(path),
              "link": ntpd.key_files.link_target(link)}
    after = {"keysdir_exists": True, "sha256": hashlib.sha256(data).hexdigest(), "link": filename}
    changed = before != after

    if changed and not module.check_mode:
        try:
            if not before["keysdir_exists"]:
                os.makedirs(keysdir, 0o755)
            if before["sha256"] != after["sha256"]:
                ntpd.key_files.atomic_write(path, data, DEFAULT_MODE[module.params["kind"]])
            if before["link"] != filename:
                ntpd.key_files.atomic_symlink(filename, link)
        except OSError as exc:
            module.fail_json(msg="cannot install %s: %s" % (exc.filename or path, to_native(exc.strerror or exc)))
        except ntpd.key_files.KeyFileError as exc:
            module.fail_json(msg="cannot install %s" % to_native(exc))

    if module.params["mode"] is None:
        module.params["mode"] = "%04o" % DEFAULT_MODE[module.params["kind"]]
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params, path=path)
        changed = module.set_fs_attributes_if_different(file_args, changed)

    parts = ntpd.key_files.parse_file_name(filename)
    module.exit_json(
        changed=changed,
        path=path,
        link=link,
        filename=filename,
        link_name=link_name,
        filestamp=parts[2] if parts else None,
        diff={"before": before, "after": after, "before_header": path, "after_header": path},
    )


if __name__ == "__main__":
    main()
