#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Verify over mode 6 that a daemon's Autokey associations reached the expected flags."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ntp_autokey_status
short_description: Check the Autokey flags of a daemon's associations over NTP mode 6
version_added: 0.1.0
author:
  - ntpd-py developers (@ntpd-py)
description:
  - Queries an NTP daemon (ntpd-py, or reference ntpd 4.2.8) with mode-6 control messages, as C(ntpq -c "rv ASSID flags")
    does, and reports per association the address, host, flags in hex and decoded bit by bit (identity scheme,
    signature NID and name, each verification step), auth, reach, condition and the last crypto error, and the
    daemon's certificates with their expiry.
  - 'Waits up to O(timeout) seconds for every checked association to show O(expect_flags), then fails with a message
    that names each missing step, for example
    C(identity not verified: VRFY 0x200 missing; last error 0x10e bad or missing group key).'
  - Only reads; it behaves the same in check mode and never reports a change.
extends_documentation_fragment:
  - autokey.ntp.ntp.attributes_read_only
options:
  host:
    description:
      - The address of the daemon to query.
    type: str
    default: 127.0.0.1
  port:
    description:
      - The daemon's NTP port.
    type: int
    default: 123
  expect_flags:
    description:
      - The flags every checked association must show, as an integer or a hexadecimal string, for example
        V(0x87f21) (IFF with RSA-MD5 certificates, as in the Autokey guides), V(0x87f41) (GQ) or V(0x87f81) (MV).
      - Without it, the full flags of O(scheme) with RSA-MD5 certificates, as ntpd_py computes them
        (C(ntpd_py.autokey.flags.full_flags), the one table of full flags).
      - The TAI bit V(0x2) is reported but never required (a server sets it when it has a leap-seconds table).
      - Bits set beyond the expected ones do not fail the check.
    type: str
  scheme:
    description:
      - The trust group's identity scheme, whose full flags are expected when O(expect_flags) is not given.
    type: str
    choices: [tc, pc, iff, gq, mv]
    default: iff
  timeout:
    description:
      - Seconds to wait for the associations to complete; V(0) checks once.
    type: float
    default: 0
  associations:
    description:
      - The server addresses (C(srcadr)) or Autokey host names whose associations are checked. By default every
        association that shows Autokey flags.
    type: list
    elements: str
    default: []
  query_timeout:
    description:
      - Seconds to wait for each mode-6 answer.
    type: float
    default: 2
requirements:
  - ntpd_py (the ntpd-py package, installed on the managed host by the M(autokey.ntp.ntpd_py) role)
notes:
  - The query comes from the managed host; point O(host) at a daemon that host may query (C(restrict ... noquery)
    refuses mode 6).
seealso:
  - module: autokey.ntp.ntp_keygen
"""

EXAMPLES = r"""
- name: Wait up to five minutes for every Autokey association to reach the full flags of an IFF group
  autokey.ntp.ntp_autokey_status:
    host: 127.0.0.1
    scheme: iff
    timeout: 300
  register: autokey

- name: Check only the association with one server, once
  autokey.ntp.ntp_autokey_status:
    host: 127.0.0.1
    associations: [192.0.2.10]
    expect_flags: "0x87f21"

- name: Show the flags
  ansible.builtin.debug:
    msg: "{{ autokey.associations | map(attribute='flags') }}"
"""

RETURN = r"""
ok:
  description: Whether every checked association shows the expected flags.
  returned: always
  type: bool
associations:
  description: One entry per checked association.
  returned: success or when the flags are incomplete
  type: list
  elements: dict
  contains:
    assid:
      description: The association ID.
      type: int
    address:
      description: The server's address (C(srcadr)).
      type: str
    host:
      description: The server's Autokey host name.
      type: str
    flags:
      description: The association's flags in hex.
      type: str
      sample: "0x87f23"
    flags_decoded:
      description: The flags bit by bit (C(bits)), their names, the identity C(scheme), C(signature_nid) and C(signature).
      type: dict
    auth:
      description: C(ok), C(bad) or C(none), as ntpq's C(as) prints it.
      type: str
    reach:
      description: The reach register (octal).
      type: str
    condition:
      description: The selection status, as ntpq's C(as) prints it (C(sys.peer), C(candidate), ...).
      type: str
    last_crypto_error:
      description: The last crypto error (code and text), when the daemon reports one.
      type: str
    missing:
      description: One message per missing step.
      type: list
      elements: str
    ok:
      description: Whether this association shows the expected flags.
      type: bool
