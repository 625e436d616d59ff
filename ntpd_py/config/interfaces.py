"""`interface`/`nic` rules as ntpd 4.2.8p15 applies them (ntp_io.c: interface_action), and the listen plan.

ntpd starts from "every address of every interface" and asks the rules about each one:
- the LAST rule that matches an address decides (checked against the reference binary);
- `all` matches every address except loopback ones and the wildcard; `ipv4`/`ipv6` match the family
  (wildcard included); `wildcard` the wildcard; `NAME` the interface name (shell pattern, any case);
  `ADDRESS` and `PREFIX/LEN` the address;
- no rule matched: loopback addresses listen, the wildcard drops, and any other address listens when the
  file has no interface rules at all and is ignored when it has some;
- `listen` opens and serves, `ignore` opens nothing, `drop` (ntpd: opens and discards) serves nothing.

Where ntpd-py differs (docs/config.md): without any rule it binds the wildcard (IP_PKTINFO tells each
datagram's address), so it also serves addresses no interface carries; an `interface listen ADDRESS` naming
an address that no interface carries (the lab's 127.0.0.x, which Linux delivers on lo without configuration)
is listened on as well, where ntpd would ignore it; a `drop` address is not bound at all; with `listen
wildcard` one wildcard socket (IP_PKTINFO) serves every address that is not dropped.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from .model import Interface

WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class LocalAddress:
    """One address of one interface of this host."""

    name: str
    address: str
    loopback: bool = False


def _matches(rule: Interface, addr: LocalAddress | None, address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    wildcard = address in WILDCARDS
    loopback = addr is not None and addr.loopback
    target = rule.target
    if target == "all":
        return not (loopback or wildcard)
    if target == "ipv4":
        return ip.version == 4
    if target == "ipv6":
        return ip.version == 6
    if target == "wildcard":
        return wildcard
    if "/" in target:
        network = ipaddress.ip_network(target, strict=False)
        return network.version == ip.version and ip in network
    try:
        return ipaddress.ip_address(target) == ip
    except ValueError:  # an interface name (ntpd: fnmatch with FNM_CASEFOLD)
        return addr is not None and fnmatch.fnmatch(addr.name.lower(), target.lower())


def interface_action(rules: Sequence[Interface], address: str, local: LocalAddress | None = None) -> tuple[str, bool]:
    """(action, decided by a rule) for `address` (`local`: its interface, when it has one)."""
    for rule in reversed(rules):
        if _matches(rule, local, address):
            return rule.action, True
    if local is not None and local.loopback:
        return "listen", False
    if address in WILDCARDS:
        return "drop", False
    return ("ignore" if rules else "listen"), False


@dataclass
class ListenPlan:
    """What to bind: `required` addresses (a failure to bind one stops the daemon), `optional` ones (loopback
    addresses listened on by ntpd's default only: a failure is a warning), `dropped` ones (datagrams to them
    are discarded when they arrive on a wildcard socket). `wildcard` is true when one wildcard socket serves."""

    required: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    wildcard: bool = False

    @property
    def addresses(self) -> list[str]:
        return ["0.0.0.0"] if self.wildcard else self.required + self.optional


def listen_plan(rules: Sequence[Interface], system: Sequence[LocalAddress]) -> ListenPlan:
    """Apply the rules to every system address, then add explicitly listened addresses no interface carries.
    Addresses named by an exact `interface listen ADDRESS` come first, in file order (associations take their
    local address from the front of the list)."""
    plan = ListenPlan()
    wildcard_action, _ = interface_action(rules, "0.0.0.0")
    if not rules:  # ntpd: every interface address; we: one wildcard socket that serves them all
        plan.wildcard = True
        return plan
    seen: set[str] = set()
    explicit = [r.target for r in rules if r.action == "listen" and _is_address(r.target)]
    known = {a.address: a for a in system}
    candidates = [known.get(a) or LocalAddress("", a) for a in explicit] + list(system)
    for local in candidates:
        address = local.address
        if address in seen:
            continue
        seen.add(address)
        action, by_rule = interface_action(rules, address, local if local.name else None)
        if action == "listen":
            (plan.required if by_rule or not rules else plan.optional).append(address)
        elif action == "drop":
            plan.dropped.append(address)
    plan.wildcard = wildcard_action == "listen"
    return plan


def _is_address(target: str) -> bool:
    try:
        ipaddress.ip_address(target)
        return True
    except ValueError:
        return False


__all__ = ["LocalAddress", "ListenPlan", "interface_action", "listen_plan", "WILDCARDS"]
