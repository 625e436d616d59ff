# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Read the identity parameters a trusted authority published for a trust group, on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ntp_identity
short_description: Read the Autokey identity parameters (and certificates) published for a trust group
version_added: 0.1.0
author:
  - ntpd-py developers (@ntpd-py)
description:
  - Returns, for each trust group named in the terms, the client identity parameters that the group's trusted
    authority exported (C(ntpkey_iffpar_<group>.<filestamp>), C(ntpkey_gqpar_*), C(ntpkey_mvpar_*)), read on the
    controller, so that a play can hand them to the group's members with M(autokey.ntp.ntp_key_install).
  - Where they come from, in this order of precedence; O(file) (one file), O(url) (one file over HTTP(S)), or a
    search of O(publish_dir), the directory to which the authority's exports were fetched (any depth; when
    several generations are there the newest filestamp wins).
  - The authority's certificates found beside the parameters (C(ntpkey_cert_<group>) links or
    C(ntpkey_<scheme>cert_<group>.<filestamp>) files) come along in RV(_raw[].certificates).
options:
  _terms:
    description:
      - Trust group names (ntp-keygen's C(-i), ntpd's C(ident)), for example V(GR1).
      - May be empty with O(file) or O(url).
    type: list
    elements: str
    required: false
  publish_dir:
    description:
      - The controller directory holding the fetched exports.
    type: path
  scheme:
    description:
      - The identity scheme whose parameters to return. Without it the first scheme found for the group is
        used, in the order iff, gq, mv.
    type: str
    choices: [iff, gq, mv]
  file:
    description:
      - One parameters file on the controller, instead of a search of O(publish_dir).
    type: path
  url:
    description:
      - One parameters file to download, instead of a search of O(publish_dir).
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificate of O(url).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for O(url).
    type: float
    default: 10
notes:
  - Runs on the controller and needs nothing but Ansible there.
seealso:
  - module: autokey.ntp.ntp_identity_export
  - module: autokey.ntp.ntp_key_install
"""

EXAMPLES = r"""
- name: Install GR1's IFF parameters, fetched from its authority into ./publish, on every member
  autokey.ntp.ntp_key_install:
    keysdir: /etc/ntp/keys
    content: "{{ identity.content }}"
    filename: "{{ identity.filename }}"
  vars:
    identity: "{{ lookup('autokey.ntp.ntp_identity', 'GR1', publish_dir=playbook_dir ~ '/publish', scheme='iff') }}"

- name: One file named by the user
  ansible.builtin.debug:
    msg: "{{ lookup('autokey.ntp.ntp_identity', file='/srv/ntp/ntpkey_iffpar_GR1.4004323481').link_name }}"
"""

RETURN = r"""
_raw:
  description: One entry per term (one entry for O(file) or O(url)).
  type: list
  elements: dict
  contains:
    group:
      description: The trust group (the term, or the name found in the file name).
      type: str
      sample: GR1
    scheme:
      description: The identity scheme of the parameters.
      type: str
      sample: iff
    filename:
      description: The file name to install the parameters under.
      type: str
      sample: ntpkey_iffpar_GR1.4004323481
    link_name:
      description: The link by which ntpd finds them.
      type: str
      sample: ntpkey_iffpar_GR1
    filestamp:
      description: The filestamp (NTP seconds at generation), or null when the file carries none.
      type: int
    content:
      description: The file's content.
      type: str
    source:
      description: The path or URL read.
      type: str
    certificates:
      description: Certificates published beside the parameters, each with C(filename) and C(content).
      type: list
      elements: dict
"""

import os
import re

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.lookup import LookupBase

SCHEMES = ("iff", "gq", "mv")
HEADER_NAME = re.compile(r"^#\s*(ntpkey_\S+)\s*$")


def parameters_pattern(scheme: str, group: str) -> re.Pattern:
    """ntpkey_<scheme>par_<group>, optionally with ntp-keygen's .<filestamp> suffix."""
    return re.compile(r"^ntpkey_%spar_%s(?:\.(\d+))?$" % (scheme, re.escape(group)))


def certificate_pattern(group: str) -> re.Pattern:
    """ntpkey_cert_<group> (the link) or ntpkey_<scheme>cert_<group>.<filestamp> (the file)."""
    return re.compile(r"^ntpkey_(?:cert|RSA-[A-Z0-9]+cert)_%s(?:\.(\d+))?$" % re.escape(group))