certificates:
  description: The daemon's certificates (system variable C(cert)), with subject, issuer, flags and expiry (C(until), ISO 8601).
  returned: success or when the flags are incomplete
  type: list
  elements: dict
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.autokey.ntp.plugins.module_utils import autokey_report as report
from ansible_collections.autokey.ntp.plugins.module_utils import ntpd_py_import as ntpd
from ansible_collections.autokey.ntp.plugins.module_utils.ntpd_py_import import check_ntpd_py


def query(params: dict) -> tuple[list[tuple[object, list]], list[tuple[str, str]]]:
    """One reading: (Association, peer variables) per association, and the system variables."""
    client = ntpd.control_client.ControlClient(params["host"], params["port"], timeout=params["query_timeout"])
    try:
        system = report.pairs(client.read_system())
        peers = []
        for association in client.associations():
            peers.append((association, report.pairs(client.read_peer(association.assid))))
        return peers, system
    finally:
        client.close()


def select(peers: list[dict], wanted: list[str]) -> tuple[list[dict], list[str]]:
    """The associations to check, and a message per wanted address that has none."""
    if not wanted:
        return [peer for peer in peers if peer["autokey"]], []
    chosen, absent = [], []
    for name in wanted:
        match = [peer for peer in peers if name in (peer["address"], peer["host"])]
        if match:
            chosen.extend(match)
        else:
            absent.append("no association with %s" % name)
    return chosen, absent


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", default="127.0.0.1"),
            port=dict(type="int", default=123),
            expect_flags=dict(type="str"),
            scheme=dict(type="str", default="iff", choices=["tc", "pc", "iff", "gq", "mv"]),
            timeout=dict(type="float", default=0),
            associations=dict(type="list", elements="str", default=[]),
            query_timeout=dict(type="float", default=2),
        ),
        supports_check_mode=True,
    )
    check_ntpd_py(module)
    params = module.params
    try:
        expected = (report.parse_int(params["expect_flags"]) if params["expect_flags"] is not None
                    else ntpd.autokey_flags.full_flags(params["scheme"]))
    except ValueError:
        module.fail_json(msg="expect_flags must be an integer such as 0x87f21, not %r" % params["expect_flags"])
    if params["timeout"] < 0 or params["query_timeout"] <= 0:
        module.fail_json(msg="timeout must be 0 or more and query_timeout more than 0")

    where = "%s:%d" % (params["host"], params["port"])
    start = time.monotonic()
    deadline = start + params["timeout"]
    last_problem = None
    while True:
        checked, certificates, problems = [], [], []
        try:
            peers, system = query(params)
        except (ntpd.control_client.ControlError, OSError, ValueError) as exc:
            last_problem = "no mode-6 answer from %s: %s" % (where, to_native(exc))
        else:
            reports = [report.association_report(association, variables, expected, ntpd.autokey_flags, ntpd.autokey_errors)
                       for association, variables in peers]
            checked, problems = select(reports, params["associations"])
            certificates = report.certificates(system, ntpd.autokey_flags)
            if not checked and not problems:
                problems.append("no Autokey association at %s" % where)
            for peer in checked:
                if peer["missing"]:
                    problems.append("%s (assid %d): %s" % (peer["address"] or peer["host"], peer["assid"],
                                                           "; ".join(peer["missing"])))
            last_problem = " | ".join(problems) if problems else None
        if last_problem is None or time.monotonic() >= deadline:
            break
        # a wait ends within 0.2 s of the last step (each reading is a handful of mode-6 round trips on loopback)
        time.sleep(min(0.2, max(0.05, deadline - time.monotonic())))

    elapsed = round(time.monotonic() - start, 3)
    result = dict(changed=False, ok=last_problem is None, associations=checked, certificates=certificates,
                  elapsed=elapsed, expect_flags="0x%x" % expected)
    if last_problem is not None:
        waited = " after %.0f s" % elapsed if params["timeout"] else ""
        module.fail_json(msg="Autokey incomplete at %s%s: %s" % (where, waited, last_problem), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
