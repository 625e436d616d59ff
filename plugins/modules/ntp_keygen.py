#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Generate and renew an Autokey key set, as ntp-keygen does, idempotently."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ntp_keygen
short_description: Generate Autokey host keys, certificates, identity parameters and symmetric keys
version_added: 0.1.0
author:
  - ntpd-py developers (@ntpd-py)
description:
  - Does on the managed host what C(ntp-keygen) 4.2.8 does in a keys directory, with ntpd_py's key generator;
    the RSA host key, the self-signed certificate (trusted with O(trusted), private with O(private_certificate)),
    the IFF, GQ and MV identity parameters of a trust group, and the MD5/SHA1 symmetric keys file; files are named
    C(ntpkey_<type>_<name>.<filestamp>) and found by ntpd through the standard links (C(ntpkey_host_<host>),
    C(ntpkey_cert_<host>), ...).
  - Idempotent. What exists is inspected first and O(regenerate) decides what is replaced, in the manner of
    community.crypto's C(openssl_privatekey). A certificate that is about to expire is renewed with the existing
    keys, as ntp-keygen's update mode (C(ntp-keygen -q PW)) does for the monthly renewal the Autokey guides advise.
  - Nothing is replaced on failure; older generations stay in place, as ntp-keygen leaves them.
extends_documentation_fragment:
  - autokey.ntp.ntp
  - autokey.ntp.ntp.password
  - autokey.ntp.ntp.files
  - autokey.ntp.ntp.attributes
