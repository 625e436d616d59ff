"""`ntpd-py-q`: a tiny ntpq for scripts and labs, over ntpd_py.control.client.

    ntpd-py-q [-p PORT] [-t SECONDS] [-c COMMAND]... [HOST]
    ntpd-py-q --prometheus [-p PORT] [HOST]...    # node_exporter textfile metrics (control/prometheus.py)

COMMAND is `as` (associations), `rv [ASSID] [NAME[,NAME]...]` (read variables) or `peers`. HOST defaults to
127.0.0.1. Exit status: 0 on success, 1 when the server answers an error or does not answer, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence, TextIO

from ..clock.select import TALLY
from ..ntptime import NTP_UNIX_OFFSET
from . import prometheus
from .client import Association, ControlClient, ControlError, Variables

LINE_WIDTH = 72


def _wrap(items: list[tuple[str, str]]) -> str:
    """name=value items joined by ", ", wrapped before column 72 as ntpq prints them."""
    lines: list[str] = []
    current = ""
    for i, (name, value) in enumerate(items):
        item = f"{name}={value}" + ("," if i < len(items) - 1 else "")
        if current and len(current) + 1 + len(item) > LINE_WIDTH:
            lines.append(current)
            current = item
        else:
            current = f"{current} {item}" if current else item
    if current:
        lines.append(current)
    return "\n".join(lines)


def print_associations(assocs: list[Association], out: TextIO) -> None:
    out.write("ind assid status  conf reach auth condition  last_event cnt\n")
    out.write("=" * 59 + "\n")
    for index, a in enumerate(assocs, start=1):
        auth = ("ok" if a.authentic else "bad") if a.auth_enabled else "none"
        out.write(f"{index:3d} {a.assid:5d}  {a.status:04x}   {'yes' if a.configured else 'no':>3}  "
                  f"{'yes' if a.reachable else 'no':>4}  {auth:>4} {a.selection:>9} {a.last_event_name:>11} {a.event_count:2d}\n")


def print_variables(assid: int, variables: Variables, out: TextIO, header: bool) -> None:
    if header:
        out.write(f"associd={assid} status={variables.status:04x}\n")
    text = _wrap(list(variables))
    if text:
        out.write(text + "\n")


def _number(value: str | None, default: float = 0.0) -> float:
    if value is None:
        return default
    try:
        return float(int(value, 0)) if value.lower().startswith("0x") else float(value)
    except ValueError:
        return default


def print_peers(client: ControlClient, out: TextIO, now: float) -> None:
    out.write("     remote           refid      st t when poll reach   delay   offset  jitter\n")
    out.write("=" * 78 + "\n")
    for assoc in client.associations():
        v = client.read_peer(assoc.assid)
        hmode = int(_number(v.get("hmode"), 0))
        kind = {1: "s", 2: "s", 3: "u", 5: "B", 6: "B"}.get(hmode, "u")
        rec = v.get("rec") or "0x0.0"
        rec_seconds = int(rec.split(".")[0], 16) if rec.lower().startswith("0x") else 0
        when = "-" if not rec_seconds else str(max(0, int(now + NTP_UNIX_OFFSET - rec_seconds)))
        poll = 1 << int(_number(v.get("hpoll"), 6))
        reach = int(_number(v.get("reach"), 0))
        out.write(f"{TALLY[(assoc.status >> 8) & 7]}{(v.get('srcadr') or '?'):<15.15} {(v.get('refid') or '?'):<15.15} "
                  f"{int(_number(v.get('stratum'), 16)):2d} {kind} {when:>4} {poll:4d} {reach:5o} "
                  f"{_number(v.get('delay')):7.3f} {_number(v.get('offset')):+8.3f} {_number(v.get('jitter')):7.3f}\n")


def run_command(client: ControlClient, command: str, out: TextIO) -> None:
    """Run one -c command against the server, writing what ntpq would show."""
    words = command.replace(",", " ").split()
    if not words:
        raise ValueError("empty command")
    verb, args = words[0], words[1:]
    if verb in ("as", "associations"):
        print_associations(client.associations(), out)
    elif verb in ("rv", "readvar"):
        assid = int(args[0]) if args else 0
        names = args[1:] or None
        print_variables(assid, client.read_variables(assid, names), out, header=names is None)
    elif verb in ("peers", "pe"):
        print_peers(client, out, time.time())
    else:
        raise ValueError(f"unknown command {verb!r} (as, rv, peers)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ntpd-py-q", description="Query an NTP daemon over mode 6 (as ntpq).")
    parser.add_argument("-c", "--command", action="append", default=[], help="as | rv [ASSID] [NAMES] | peers")
    parser.add_argument("-p", "--port", type=int, default=123)
    parser.add_argument("-t", "--timeout", type=float, default=2.0)
    parser.add_argument("-n", "--numeric", action="store_true", help="accepted for ntpq compatibility")
    parser.add_argument("--prometheus", action="store_true", help="print Autokey metrics for node_exporter")
    parser.add_argument("host", nargs="*", default=["127.0.0.1"])
    args = parser.parse_args(argv)
    if args.prometheus:
        readings = [prometheus.collect(host, args.port, args.timeout) for host in args.host]
        sys.stdout.write(prometheus.render(readings))
        return 0 if all(reading.error is None for reading in readings) else 1
    if len(args.host) != 1:
        parser.error("one HOST (several only with --prometheus)")
    args.host = args.host[0]
    commands = args.command or ["peers"]
    try:
        with ControlClient(args.host, args.port, timeout=args.timeout) as client:
            for command in commands:
                run_command(client, command, sys.stdout)
    except ValueError as exc:
        print(f"ntpd-py-q: {exc}", file=sys.stderr)
        return 2
    except (ControlError, OSError) as exc:
        print(f"ntpd-py-q: {args.host}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
