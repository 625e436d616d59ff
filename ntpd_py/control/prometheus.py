"""Autokey health as Prometheus metrics, in node_exporter's textfile format (`ntpd-py-q --prometheus`).

What an operator alerts on, read over mode 6 like ntpq: per association the Autokey flags word and each
verification step (CERT, VRFY, PROV, COOK, AUTO, SIGN, LEAP), whether all of them are done, the XEVNT error
count and last error code, reach and offset; per certificate of the host its expiry. `render()` is pure
(variables in, text out); `collect()` does the queries. docs/roles.md has the alerts and the systemd timer.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field

from .client import Association, ControlClient, ControlError, Variables

PREFIX = "ntpd_py"
# The verification bits of the flags word as mode 6 shows them (ntp_crypto.h CRYPTO_FLAG_CERT ... _LEAP). control/
# may not import autokey/ (the import layers), so they are named here; tests/autokey/test_autokey_prometheus.py
# checks them against autokey.flags.CryptoFlag.
STEP_BITS = {"CERT": 0x0100, "VRFY": 0x0200, "PROV": 0x0400, "COOK": 0x0800, "AUTO": 0x1000, "SIGN": 0x2000,
             "LEAP": 0x4000}
STEPS = tuple(STEP_BITS)
ALL_STEPS = sum(STEP_BITS.values())

HELP = {
    "up": ("gauge", "1 when the daemon answered the mode-6 queries, 0 otherwise."),
    "autokey_flags": ("gauge", "The association's Autokey flags word (ntpq rv ASSID flags), e.g. 0x87f21."),
    "autokey_step": ("gauge", "1 when the Autokey step is verified for the association (flags bit)."),
    "autokey_steps_complete": ("gauge", "1 when every Autokey step (CERT VRFY PROV COOK AUTO SIGN LEAP) is done."),
    "autokey_crypto_errors": ("gauge", "Autokey (XEVNT) errors counted for the association since it was mobilised."),
    "autokey_last_error_code": ("gauge", "The association's last XEVNT code (0x101-0x10f), 0 when none."),
    "peer_reach": ("gauge", "The association's reach register (0-255)."),
    "peer_offset_seconds": ("gauge", "The association's last offset, in seconds."),
    "certificate_expiry_timestamp_seconds": ("gauge", "When the host's certificate expires (Unix seconds)."),
}


@dataclass
class Reading:
    """One scrape: the associations with their variables, the system variables, or the error."""

    host: str
    peers: list[tuple[Association, Variables]] = field(default_factory=list)
    system: Variables | None = None
    error: str | None = None


def collect(host: str, port: int = 123, timeout: float = 2.0) -> Reading:
    """Query the daemon at host:port; a failure is recorded (ntpd_py_up 0), never raised."""
    reading = Reading(host)
    try:
        with ControlClient(host, port, timeout=timeout) as client:
            reading.system = client.read_system()
            for association in client.associations():
                reading.peers.append((association, client.read_peer(association.assid)))
    except (ControlError, OSError, ValueError) as exc:
        reading.peers, reading.system, reading.error = [], None, str(exc)
    return reading


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{name}="{_escape(str(value))}"' for name, value in labels.items()) + "}"


def _unquote(value: str | None) -> str:
    return (value or "").strip().strip('"')


def _integer(value: str | None) -> int | None:
    text = _unquote(value).split()[0] if _unquote(value) else ""
    try:
        return int(text, 0)
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(_unquote(value))
    except ValueError:
        return None


def _until(value: str | None) -> float | None:
    """ntpd's YYYYMMDDhhmm certificate expiry as Unix seconds."""
    try:
        return float(calendar.timegm(time.strptime(_unquote(value), "%Y%m%d%H%M")))
    except ValueError:
        return None


def render(readings: list[Reading]) -> str:
    """The textfile: HELP and TYPE once per metric, then every sample, in a stable order."""
    samples: dict[str, list[str]] = {name: [] for name in HELP}

    def add(name: str, labels: dict[str, str], value: float) -> None:
        number = int(value) if float(value).is_integer() else value
        samples[name].append(f"{PREFIX}_{name}{_labels(labels)} {number}")

    for reading in readings:
        add("up", {"server": reading.host}, 0 if reading.error else 1)
        for association, variables in reading.peers:
            flags = _integer(variables.get("flags"))
            if flags is None:
                continue  # not an Autokey association
            labels = {"server": reading.host, "assid": str(association.assid),
                      "peer": _unquote(variables.get("srcadr")), "remote_host": _unquote(variables.get("host")),
                      "ident": _unquote(variables.get("ident"))}
            add("autokey_flags", labels, flags)
            for step in STEPS:
                add("autokey_step", dict(labels, step=step), 1 if flags & STEP_BITS[step] else 0)
            add("autokey_steps_complete", labels, 1 if flags & ALL_STEPS == ALL_STEPS else 0)
            add("autokey_crypto_errors", labels, _integer(variables.get("crypto_errors")) or 0)
            add("autokey_last_error_code", labels, _integer(variables.get("crypto_event")) or 0)
            reach = _integer(variables.get("reach"))
            if reach is not None:
                add("peer_reach", labels, reach)
            offset = _float(variables.get("offset"))
            if offset is not None:
                add("peer_offset_seconds", labels, offset / 1000.0)
        if reading.system is not None:
            subject = issuer = None
            for name, value in reading.system:
                if name == "cert":
                    parts = _unquote(value).split()
                    subject, issuer = (parts + ["", ""])[:2]
                elif name == "until" and subject is not None:
                    expiry = _until(value)
                    if expiry is not None:
                        add("certificate_expiry_timestamp_seconds",
                            {"server": reading.host, "subject": subject, "issuer": issuer}, expiry)
                    subject = None
    lines = []
    for name, (kind, text) in HELP.items():
        if not samples[name]:
            continue
        lines += [f"# HELP {PREFIX}_{name} {text}", f"# TYPE {PREFIX}_{name} {kind}"] + samples[name]
    return "\n".join(lines) + "\n"