options:
  keysdir_mode:
    description:
      - The permissions of O(keysdir), an octal string such as V("0700"); the directory is created with them when
        missing, and they are put back when they differ (a change). Without it a missing directory is created
        with C(0755) and an existing one keeps its mode.
    type: str
  host:
    description:
      - The host name (ntp-keygen's C(-s)), the subject of the certificate and the name in the links.
      - Defaults to the managed host's name, as ntp-keygen takes it from C(gethostname()).
    type: str
  group:
    description:
      - The trust group (ntp-keygen's C(-i)), the owner name of the identity parameter files; the certificate is then
        issued to C(<host>@<group>), as ntp-keygen names it. Without it, ntp-keygen's default, the host name.
      - Here C(group) is the trust group, as in M(autokey.ntp.ntp_identity_export); the file group owner is
        O(file_group).
    type: str
    aliases: [trust_group, issuer]
  scheme:
    description:
      - The certificate's signature scheme (ntp-keygen's C(-c)). Its signature NID ends up in the Autokey flags
        (NID 8 for RSA-MD5, the C(0x8) of C(flags=0x87f21)).
    type: str
    choices: [RSA-MD5, RSA-SHA1, RSA-SHA256]
    default: RSA-MD5
  modulus:
    description:
      - The RSA host key's modulus in bits (ntp-keygen's C(-m)). At least 1024 for new keys.
    type: int
    default: 2048
  identity_modulus:
    description:
      - The identity parameters' modulus in bits (ntp-keygen's C(-b)).
    type: int
    default: 512
  lifetime:
    description:
      - The certificate's lifetime in days (ntp-keygen's C(-l)).
    type: int
    default: 365
  trusted:
    description:
      - Make the certificate trusted (ntp-keygen's C(-T)), as the trust group's trusted authority has it.
    type: bool
    default: false
  private_certificate:
    description:
      - Make a private certificate (ntp-keygen's C(-P)), the PC identity scheme.
    type: bool
    default: false
  identity:
    description:
      - The identity parameters to generate for the trust group (ntp-keygen's C(-I), C(-G), C(-V)). Only the
        trusted authority generates them; members receive the client parameters (M(autokey.ntp.ntp_identity_export),
        M(autokey.ntp.ntp_key_install)).
    type: list
    elements: str
    choices: [iff, gq, mv]
    default: []
  mv_keys:
    description:
      - With V(mv) in O(identity), the number of MV keys (ntp-keygen's C(-V N)), that is N-1 client keys.
    type: int
    default: 5
  symmetric_keys:
    description:
      - Also write the MD5/SHA1 symmetric keys file (ntp-keygen's C(-M)) in the format of ntpd's C(keys) file.
    type: bool
    default: false
  previous_password:
    description:
      - The password the keys are encrypted with now, when O(password) is a new one (the password-change path).
      - Key files (host and sign keys, the group's identity keys) that open with O(previous_password) and not with
        O(password) are re-encrypted with O(password); the same keys, the same file names and links, so the host
        keeps its identity and the group its group key. A file that opens with neither fails the run, naming it.
      - Once every file has been re-encrypted it has no effect, so it can stay set until the change has reached
        every host. Never logged.
    type: str
  regenerate:
    description:
      - When existing key material is replaced.
      - V(never) keeps whatever exists, even unreadable, mismatching or expired; only missing pieces are made.
      - V(fail) makes missing pieces and fails, naming the file, when an existing piece is unreadable, does not
        match the options, or its certificate is within O(renew_before_days) of expiry.
      - V(expiring) replaces a piece that is unreadable or does not match the options, and renews a certificate
        that is invalid or within O(renew_before_days) of expiry with the existing keys.
      - V(always) replaces everything on every run (not idempotent).
    type: str
    choices: [never, fail, expiring, always]
    default: expiring
  renew_before_days:
    description:
      - A certificate that expires within this many days is renewed (with O(regenerate=expiring)).
    type: int
    default: 30
notes:
  - O(owner), O(file_group), O(mode) and the SELinux options apply to every file the module manages (the files
    behind the links); without O(mode) the generator's modes stay (C(0600) for private files, C(0644) for public ones).
  - A trusted or private certificate stays trusted or private, with its name, when it is renewed, as in
    ntp-keygen's update mode.
  - The certificate's identity is checked against the options (subject O(host), issuer O(host) or C(<host>@<group>), scheme,
    O(trusted), O(private_certificate), host public key); O(lifetime) applies to new certificates only.
seealso:
  - module: autokey.ntp.ntp_identity_export
  - module: autokey.ntp.ntp_autokey_status
  - name: ntp-keygen
    description: The reference program whose files this module writes.
    link: https://www.ntp.org/documentation/4.2.8-series/keygen/
"""

EXAMPLES = r"""
- name: Trusted authority of trust group GR1 with IFF parameters
  autokey.ntp.ntp_keygen:
    keysdir: /etc/ntp/keys
    host: alice
    group: GR1
    trusted: true
    identity: [iff]
    password: "{{ vault_gr1_server_password }}"

- name: A member's host key and certificate (subject bob@GR1), renewed when it expires within 30 days
  autokey.ntp.ntp_keygen:
    keysdir: /etc/ntp/keys
    host: bob
    group: GR1
    password: "{{ vault_client_password }}"
    renew_before_days: 30
  register: keys

- name: Change a member's password (same host key, re-encrypted; no new identity)
  autokey.ntp.ntp_keygen:
    keysdir: /etc/ntp/keys
    host: bob
    group: GR1
    password: "{{ vault_client_password_new }}"
    previous_password: "{{ vault_client_password }}"

- name: Fail rather than replace anything that does not match
  autokey.ntp.ntp_keygen:
    keysdir: /etc/ntp/keys
    password: "{{ vault_client_password }}"
    regenerate: fail
"""

RETURN = r"""
reencrypted:
  description: The key files re-encrypted from O(previous_password) to O(password) (or that would be, in check mode).
  returned: when any
  type: list
  elements: str
  sample: [ntpkey_RSAhost_alice.4004323481, ntpkey_IFFkey_GR1.4004323481]
files:
  description: The files behind the managed links, after the run.
  returned: success
  type: list
  elements: str
  sample: [/etc/ntp/keys/ntpkey_RSAhost_alice.4004323481, /etc/ntp/keys/ntpkey_RSA-MD5cert_alice.4004323481]
checksums:
  description:
    - SHA-1 of each file behind the managed links, by file name (as M(ansible.builtin.stat)'s C(checksum)).
    - A copy elsewhere is compared with it without another module run; a re-encryption keeps a file's name but
      changes its checksum.
  returned: success
  type: dict
  sample: {ntpkey_IFFkey_GR1.4004323481: 3f786850e387550fdab836ed7e6dc881de23001b}
links:
  description: The managed links and the file names they point at.
  returned: success
  type: dict
  sample: {ntpkey_host_alice: ntpkey_RSAhost_alice.4004323481, ntpkey_cert_alice: ntpkey_RSA-MD5cert_alice.4004323481}
other_links:
  description:
    - Every other C(ntpkey_) link in O(keysdir) (files received from elsewhere, such as the group's identity
      parameters that M(autokey.ntp.ntp_key_install) put there), by link name, after the run.
    - C(target) is the file the link points at; C(sha256) and C(mode) are that file's, when it is a regular file
      in O(keysdir).
    - With it a role tells that a received file is already in place (the same bytes behind the same link with the
      same mode, what M(autokey.ntp.ntp_key_install) compares) without a module run of its own.
  returned: success
  type: dict
  sample: {ntpkey_iffpar_GR1: {target: ntpkey_iffpar_GR1.4004323481, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, mode: "0600"}}
actions:
  description: What was done (or, in check mode, would be done) with each piece; C(keep), C(create), C(replace) or C(renew).
  returned: success
  type: dict
  sample: {host: keep, cert: renew}
reasons:
  description: Why each piece that is not kept as it is was chosen for its action.
  returned: when something is missing, mismatching or due
  type: dict
  sample: {cert: "expires 2026-12-01T00:00:00Z, within renew_before_days=30"}
notes:
  description: How ntpd_py's key generator understood the options (as ntp-keygen prints notes on stderr).
  returned: when the generator had something to say
  type: list
  elements: str
filestamp:
  description: The certificate's filestamp (NTP seconds at generation).
  returned: when a certificate exists
  type: int
  sample: 4004323481
certificate_not_after:
  description: The certificate's expiry, ISO 8601 UTC.
  returned: when a certificate exists
  type: str
  sample: "2027-11-22T08:05:00Z"
certificate_subject:
  description: The certificate's subject (common name).
  returned: when a certificate exists
  type: str
  sample: alice@GR1
certificate_issuer:
  description: The certificate's issuer (common name).
  returned: when a certificate exists
  type: str
  sample: alice@GR1
"""

import os
import socket
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.autokey.ntp.plugins.module_utils import keygen_plan as plan_rules
from ansible_collections.autokey.ntp.plugins.module_utils.module_backends.keygen import (
    SCHEMES,
    KeygenBackend,
    KeygenBackendError,
    WrongPassword,
)
from ansible_collections.autokey.ntp.plugins.module_utils.ntpd_py_import import check_ntpd_py


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            keysdir=dict(type="path", required=True),
            keysdir_mode=dict(type="str", no_log=False),
            host=dict(type="str"),
            group=dict(type="str", aliases=["trust_group", "issuer"]),
            owner=dict(type="str"),
            file_group=dict(type="str"),
            mode=dict(type="raw"),
            seuser=dict(type="str"),
            serole=dict(type="str"),
            setype=dict(type="str"),
            selevel=dict(type="str"),
            password=dict(type="str", no_log=True),
            previous_password=dict(type="str", no_log=True),
            scheme=dict(type="str", choices=list(SCHEMES), default="RSA-MD5"),
            modulus=dict(type="int", default=2048),
            identity_modulus=dict(type="int", default=512),
            lifetime=dict(type="int", default=365),
            trusted=dict(type="bool", default=False),
            private_certificate=dict(type="bool", default=False),
            identity=dict(type="list", elements="str", choices=["iff", "gq", "mv"], default=[]),
            mv_keys=dict(type="int", default=5, no_log=False),
            symmetric_keys=dict(type="bool", default=False),
            regenerate=dict(type="str", choices=list(plan_rules.REGENERATE_CHOICES), default="expiring"),
            renew_before_days=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    check_ntpd_py(module)
    params = module.params
    params["host"] = params["host"] or socket.gethostname()
    params["identity"] = list(dict.fromkeys(params["identity"]))
    for option, low in (("modulus", 512), ("identity_modulus", 256), ("lifetime", 1), ("mv_keys", 2)):
        if params[option] < low:
            module.fail_json(msg="%s must be at least %d, not %d" % (option, low, params[option]))
    if params["renew_before_days"] < 0:
        module.fail_json(msg="renew_before_days must not be negative")
    if params["previous_password"] == "":
        module.fail_json(msg="previous_password is empty: leave it out, or give the password the keys have now")
    keysdir = params["keysdir"]
    if os.path.exists(keysdir) and not os.path.isdir(keysdir):
        module.fail_json(msg="keysdir %s exists and is not a directory" % keysdir)
    keysdir_mode = None
    if params["keysdir_mode"] is not None:
        try:
            keysdir_mode = int(params["keysdir_mode"], 8)
        except ValueError:
            keysdir_mode = -1
        if not 0 <= keysdir_mode <= 0o7777:
            module.fail_json(msg="keysdir_mode must be an octal string such as 0700, not %r" % params["keysdir_mode"])
        params["keysdir_mode"] = keysdir_mode
    # The directory's own mode, put back when it differs (the roles' separate `file` task did this before).
    mode_before = stat.S_IMODE(os.stat(keysdir).st_mode) if os.path.isdir(keysdir) else None
    mode_changed = keysdir_mode is not None and mode_before is not None and mode_before != keysdir_mode

    backend = KeygenBackend(params, time.time())
    try:
        reencrypt = bool(backend.needs_reencryption())
        regenerate = backend.needs_regeneration()
    except WrongPassword as exc:
        module.fail_json(msg="%s; nothing was changed (check password%s)"
                         % (to_native(exc), " and previous_password" if params["previous_password"] else ""))
    if backend.plan.failures:
        module.fail_json(msg="; ".join(backend.plan.failures), actions=backend.plan.actions)
    changed = reencrypt or regenerate or mode_changed
    if mode_changed and not module.check_mode:
        os.chmod(keysdir, keysdir_mode)
    if changed and not module.check_mode:
        try:
            backend.reencrypt()
            backend.generate()
        except KeygenBackendError as exc:
            module.fail_json(msg=to_native(exc), actions=backend.plan.actions)
        except OSError as exc:
            module.fail_json(msg="key generation in %s failed: %s" % (keysdir, to_native(exc)),
                             actions=backend.plan.actions)
    result = backend.dump(module.check_mode)
    if mode_changed:
        result["diff"]["before"]["(keysdir mode)"] = "%04o" % (mode_before or 0)
        result["diff"]["after"]["(keysdir mode)"] = "%04o" % keysdir_mode
    for path in result["files"]:
        if os.path.exists(path):
            file_args = module.load_file_common_arguments(dict(params, group=params["file_group"]), path=path)
            changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
