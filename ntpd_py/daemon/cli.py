"""`ntpd-py`: the daemon's command line, as ntpd's where it overlaps.

    ntpd-py -c FILE [-n] [-p PIDFILE] [-l LOGFILE] [-D LEVEL] [--version]
    ntpd-py --check -c FILE     # parse FILE and the files it names; print FILE:LINE problems; exit 1 on any
"""

from __future__ import annotations

import argparse
import os
import sys

from ..autokey.leapfile import LeapFileError
from ..autokey.leapfile import load as load_leapfile
from .main import DEBUG_ECHO, Daemon, DaemonError, run_daemon, version_string

DEFAULT_CONFIG = "/etc/ntp.conf"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ntpd-py", description="NTPv4 daemon (ntpd 4.2.8 compatible subset).")
    p.add_argument("-c", "--configfile", default=DEFAULT_CONFIG, help="configuration file (default /etc/ntp.conf)")
    p.add_argument("-n", "--nofork", action="store_true", help="stay in the foreground")
    p.add_argument("-p", "--pidfile", help="write the process id here; removed at exit")
    p.add_argument("-l", "--logfile", help="log here (overrides the logfile directive)")
    p.add_argument("-D", "--set-debug-level", dest="debug", type=int, default=0, metavar="LEVEL",
                   help="debug level: 1 echoes the log to stderr and stays in the foreground (as ntpd -d), "
                        "2 also logs every statistics record")
    p.add_argument("--check", action="store_true", help="check the configuration and exit")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def check_config(path: str) -> int:
    """Print every problem of the configuration and the files it names; 0 when there is none."""
    from ..symkeys.keyfile import KeyFileError, read_keys_file
    from ..config.parser import parse_file

    try:
        result = parse_file(path)
    except OSError as exc:
        print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    problems = [str(d) for d in result.diagnostics]
    config = result.config
    if config.keys:
        try:
            keys = read_keys_file(config.keys)
        except KeyFileError as exc:
            problems.append(f"{exc}")
        except OSError as exc:
            origin = config.origins.get("keys")
            where = f"{origin}: " if origin else ""
            problems.append(f"{where}error: keys file {config.keys}: {exc.strerror or exc}")
        else:
            for keyid in sorted(config.trustedkeys - set(keys)):
                origin = config.origins.get("trustedkeys") or config.origins.get("trustedkey")
                where = f"{origin}: " if origin else ""
                problems.append(f"{where}warning: trustedkey {keyid} is not in {config.keys}")
    problems.extend(_check_named_files(config))
    from .main import key_permission_problems

    for problem in key_permission_problems(config, keys_file=False):
        origin = config.origins.get("keysdir") or config.origins.get("crypto")
        problems.append(f"{origin}: error: {problem}" if origin else f"error: {problem}")
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"{path}: OK")
    return 1 if problems else 0


def _where(config, name: str) -> str:
    origin = config.origins.get(name)
    return f"{origin}: " if origin else ""


def _check_named_files(config) -> list[str]:
    """Directories the daemon writes into must exist; a leap file that is there must parse. The keys
    directory and a missing leap file are not errors here: deployment installs them after ntp.conf, and the
    daemon reports them (with file and line) when it starts."""
    problems = []
    for name in ("statsdir",):
        path = getattr(config, name)
        if path and not os.path.isdir(path):
            problems.append(f"{_where(config, name)}error: {name} {path}: not a directory")
    for name in ("driftfile", "logfile"):
        path = getattr(config, name)
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            problems.append(f"{_where(config, name)}error: {name} {path}: its directory does not exist")
    if config.leapfile and os.path.exists(config.leapfile):
        try:
            load_leapfile(config.leapfile, require_hash=False)
        except OSError as exc:
            problems.append(f"{_where(config, 'leapfile')}error: leapfile {config.leapfile}: {exc.strerror or exc}")
        except LeapFileError as exc:
            problems.append(f"{_where(config, 'leapfile')}error: {exc}")
    return problems


def _daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        print(version_string())
        return 0
    if args.check:
        return check_config(args.configfile)
    try:
        daemon = Daemon(args.configfile, logfile=args.logfile, pidfile=args.pidfile, debug=args.debug)
    except DaemonError as exc:
        print(f"ntpd-py: {exc}", file=sys.stderr)
        return 1
    if not (args.nofork or args.debug >= DEBUG_ECHO):
        _daemonize()
    try:
        run_daemon(daemon)
    except DaemonError as exc:
        daemon.log(str(exc))
        print(f"ntpd-py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
