"""`interface`/`nic` rules applied as ntpd 4.2.8p15 applies them (config/interfaces.py).

The expected outcomes were observed with the reference binary (../shared/ref-ntpd/ntpd) in a network
namespace holding lo 127.0.0.1 + 127.0.0.5 + ::1 and two veth ends 10.9.0.1 (v0) and 10.9.1.1 (v1), reading
`ss -ulnp` and its "Listen normally / Listen and drop" log lines, 2026-12-01. The last matching rule wins,
`all` spares loopback and wildcard, loopback listens by default, the wildcard drops by default, and any
other address is ignored once the file has interface rules.
"""

from __future__ import annotations

import pytest

from ntpd_py.config.interfaces import LocalAddress, interface_action, listen_plan
from ntpd_py.config.model import Interface

SYSTEM = [LocalAddress("lo", "127.0.0.1", True), LocalAddress("lo", "127.0.0.5", True),
          LocalAddress("lo", "::1", True), LocalAddress("v0", "10.9.0.1"), LocalAddress("v1", "10.9.1.1")]


def rules(*lines: str) -> list[Interface]:
    out = []
    for line in lines:
        action, target = line.split()
        out.append(Interface(action=action, target=target, origin=None))  # type: ignore[arg-type]
    return out


def actions(rule_lines: tuple[str, ...]) -> dict[str, str]:
    rs = rules(*rule_lines)
    out = {a.address: interface_action(rs, a.address, a)[0] for a in SYSTEM}
    out["wildcard"] = interface_action(rs, "0.0.0.0")[0]
    return out


LOOP = {"127.0.0.1": "listen", "127.0.0.5": "listen", "::1": "listen"}


@pytest.mark.parametrize("lines, expected", [
    ((), {**LOOP, "10.9.0.1": "listen", "10.9.1.1": "listen", "wildcard": "drop"}),
    (("listen 127.0.0.5",), {**LOOP, "10.9.0.1": "ignore", "10.9.1.1": "ignore", "wildcard": "drop"}),
    (("ignore wildcard", "listen 127.0.0.5"), {**LOOP, "10.9.0.1": "ignore", "10.9.1.1": "ignore",
                                               "wildcard": "ignore"}),
    (("ignore ipv4", "ignore ipv6", "listen 127.0.0.5"),
     {"127.0.0.1": "ignore", "127.0.0.5": "listen", "::1": "ignore", "10.9.0.1": "ignore", "10.9.1.1": "ignore",
      "wildcard": "ignore"}),
    (("listen 127.0.0.5", "ignore ipv4", "ignore ipv6"),
     {"127.0.0.1": "ignore", "127.0.0.5": "ignore", "::1": "ignore", "10.9.0.1": "ignore", "10.9.1.1": "ignore",
      "wildcard": "ignore"}),
    (("ignore all", "listen 10.9.0.1"), {**LOOP, "10.9.0.1": "listen", "10.9.1.1": "ignore", "wildcard": "drop"}),
    (("listen 10.9.0.1", "ignore all"), {**LOOP, "10.9.0.1": "ignore", "10.9.1.1": "ignore", "wildcard": "drop"}),
    (("listen 10.9.0.0/16", "drop 10.9.1.1"), {**LOOP, "10.9.0.1": "listen", "10.9.1.1": "drop", "wildcard": "drop"}),
    (("ignore 10.9.0.1",), {**LOOP, "10.9.0.1": "ignore", "10.9.1.1": "ignore", "wildcard": "drop"}),
    (("listen V0",), {**LOOP, "10.9.0.1": "listen", "10.9.1.1": "ignore", "wildcard": "drop"}),
    (("listen wildcard",), {**LOOP, "10.9.0.1": "ignore", "10.9.1.1": "ignore", "wildcard": "listen"}),
])
def test_actions_match_the_reference(lines, expected):
    assert actions(lines) == expected


def test_lab_form_binds_only_its_address():
    plan = listen_plan(rules("ignore ipv4", "ignore ipv6", "listen 127.0.0.11"), SYSTEM)
    assert plan.required == ["127.0.0.11"] and plan.optional == [] and not plan.wildcard


def test_a_bare_listen_line_keeps_ntpds_loopback_default():
    plan = listen_plan(rules("listen 127.0.0.11"), SYSTEM)
    assert plan.required == ["127.0.0.11"]  # named, though no interface carries it (an ntpd-py extension)
    assert plan.optional == ["127.0.0.1", "127.0.0.5", "::1"]  # ntpd's default for loopback: best effort
    assert plan.addresses[0] == "127.0.0.11"  # associations take their local address from the front


def test_no_rules_one_wildcard_socket():
    plan = listen_plan([], SYSTEM)
    assert plan.wildcard and plan.addresses == ["0.0.0.0"]


def test_wildcard_listen_with_drop():
    plan = listen_plan(rules("listen wildcard", "drop 10.9.1.1"), SYSTEM)
    assert plan.wildcard and plan.dropped == ["10.9.1.1"]


def test_prefix_and_name_rules():
    plan = listen_plan(rules("ignore ipv4", "ignore ipv6", "listen 10.9.0.0/16", "drop v1"), SYSTEM)
    assert plan.required == ["10.9.0.1"] and plan.dropped == ["10.9.1.1"]
