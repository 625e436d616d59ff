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

- name: A member's host key and certificate, renewed when it expires within 30 days
  autokey.ntp.ntp_keygen:
    keysdir: /etc/ntp/keys
    host: bob
    password: "{{ vault_client_password }}"
    renew_before_days: 30
  register: keys

- name: Fail rather than replace anything that does not match
  autokey.ntp.ntp_keygen:
    keysdir: /etc/ntp/keys
    password: "{{ vault_client_password }}"
    regenerate: fail
"""

RETURN = r"""
files:
  description: The files behind the managed links, after the run.
  returned: success
  type: list
  elements: str
  sample: [/etc/ntp/keys/ntpkey_RSAhost_alice.4004323481, /etc/ntp/keys/ntpkey_RSA-MD5cert_alice.4004323481]
links:
  description: The managed links and the file names they point at.
  returned: success
  type: dict
  sample: {ntpkey_host_alice: ntpkey_RSAhost_alice.4004323481, ntpkey_cert_alice: ntpkey_RSA-MD5cert_alice.4004323481}
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
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.autokey.ntp.plugins.module_utils import keygen_plan as plan_rules
from ansible_collections.autokey.ntp.plugins.module_utils.ntpd_py_import import fail_if_missing

try:
    from ntpd_py.keys import files as key_files
    from ntpd_py.keys import keygen
    from ntpd_py.keys import store as key_store
    from ntpd_py.keys import symmetric
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

SCHEME_NIDS = {"RSA-MD5": 8, "RSA-SHA1": 65, "RSA-SHA256": 668}
DAY = 86400


