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
    scheme: gq
    password: "{{ vault_gr1_server_password }}"
  register: gr1_gq_export
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
import stat
import tempfile
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.autokey.ntp.plugins.module_utils.ntpd_py_import import fail_if_missing

try:
    from cryptography.hazmat.primitives import serialization
    from ntpd_py.keys import files as key_files
    from ntpd_py.keys import keygen
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

# ntp-keygen's file kinds: client parameters and the (re-encrypted) server key of each scheme.
CLIENT_KIND = {"iff": "iffpar", "gq": "gqpar", "mv": "mvpar"}
SERVER_KIND = {"iff": "iffkey", "gq": "gqkey", "mv": "mvkey"}
# Exported files hold group secrets (client parameters, an encrypted server key): owner only.
EXPORT_MODE = 0o600


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


def key_meaning(path: str, password: str | None) -> list | None:
    """The PEM blocks of a key file, encrypted ones decrypted with password; None if unreadable or undecryptable.

    Comparing meanings, not bytes, keeps dest idempotent: every export has a new date line, and an encrypted
    export a new salt.
    """
    try:
        parsed = key_files.read_key_file(path)
    except key_files.KeyFileError:
        return None
    meaning = []
    for block in parsed.blocks:
        if not block.encrypted:
            meaning.append((block.label, block.der, sorted(block.headers.items())))
            continue
        if password is None:
            return None
        pem = key_files.pem_text(block.label, block.der, block.headers).encode("ascii")
        try:
            key = serialization.load_pem_private_key(pem, password.encode("utf-8"))
        except (ValueError, TypeError):
            return None
        meaning.append(("decrypted", key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()), []))
    return meaning


def place(export_dir: str, dest: str, name: str, password: str | None, check_mode: bool) -> bool:
    """Write export_dir/name to dest/name (atomic, 0600) unless the same keys are already there; True if changed."""
    source, target = os.path.join(export_dir, name), os.path.join(dest, name)
    if (os.path.isfile(target) and not os.path.islink(target)
            and stat.S_IMODE(os.stat(target).st_mode) == EXPORT_MODE
            and key_meaning(target, password) == key_meaning(source, password)):
        return False
    if not check_mode:
        with open(source, "rb") as handle:
            key_files.atomic_write(target, handle.read(), EXPORT_MODE)
    return True


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
    fail_if_missing(module, IMPORT_ERROR)
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
    key_link = os.path.join(params["keysdir"], key_files.link_name("mvta" if scheme == "mv" else SERVER_KIND[scheme],
                                                                   params["group"]))
    if not os.path.exists(key_link):
        module.fail_json(msg="no %s group key for trust group %s: %s does not exist (generate it with "
                             "autokey.ntp.ntp_keygen identity=%s on the trusted authority)"
                             % (scheme.upper(), params["group"], key_link, scheme))
    changed = False
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
        server_filename, server_content = "", ""
        if params["export_password"] is not None:
            server_filename, server_content = pick(written, SERVER_KIND[scheme], params["group"])
        if dest is not None:
            try:
                if not os.path.isdir(dest):
                    changed = True
                    if not module.check_mode:
                        os.makedirs(dest, mode=0o700)
                changed |= place(export_dir, dest, filename, None, module.check_mode)
                if server_filename:
                    changed |= place(export_dir, dest, server_filename, params["export_password"], module.check_mode)
            except (OSError, key_files.KeyFileError) as exc:
                module.fail_json(msg="cannot write the export to %s: %s" % (dest, to_native(exc)))
    parts = key_files.parse_file_name(filename)
    if parts is not None:
        link_name, filestamp = key_files.link_name(parts[0], parts[1]), parts[2]
    else:
        link_name, filestamp = filename, None
    result = dict(changed=changed, content=content, filename=filename, link_name=link_name, filestamp=filestamp)
    if dest is not None:
        result["path"] = os.path.join(dest, filename)
    if server_filename:
        result.update(server_key_filename=server_filename, server_key_content=server_content)
        if dest is not None:
            result["server_key_path"] = os.path.join(dest, server_filename)
    withheld = withhold_masked(module, result, ("content", "filename", "link_name", "filestamp", "path",
                                                "server_key_content", "server_key_filename", "server_key_path"))
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
