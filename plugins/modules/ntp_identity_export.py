#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Export a trust group's client identity parameters from its trusted authority, for distribution."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ntp_identity_export
short_description: Export a trust group's client identity parameters (IFF, GQ, or MV client key N)
version_added: 0.1.0
author:
  - ntpd-py developers (@ntpd-py)
description:
  - Reads the group key of a trust group on its trusted authority (C(ntpkey_iffkey_*), C(ntpkey_gqkey_*),
    C(ntpkey_mvkey_*)) and returns the parameters its members need, as C(ntp-keygen -e) (IFF, GQ) or the MV client
    key N (C(ntpkey_mvpar_<group>)) does, for M(autokey.ntp.ntp_key_install) to install on each member.
  - IFF and MV client parameters are written in the traditional DSA form, which keeps the public value that the
    PKCS#8 form of stock ntp-keygen loses (with which identity never verifies).
  - Without O(dest) it only reads; nothing changes on the host. With O(dest) it writes the exported files into that
    directory on the host, for M(ansible.builtin.fetch) to carry them to the controller byte for byte.
  - Ansible masks the value of every C(no_log) option (O(password), O(export_password)) wherever it occurs in a
    module's returned strings, with C(********). A short password easily occurs in the PEM (base64) text of an
    export, so a returned export could come back silently corrupted. This module therefore never returns a string
    that contains one of its passwords (RV(withheld) names those left out, with a warning), and without O(dest) it
    fails when the export itself would be withheld. Use O(dest) and M(ansible.builtin.fetch) to transfer exports;
    that path never goes through a module result and works with any password.
  - The returned content is secret for the group; set C(no_log) on the task, as the example does.