def iso_utc(unix: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


class WrongPassword(Exception):
    """A key file that exists but does not open with the given password: never a reason to replace keys."""


class KeysDirectory:
    """What the keys directory holds for these options, read through ntpd_py's KeyStore."""

    def __init__(self, params: dict, now: float) -> None:
        self.params = params
        self.now = now
        self.keysdir = params["keysdir"]
        self.host = params["host"]
        self.group = params["group"] or self.host
        self.store = key_store.KeyStore(self.keysdir, host=self.host, password=params["password"], group=self.group)

    def link_name(self, piece: str) -> str:
        if piece == plan_rules.HOST:
            return key_files.link_name("host", self.host)
        if piece == plan_rules.CERT:
            return key_files.link_name("cert", self.host)
        if piece == plan_rules.SYMMETRIC:
            return symmetric.LINK_NAME
        return key_files.link_name("%skey" % piece, self.group)

    def link_path(self, piece: str) -> str:
        return os.path.join(self.keysdir, self.link_name(piece))

    def pieces(self) -> list[str]:
        wanted = [plan_rules.HOST, plan_rules.CERT] + list(self.params["identity"])
        if self.params["symmetric_keys"]:
            wanted.append(plan_rules.SYMMETRIC)
        return wanted

    def inspect(self, piece: str) -> plan_rules.Finding:
        link = self.link_path(piece)
        if not os.path.lexists(link):
            return plan_rules.Finding(piece, plan_rules.MISSING, link, "no %s" % link)
        if not os.path.exists(link):
            return plan_rules.Finding(piece, plan_rules.MISSING, link, "%s points at a missing file" % link)
        path = os.path.realpath(link)
        try:
            if piece == plan_rules.HOST:
                return self._inspect_host(path)
            if piece == plan_rules.CERT:
                return self._inspect_cert(path)
            if piece == plan_rules.SYMMETRIC:
                return plan_rules.Finding(piece, plan_rules.OK, path)
            return self._inspect_identity(piece, path)
        except key_files.KeyFileError as exc:
            if "password" in exc.reason:
                raise WrongPassword("%s: %s" % (exc.path, exc.reason))
            return plan_rules.Finding(piece, plan_rules.INVALID, path, to_native(exc))
        except (ValueError, TypeError, OSError) as exc:
            return plan_rules.Finding(piece, plan_rules.INVALID, path, "%s: %s" % (path, to_native(exc)))

    def _inspect_host(self, path: str) -> plan_rules.Finding:
        size = self.store.host_key().value.key_size
        if size != self.params["modulus"]:
            return plan_rules.Finding(plan_rules.HOST, plan_rules.MISMATCH, path,
                                      "the host key has %d bits, modulus asks for %d" % (size, self.params["modulus"]))
        return plan_rules.Finding(plan_rules.HOST, plan_rules.OK, path)

    def expected_subject(self) -> str:
        """ntp-keygen's certificate name: host, or host@group with -i."""
        return self.host if self.params["group"] is None else "%s@%s" % (self.host, self.params["group"])

    def _inspect_cert(self, path: str) -> plan_rules.Finding:
        cert = self.store.certificate().value
        piece = plan_rules.CERT
        problems = []
        if cert.signature_nid != SCHEME_NIDS[self.params["scheme"]]:
            problems.append("signed with %s, scheme asks for %s" % (cert.signature_name, self.params["scheme"]))
        # A trusted or private certificate keeps its kind and name on renewal (ntp-keygen's update mode), so only
        # a missing kind is a mismatch.
        kept_kind = (cert.trusted and not self.params["trusted"]) or (cert.private and not self.params["private_certificate"])
        if not kept_kind and cert.subject != self.expected_subject():
            problems.append("subject %s, host and group ask for %s" % (cert.subject, self.expected_subject()))
        if self.params["trusted"] and not cert.trusted:
            problems.append("not trusted, trusted=true asks for a trusted certificate")
        if self.params["private_certificate"] and not cert.private:
            problems.append("not private, private_certificate=true asks for a private certificate")
        try:
            signer = self.store.sign_key().value.public_key()
            if cert.public_key.public_numbers() != signer.public_numbers():
                problems.append("it does not hold the public key of the host (sign) key")
        except key_files.KeyFileError:
            pass  # the host key's own finding reports it
        if problems:
            return plan_rules.Finding(piece, plan_rules.MISMATCH, path, "; ".join(problems))
        if self.now < cert.not_before:
            return plan_rules.Finding(piece, plan_rules.EXPIRING, path, "not valid before %s" % iso_utc(cert.not_before))
        if cert.not_after - self.now < self.params["renew_before_days"] * DAY:
            verb = "expired" if cert.not_after <= self.now else "expires"
            return plan_rules.Finding(piece, plan_rules.EXPIRING, path, "%s %s, within renew_before_days=%d"
                                      % (verb, iso_utc(cert.not_after), self.params["renew_before_days"]))
        return plan_rules.Finding(piece, plan_rules.OK, path)

    def _inspect_identity(self, piece: str, path: str) -> plan_rules.Finding:
        params = self.store.server_identity(piece, self.group).value
        modulus = getattr(params, {"iff": "p", "gq": "n"}.get(piece, ""), None)
        if isinstance(modulus, int) and modulus.bit_length() != self.params["identity_modulus"]:
            return plan_rules.Finding(piece, plan_rules.MISMATCH, path,
                                      "%s parameters have %d bits, identity_modulus asks for %d"
                                      % (piece.upper(), modulus.bit_length(), self.params["identity_modulus"]))
        return plan_rules.Finding(piece, plan_rules.OK, path)

    def links(self) -> dict[str, str]:
        """Managed link name -> target, for the links that exist."""
        found = {}
        for piece in self.pieces():
            target = key_files.link_target(self.link_path(piece))
            if target is not None:
                found[self.link_name(piece)] = target
        return found

    def certificate(self):
        """The certificate as loaded now (a fresh read), or None."""
        try:
            return self.store.certificate()
        except (key_files.KeyFileError, ValueError, OSError):
            return None


def generate(params: dict, plan: plan_rules.Plan, now: float) -> list[str]:
    """ntpd_py's ntp-keygen API, called as ntp-keygen would be for what the plan writes; returns its notes."""
    changes = plan.changes
    notes = []
    common = dict(
        host=params["host"],
        group=params["group"],
        password=params["password"],
        scheme=params["scheme"],
        modulus=params["modulus"],
        identity_bits=params["identity_modulus"],
        lifetime_days=params["lifetime"],
        trusted=params["trusted"],
        private_cert=params["private_certificate"],
    )
    if any(piece != plan_rules.SYMMETRIC for piece in changes):
        result = keygen.generate(keygen.KeygenOptions(
            host_key=plan_rules.HOST in changes,
            iff="iff" in changes,
            gq="gq" in changes,
            mv_keys=params["mv_keys"] if "mv" in changes else None,
            **common
        ), params["keysdir"], now)
        notes.extend(result.notes)
    if plan_rules.SYMMETRIC in changes:
        result = keygen.generate(keygen.KeygenOptions(md5=True, **common), params["keysdir"], now)
        notes.extend(result.notes)
    return notes


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            keysdir=dict(type="path", required=True),
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
            scheme=dict(type="str", choices=list(SCHEME_NIDS), default="RSA-MD5"),
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
    fail_if_missing(module, IMPORT_ERROR)
    params = module.params
    params["host"] = params["host"] or socket.gethostname()
    params["identity"] = list(dict.fromkeys(params["identity"]))
    for option, low in (("modulus", 512), ("identity_modulus", 256), ("lifetime", 1), ("mv_keys", 2)):
        if params[option] < low:
            module.fail_json(msg="%s must be at least %d, not %d" % (option, low, params[option]))
    if params["renew_before_days"] < 0:
        module.fail_json(msg="renew_before_days must not be negative")
    keysdir = params["keysdir"]
    if os.path.exists(keysdir) and not os.path.isdir(keysdir):
        module.fail_json(msg="keysdir %s exists and is not a directory" % keysdir)

    now = time.time()
    made_keysdir = not os.path.isdir(keysdir)
    directory = KeysDirectory(params, now)
    try:
        findings = [directory.inspect(piece) for piece in directory.pieces()]
    except WrongPassword as exc:
        module.fail_json(msg="%s; nothing was changed (check password)" % to_native(exc))
    plan = plan_rules.decide(findings, params["regenerate"])
    if plan.failures:
        module.fail_json(msg="; ".join(plan.failures), actions=plan.actions)

    links_before = directory.links()
    changes = plan.changes
    changed = bool(changes) or made_keysdir
    notes = []
    if changed and not module.check_mode:
        try:
            if made_keysdir:
                os.makedirs(keysdir, 0o755)
            if changes:
                notes = generate(params, plan, now)
        except (keygen.KeygenError, key_files.KeyFileError) as exc:
            module.fail_json(msg="key generation in %s failed, nothing was replaced: %s" % (keysdir, to_native(exc)),
                             actions=plan.actions)
        except OSError as exc:
            module.fail_json(msg="key generation in %s failed: %s" % (keysdir, to_native(exc)), actions=plan.actions)
        directory = KeysDirectory(params, now)

    links_after = directory.links()
    files = [os.path.join(keysdir, target) for target in links_after.values()]
    for path in files:
        if os.path.exists(path):
            file_args = module.load_file_common_arguments(dict(params, group=params["file_group"]), path=path)
            changed = module.set_fs_attributes_if_different(file_args, changed)

    result = dict(changed=changed, files=files, links=links_after, actions=plan.actions)
    if plan.reasons:
        result["reasons"] = plan.reasons
    if notes:
        result["notes"] = notes
    predicted = dict(links_before)
    if module.check_mode:
        for piece in changes:
            predicted[directory.link_name(piece)] = "(new file)"
    result["diff"] = {"before": links_before, "after": predicted if module.check_mode else links_after}
    loaded = directory.certificate()
    if loaded is not None:
        cert = loaded.value
        result.update(
            filestamp=loaded.filestamp if loaded.filestamp is not None else cert.serial,
            certificate_not_after=iso_utc(cert.not_after),
            certificate_subject=cert.subject,
            certificate_issuer=cert.issuer,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
