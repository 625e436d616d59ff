"""The ControlView speaks ntpd 4.2.8p15's variable names in its order: compared with the reference ntpq output."""

from __future__ import annotations

import re

from core_sim import T0, SimNet, make_host

from ntpd_py.control.view import HostControlView


def names_in(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("$"))
    body = re.sub(r'"[^"]*"', '""', body)
    return re.findall(r"(?:^|,\s*|\n)([a-z_]+)=", body)


def synced_client():
    net = SimNet()
    net.add("127.0.0.1", make_host("server 127.127.1.0\nfudge 127.127.1.0 stratum 4\n", "127.0.0.1"))
    client = net.add("127.0.0.2", make_host("server 127.0.0.1 iburst\n", "127.0.0.2"))
    net.run(T0, 20)
    return HostControlView(client)


def test_system_variable_order_matches_reference(vectors):
    reference = names_in((vectors / "iff" / "ntpq" / "bob_rv0.txt").read_text())
    ours = [name for name, _ in synced_client().system_variables()]
    core = reference[1:reference.index("clk_wander") + 1]  # after associd/status, before leap file and crypto
    core = [n for n in core if n != "status"]
    assert ours[: len(core)] == core


def test_peer_variable_order_matches_reference(vectors):
    reference = names_in((vectors / "iff" / "ntpq" / "bob_rv_assid.txt").read_text())
    view = synced_client()
    (assid, _), = view.associations()
    ours = [name for name, _ in view.peer_variables(assid)]
    core = [n for n in reference[reference.index("srcadr"): reference.index("filtdisp") + 1]]
    assert ours[: len(core)] == core


def test_status_words_decode_like_reference(vectors):
    """bob's `as` line: f61a = conf, authenb, auth, reach, sys.peer, 1 event, sys_peer."""
    from ntpd_py.engine.status import PST_AUTHENABLE, PST_AUTHENTIC, PST_CONFIG, PST_REACH, EventCounter, peer_status

    events = EventCounter()
    events.report(10)
    word = peer_status(PST_CONFIG | PST_AUTHENABLE | PST_AUTHENTIC | PST_REACH, 6, events)
    assert f"{word:04x}" in (vectors / "iff" / "ntpq" / "bob_as.txt").read_text()
