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
  - Only reads; nothing changes on the host.
  - The returned content is secret for the group; set C(no_log) on the task, as the example does.
extends_documentation_fragment:
  - autokey.ntp.ntp
  - autokey.ntp.ntp.password
  - autokey.ntp.ntp.attributes_read_only
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
  export_password:
    description:
      - Also export the group's server key (C(ntpkey_<scheme>key_<group>)) encrypted with this password, for
        another server of the trust group, as C(ntp-keygen -e -q PW) does in 4.2.8; returned in
        RV(server_key_content). Never logged.
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
  register: gr1_export
  no_log: true

- name: Install them on every member of GR1
  autokey.ntp.ntp_key_install:
    keysdir: /etc/ntp/keys
    content: "{{ hostvars[groups['gr1_authority'][0]].gr1_export.content }}"
    filename: "{{ hostvars[groups['gr1_authority'][0]].gr1_export.filename }}"
"""

RETURN = r"""
content:
  description: The client parameters file, header lines included.
  returned: success
  type: str
server_key_content:
  description: The group's server key encrypted with O(export_password), header lines included.
  returned: when O(export_password) is given
  type: str
server_key_filename:
  description: The name of the server key file.
  returned: when O(export_password) is given
  type: str
  sample: ntpkey_IFFkey_GR1.4004323481
filename:
  description: The name to install the file under.
  returned: success
  type: str
  sample: ntpkey_iffpar_GR1.4004323481
link_name:
  description: The link by which ntpd finds the file on a member.
  returned: success
  type: str
  sample: ntpkey_iffpar_GR1
filestamp:
  description: The filestamp of the group key the parameters come from.
  returned: success
  type: int
  sample: 4004323481
"""

import os
import socket
import tempfile
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.autokey.ntp.plugins.module_utils.ntpd_py_import import fail_if_missing

try:
    from ntpd_py.keys import files as key_files
    from ntpd_py.keys import keygen
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

# ntp-keygen's file kinds: client parameters and the (re-encrypted) server key of each scheme.
CLIENT_KIND = {"iff": "iffpar", "gq": "gqpar", "mv": "mvpar"}
SERVER_KIND = {"iff": "iffkey", "gq": "gqkey", "mv": "mvkey"}


def export(params: dict, export_dir: str) -> dict[str, str]:
    """ntp-keygen -e (and -q) through ntpd_py into export_dir; returns file name -> content of what it wrote."""
    keygen.generate(keygen.KeygenOptions(
        host=params["host"],
        group=params["group"],
        password=params["password"],
        export=True,
        export_password=params["export_password"],
        mv_client=params["mv_client"] if params["scheme"] == "mv" else None,
        write_certificate=False,
        export_dir=export_dir,
    ), params["keysdir"], time.time())
    written = {}
    for name in os.listdir(export_dir):
        path = os.path.join(export_dir, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as handle:
                written[name] = to_text(handle.read())
    return written


def pick(written: dict[str, str], kind: str, group: str) -> tuple[str, str]:
    """(file name, content) of the newest ntpkey_<kind>_<group>.<filestamp> written; ("", "") if none."""
    wanted = key_files.link_name(kind, group).lower()
    best, best_filestamp = None, None
    for name in written:
        parts = key_files.parse_file_name(name)
        if parts is None or key_files.link_name(parts[0], parts[1]).lower() != wanted:
            continue
        if best is None or parts[2] > best_filestamp:
            best, best_filestamp = name, parts[2]
    return (best, written[best]) if best else ("", "")


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
        ),
        supports_check_mode=True,
    )
    fail_if_missing(module, IMPORT_ERROR)
    params = module.params
    params["host"] = params["host"] or socket.gethostname()
    params["group"] = params["group"] or params["host"]
    scheme = params["scheme"]
    if params["mv_client"] < 1:
        module.fail_json(msg="mv_client must be 1 or more, not %d" % params["mv_client"])
    if not os.path.isdir(params["keysdir"]):
        module.fail_json(msg="keysdir %s does not exist" % params["keysdir"])
    key_link = os.path.join(params["keysdir"], key_files.link_name("mvta" if scheme == "mv" else SERVER_KIND[scheme],
                                                                   params["group"]))
    if not os.path.exists(key_link):
        module.fail_json(msg="no %s group key for trust group %s: %s does not exist (generate it with "
                             "autokey.ntp.ntp_keygen identity=%s on the trusted authority)"
                             % (scheme.upper(), params["group"], key_link, scheme))
    with tempfile.TemporaryDirectory(prefix="ntp-identity-export-") as export_dir:
        try:
            written = export(params, export_dir)
        except (keygen.KeygenError, key_files.KeyFileError) as exc:
            module.fail_json(msg="cannot export %s parameters of %s from %s: %s"
                             % (scheme.upper(), params["group"], params["keysdir"], to_native(exc)))
    filename, content = pick(written, CLIENT_KIND[scheme], params["group"])
    if not filename:
        module.fail_json(msg="ntpd_py exported no %s parameters for trust group %s from %s"
                         % (scheme.upper(), params["group"], params["keysdir"]))
    parts = key_files.parse_file_name(filename)
    if parts is not None:
        link_name, filestamp = key_files.link_name(parts[0], parts[1]), parts[2]
    else:
        link_name, filestamp = filename, None
    result = dict(changed=False, content=content, filename=filename, link_name=link_name, filestamp=filestamp)
    if params["export_password"] is not None:
        server_filename, server_content = pick(written, SERVER_KIND[scheme], params["group"])
        if server_filename:
            result.update(server_key_filename=server_filename, server_key_content=server_content)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