def describe_file(name: str, content: str) -> tuple[str, str, str, int | None]:
    """(scheme, group, link name, filestamp) from the name in the header line or the file name."""
    for line in content.splitlines()[:3]:
        match = HEADER_NAME.match(line)
        if match:
            name = match.group(1)
            break
    match = re.match(r"^ntpkey_(iff|gq|mv)par_(.+?)(?:\.(\d+))?$", name)
    if match is None:
        raise AnsibleLookupError("%s is not an identity parameters file (ntpkey_<iff|gq|mv>par_<group>.<filestamp>)"
                                 % name)
    scheme, group, stamp = match.groups()
    return scheme, group, "ntpkey_%spar_%s" % (scheme, group), int(stamp) if stamp else None


def newest(directory: str, pattern: re.Pattern) -> str | None:
    """The matching file under directory with the highest filestamp (a stamp-less name ranks lowest)."""
    best: tuple[int, str] | None = None
    for root, _dirs, files in os.walk(directory, followlinks=False):
        for name in files:
            match = pattern.match(name)
            if match is None:
                continue
            rank = (int(match.group(1)) if match.group(1) else -1, os.path.join(root, name))
            if best is None or rank > best:
                best = rank
    return best[1] if best else None


class LookupModule(LookupBase):
    """See DOCUMENTATION."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if self.get_option("file"):
            return [self._entry(self._read_file(self.get_option("file")), self.get_option("file"), terms)]
        if self.get_option("url"):
            return [self._entry(self._read_url(self.get_option("url")), self.get_option("url"), terms)]
        publish_dir = self.get_option("publish_dir")
        if not publish_dir:
            raise AnsibleLookupError("ntp_identity needs publish_dir, file or url")
        if not terms:
            raise AnsibleLookupError("ntp_identity needs at least one trust group name with publish_dir")
        if not os.path.isdir(publish_dir):
            raise AnsibleLookupError("publish_dir %s is not a directory: fetch the authority's exports first"
                                     % publish_dir)
        return [self._from_publish_dir(publish_dir, to_text(group)) for group in terms]

    def _from_publish_dir(self, publish_dir: str, group: str) -> dict:
        schemes = [self.get_option("scheme")] if self.get_option("scheme") else list(SCHEMES)
        for scheme in schemes:
            path = newest(publish_dir, parameters_pattern(scheme, group))
            if path:
                entry = self._entry(self._read_file(path), path, [group])
                cert = newest(os.path.dirname(path), certificate_pattern(group)) or newest(
                    publish_dir, certificate_pattern(group))
                if cert:
                    entry["certificates"] = [{"filename": os.path.basename(cert), "content": self._read_file(cert)}]
                return entry
        raise AnsibleLookupError("no %s parameters for trust group %s under %s (looked for ntpkey_<scheme>par_%s.*)"
                                 % ("/".join(schemes), group, publish_dir, group))

    def _entry(self, content: str, source: str, terms) -> dict:
        scheme, group, link_name, filestamp = describe_file(os.path.basename(source.rstrip("/")), content)
        wanted = self.get_option("scheme")
        if wanted and wanted != scheme:
            raise AnsibleLookupError("%s holds %s parameters, not %s" % (source, scheme, wanted))
        if terms and to_text(terms[0]) != group:
            raise AnsibleLookupError("%s holds the parameters of trust group %s, not %s" % (source, group, terms[0]))
        filename = link_name + (".%d" % filestamp if filestamp is not None else "")
        return {"group": group, "scheme": scheme, "filename": filename, "link_name": link_name,
                "filestamp": filestamp, "content": content, "source": source, "certificates": []}

    @staticmethod
    def _read_file(path: str) -> str:
        try:
            with open(path, "rb") as handle:
                return to_text(handle.read(), errors="surrogate_or_strict")
        except (OSError, UnicodeError) as exc:
            raise AnsibleLookupError("cannot read %s: %s" % (path, to_native(exc)))

    def _read_url(self, url: str) -> str:
        from ansible.module_utils.urls import open_url

        try:
            response = open_url(url, validate_certs=self.get_option("validate_certs"),
                                timeout=self.get_option("timeout"))
            return to_text(response.read(), errors="surrogate_or_strict")
        except (AnsibleError, OSError, ValueError) as exc:
            raise AnsibleLookupError("cannot fetch %s: %s" % (url, to_native(exc)))