extends_documentation_fragment:
  - autokey.ntp.ntp
  - autokey.ntp.ntp.password
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: With O(dest), reports whether the files would be written, and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  group:
    description:
      - The trust group (ntp-keygen's C(-i), ntpd's C(ident)). Defaults to O(host).
    type: str
    aliases: [trust_group]
  host:
    description:
      - The trusted authority's host name, the name in its links. Defaults to the managed host's name.
    type: str
  scheme:
    description:
      - The identity scheme.
    type: str
    choices: [iff, gq, mv]
    required: true
  password:
    description:
      - The trusted authority's password (ntp-keygen's C(-p)), which decrypts the group key. Never logged.
      - Must not be empty (leave it out to use ntp-keygen's default, the host name).
  dest:
    description:
      - A directory on the managed host to write the exported files into (created with mode 0700 if missing);
        the client parameters under RV(filename) and, with O(export_password), the server key under
        RV(server_key_filename); both mode 0600, each written atomically.
      - A file already there with the same name and the same keys (the encrypted server key compared after
        decrypting it with O(export_password)) is left alone, so re-running changes nothing until the group key
        changes.
      - Fetch the files with M(ansible.builtin.fetch) (find them with M(ansible.builtin.find) rather than taking
        their names from this module's result, which Ansible masks when a password occurs in them).
    type: path
  export_password:
    description:
      - Also export the group's server key (C(ntpkey_<scheme>key_<group>)) encrypted with this password, for
        another server of the trust group, as C(ntp-keygen -e -q PW) does in 4.2.8; returned in
        RV(server_key_content) (and written to O(dest)). Never logged; must not be empty.
      - The client parameters themselves are always exported unencrypted, as 4.2.8 clients read them.
    type: str
  mv_client:
    description:
      - With O(scheme=mv), the number of the client key to export (1 to the number of MV keys minus one).
    type: int
    default: 1
seealso:
  - module: autokey.ntp.ntp_keygen
  - module: autokey.ntp.ntp_key_install
  - plugin: autokey.ntp.ntp_identity
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Export GR1's IFF parameters on its trusted authority
  autokey.ntp.ntp_identity_export:
    keysdir: /etc/ntp/keys
    host: alice
    group: GR1
    scheme: iff
    password: "{{ vault_gr1_server_password }}"
    dest: /var/lib/ntpd-py/exports/GR1
  no_log: true

- name: Find the exported client parameters
  ansible.builtin.find:
    paths: /var/lib/ntpd-py/exports/GR1
    patterns: "ntpkey_iffpar_GR1.*"
  register: gr1_exported

- name: Fetch them to the controller, byte for byte
  ansible.builtin.fetch:
    src: "{{ item.path }}"
    dest: "{{ playbook_dir }}/publish/GR1/"
    flat: true
  loop: "{{ gr1_exported.files }}"

# On each member: autokey.ntp.ntp_key_install with content from lookup('autokey.ntp.ntp_identity', 'GR1',
# publish_dir=playbook_dir ~ '/publish/GR1', scheme='iff').

- name: Without dest, the export comes back in the result (only when no password occurs in it)
  autokey.ntp.ntp_identity_export:
    keysdir: /etc/ntp/keys
    host: alice
    group: GR1
    scheme: iff
    password: "{{ vault_gr1_server_password }}"
  register: gr1_iff_export
  no_log: true
"""

RETURN = r"""
changed:
  description: Whether a file was written to O(dest) (always false without O(dest)).
  returned: always
  type: bool
content:
  description:
    - The client parameters file, header lines included.
    - Left out (and named in RV(withheld)) when O(password) or O(export_password) occurs in it, as Ansible would
      mask it there; without O(dest) the module fails instead. Prefer O(dest) and M(ansible.builtin.fetch).
  returned: success, unless withheld
  type: str
path:
  description: Where the client parameters were written on the host.
  returned: when O(dest) is given, unless withheld
  type: str
  sample: /var/lib/ntpd-py/exports/GR1/ntpkey_iffpar_GR1.4004323481
server_key_path:
  description: Where the encrypted server key was written on the host.
  returned: when O(dest) and O(export_password) are given, unless withheld
  type: str
withheld:
  description:
    - The names of the return values left out because a password occurs in them (Ansible would have masked it).
  returned: when any
  type: list
  elements: str
  sample: [content]
server_key_content:
  description: The group's server key encrypted with O(export_password), header lines included.
  returned: when O(export_password) is given, unless withheld
  type: str
server_key_filename:
  description: The name of the server key file.
  returned: when O(export_password) is given, unless withheld
  type: str
  sample: ntpkey_IFFkey_GR1.4004323481
filename:
  description: The name to install the file under.
  returned: success, unless withheld
  type: str
  sample: ntpkey_iffpar_GR1.4004323481
link_name:
  description: The link by which ntpd finds the file on a member.
  returned: success, unless withheld
  type: str
  sample: ntpkey_iffpar_GR1
filestamp:
  description: The filestamp of the group key the parameters come from.
  returned: success, unless withheld
  type: int
  sample: 4004323481
"""

import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.autokey.ntp.plugins.module_utils.module_backends.identity_export import (
    ExportError,
    IdentityExportBackend,
)
from ansible_collections.autokey.ntp.plugins.module_utils.ntpd_py_import import check_ntpd_py

RETURNED = ("content", "filename", "link_name", "filestamp", "path", "server_key_content", "server_key_filename",
            "server_key_path")


def withhold_masked(module: AnsibleModule, result: dict, names: tuple[str, ...]) -> list[str]:
    """Leave out the return values Ansible would mask (a no_log value occurs in them); returns their names."""
    secrets = [value for value in module.no_log_values if value]
    withheld = []
    for name in names:
        value = result.get(name)
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if any(secret in text for secret in secrets):
            del result[name]
            withheld.append(name)
    return withheld


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            keysdir=dict(type="path", required=True),
            group=dict(type="str", aliases=["trust_group"]),
            host=dict(type="str"),
            scheme=dict(type="str", choices=["iff", "gq", "mv"], required=True),
            password=dict(type="str", no_log=True),
            export_password=dict(type="str", no_log=True),
            mv_client=dict(type="int", default=1),
            dest=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    check_ntpd_py(module)
    params = module.params
    for option in ("password", "export_password"):
        if params[option] is not None and params[option] == "":
            module.fail_json(msg="%s is empty: give a non-empty password (or leave password out to use the host "
                                 "name, as ntp-keygen does)" % option)
    params["host"] = params["host"] or socket.gethostname()
    params["group"] = params["group"] or params["host"]
    scheme = params["scheme"]
    if params["mv_client"] < 1:
        module.fail_json(msg="mv_client must be 1 or more, not %d" % params["mv_client"])
    if not os.path.isdir(params["keysdir"]):
        module.fail_json(msg="keysdir %s does not exist" % params["keysdir"])
    dest = params["dest"]
    if dest is not None and os.path.exists(dest) and not os.path.isdir(dest):
        module.fail_json(msg="dest %s exists and is not a directory" % dest)
    backend = IdentityExportBackend(params)
    if not os.path.exists(backend.group_key_link()):
        module.fail_json(msg="no %s group key for trust group %s: %s does not exist (generate it with "
                             "autokey.ntp.ntp_keygen identity=%s on the trusted authority)"
                             % (scheme.upper(), params["group"], backend.group_key_link(), scheme))
    try:
        backend.generate()
        changed = backend.needs_regeneration()
        if changed and not module.check_mode:
            backend.write()
    except ExportError as exc:
        module.fail_json(msg=to_native(exc))
    result = dict(changed=changed, **backend.dump())
    withheld = withhold_masked(module, result, RETURNED)
    if withheld:
        if dest is None and {"content", "filename", "server_key_content"} & set(withheld):
            module.fail_json(msg="a password occurs in the exported %s parameters of %s (%s), and Ansible masks "
                                 "passwords in module results, which would corrupt them: give dest and fetch the "
                                 "written file with ansible.builtin.fetch instead"
                             % (scheme.upper(), params["group"], ", ".join(withheld)))
        result["withheld"] = withheld
        module.warn("left out of the result because a password occurs in them (Ansible would mask it): %s%s"
                    % (", ".join(withheld), "; the files in dest are complete" if dest is not None else ""))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
