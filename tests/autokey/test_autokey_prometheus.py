"""`ntpd-py-q --prometheus`: Autokey health for node_exporter's textfile collector, read from real daemons.

A trusted authority (IFF) and a client run on random loopback addresses; once the client is at full flags the
exporter must report every step verified, the flags word, the certificate expiry and reach; a daemon that does not
answer gives ntpd_py_up 0 and exit status 1 (the timer keeps the last good file). The pure renderer is checked on
a half-done association too, so an alert on "steps below full" has something to fire on.
"""

from __future__ import annotations

import calendar
import re
import subprocess
import sys
import time

import pytest
from autokey_daemons import free_loopback, make_keys, pair_configs, start, wait_flags  # noqa: F401

from conftest import ROOT
from ntpd_py.control import prometheus
from ntpd_py.control.client import Association, Variables

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(\{(?P<labels>[^}]*)\})? (?P<value>-?[0-9.e+-]+)$')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a textfile; fails on a line that is neither a sample nor a HELP/TYPE comment."""
    samples = []
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def value(samples, name: str, **labels: str) -> float:
    found = [v for n, ls, v in samples if n == name and all(ls.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_prometheus_step_bits_are_autokeys() -> None:
    from ntpd_py.autokey.flags import VERIFY_MASK, CryptoFlag

    assert prometheus.STEP_BITS == {step: int(CryptoFlag[step]) for step in prometheus.STEPS}
    assert prometheus.ALL_STEPS == VERIFY_MASK


def test_prometheus_render_shows_missing_steps_and_the_last_error() -> None:
    association = Association(assid=101, status=0x9614)
    variables = Variables([("srcadr", "127.0.0.9"), ("host", '"alice"'), ("flags", "0x80321"), ("reach", "377"),
                           ("offset", "-1.5"), ("crypto_event", '"0x10e bad or missing group key"'),
                           ("crypto_errors", "3")])
    system = Variables([("cert", '"bob alice 0x1"'), ("until", "202711220805")])
    text = prometheus.render([prometheus.Reading("127.0.0.8", [(association, variables)], system)])
    samples = parse(text)
    labels = {"server": "127.0.0.8", "assid": "101"}
    assert value(samples, "ntpd_py_autokey_flags", **labels) == 0x80321
    assert value(samples, "ntpd_py_autokey_step", step="CERT", **labels) == 1
    assert value(samples, "ntpd_py_autokey_step", step="VRFY", **labels) == 1
    assert value(samples, "ntpd_py_autokey_step", step="PROV", **labels) == 0
    assert value(samples, "ntpd_py_autokey_steps_complete", **labels) == 0
    assert value(samples, "ntpd_py_autokey_last_error_code", **labels) == 0x10E
    assert value(samples, "ntpd_py_autokey_crypto_errors", **labels) == 3
    assert value(samples, "ntpd_py_peer_offset_seconds", **labels) == pytest.approx(-0.0015)
    assert value(samples, "ntpd_py_certificate_expiry_timestamp_seconds", subject="bob") == calendar.timegm((2027, 11, 22, 8, 5, 0))
    assert text.count("# TYPE ntpd_py_autokey_step gauge") == 1


@pytest.mark.slow
def test_prometheus_from_live_daemons_at_full_flags(tmp_path, vectors) -> None:
    alice_addr, bob_addr, silent = free_loopback(), free_loopback(), free_loopback()
    make_keys(tmp_path, "iff", ["bob"], time.time() - 60)
    server_conf, client_conf = pair_configs("iff", alice_addr, vectors / "leap-seconds.list")
    alice = start("alice", alice_addr, tmp_path / "alice", server_conf)
    bob = start("bob", bob_addr, tmp_path / "bob", client_conf)
    try:
        flags, _, seen = wait_flags(bob_addr, 0x87F23, 25)
        assert flags == 0x87F23, (seen, bob.log()[-2000:])
        proc = subprocess.run([sys.executable, "-m", "ntpd_py.control.cli", "--prometheus", "-t", "1", bob_addr],
                              capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        samples = parse(proc.stdout)
        assert value(samples, "ntpd_py_up", server=bob_addr) == 1
        assert value(samples, "ntpd_py_autokey_flags", server=bob_addr) == 0x87F23
        assert value(samples, "ntpd_py_autokey_steps_complete", server=bob_addr) == 1
        for step in prometheus.STEPS:
            assert value(samples, "ntpd_py_autokey_step", server=bob_addr, step=step) == 1
        expiry = value(samples, "ntpd_py_certificate_expiry_timestamp_seconds", server=bob_addr, subject="bob",
                       issuer="alice")
        assert 300 * 86400 < expiry - time.time() < 400 * 86400
        assert value(samples, "ntpd_py_peer_reach", server=bob_addr) > 0

        down = subprocess.run([sys.executable, "-m", "ntpd_py.control.cli", "--prometheus", "-t", "0.3", bob_addr,
                               silent], capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert down.returncode == 1
        samples = parse(down.stdout)
        assert value(samples, "ntpd_py_up", server=silent) == 0
        assert value(samples, "ntpd_py_up", server=bob_addr) == 1
    finally:
        bob.stop()
        alice.stop()
