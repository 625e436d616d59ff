"""``ntpd-py-keygen``: ntp-keygen 4.2.8's command line over `ntpd_py.keys.keygen`.

Writes into the current directory (or --keysdir), progress and notes on stderr, exports (-e, -q) on stdout,
exactly as ntp-keygen does, so the guides' ``ntp-keygen -e -p pw > file`` recipes work unchanged.
Exit status 0 on success, 1 on error (and then nothing was written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..ntptime import unix_now
from .files import link_name
from .keygen import (
    DEFAULT_IDENTITY_BITS,
    DEFAULT_LIFETIME_DAYS,
    DEFAULT_MODULUS,
    KeygenError,
    KeygenOptions,
    generate,
    authority_group,
    installed_group,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntpd-py-keygen",
        description="Create NTP Autokey key material compatible with ntp-keygen 4.2.8 and reference ntpd.",
    )
    add = parser.add_argument
    add("-H", "--host-key", action="store_true", help="generate a new RSA host key")
    add("-S", "--sign-key", metavar="RSA|DSA", help="generate a sign key")
    add("-c", "--certificate", metavar="SCHEME", help="certificate scheme: RSA-MD5 (default), RSA-SHA1, RSA-SHA256")
    add("-m", "--modulus", type=int, default=DEFAULT_MODULUS, metavar="BITS", help=f"host/sign key modulus (default {DEFAULT_MODULUS})")
    add("-b", "--imbits", type=int, default=DEFAULT_IDENTITY_BITS, metavar="BITS", help=f"identity modulus (default {DEFAULT_IDENTITY_BITS})")
    add("-l", "--lifetime", type=int, default=DEFAULT_LIFETIME_DAYS, metavar="DAYS", help="certificate lifetime in days (default 365)")
    add("-s", "--subject-name", metavar="HOST[@GROUP]", help="host (subject) name; default: this host's name")
    add("-i", "--ident", metavar="GROUP", help="group (issuer) name of identity files")
    add("-T", "--trusted-cert", action="store_true", help="trusted certificate (trustRoot)")
    add("-P", "--pvt-cert", action="store_true", help="private certificate (PC scheme)")
    add("-I", "--iffkey", action="store_true", help="generate IFF parameters")
    add("-G", "--gq-params", action="store_true", help="generate GQ parameters")
    add("-V", "--mv-params", type=int, metavar="N", help="generate MV parameters with N keys (key N revoked)")
    add("-v", "--mv-keys", type=int, metavar="N", help="MV client key that -e exports (default 1)")
    add("-M", "--md5key", action="store_true", help="generate the MD5/SHA1 symmetric keys file (ntp.keys)")
    add("-e", "--id-key", action="store_true", help="write the client identity parameters (iffpar/gqpar/mvpar) to stdout")
    add("-p", "--password", metavar="PW", help="password of this host's private files (default: host name)")
    add("-q", "--export-passwd", metavar="PW", help="export server identity keys encrypted with PW (see docs for the older guides' meaning)")
    add("-d", "--debug-level", action="count", default=0, help="more output")
    add("--keysdir", type=Path, default=Path("."), help="directory to write (default: current directory)")
    add("--export-dir", type=Path, help="write -e/-q exports as files with links into this directory instead of stdout")
    add("--now", type=float, help=argparse.SUPPRESS)
    return parser


def options_from_args(args: argparse.Namespace) -> KeygenOptions:
    """KeygenOptions for parsed command-line arguments."""
    return KeygenOptions(
        host_key=args.host_key,
        sign_key=args.sign_key,
        scheme=args.certificate,
        modulus=args.modulus,
        identity_bits=args.imbits,
        lifetime_days=args.lifetime,
        host=args.subject_name,
        group=args.ident,
        trusted=args.trusted_cert,
        private_cert=args.pvt_cert,
        iff=args.iffkey,
        gq=args.gq_params,
        mv_keys=args.mv_params,
        mv_client=args.mv_keys,
        md5=args.md5key,
        export=args.id_key,
        password=args.password,
        export_password=args.export_passwd,
        export_dir=args.export_dir,
    )


def default_group(options: KeygenOptions, keysdir: Path) -> tuple[str, str] | None:
    """(group, where it came from) when none is named and `keysdir` says which: for an export (-e), the one
    group whose keys the directory holds; for a new host key or certificate, the one group whose client
    parameters are installed (a renewal keeps its subject)."""
    if options.group is not None or "@" in (options.host or ""):
        return None
    if options.export:
        group = authority_group(keysdir)
        return (group, "the group keys in") if group is not None else None
    if options.host is None:
        return None
    if not options.host_key and (keysdir / link_name("cert", options.host)).exists():
        return None
    group = installed_group(keysdir)
    return (group, "the client parameters installed in") if group is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.lifetime <= 0:
        parser.error("-l: lifetime must be a positive number of days")
    if args.imbits < 256 or args.imbits > 4096:
        parser.error("-b: identity modulus must be 256..4096 bits")
    now = args.now if args.now is not None else unix_now()
    options = options_from_args(args)
    found = default_group(options, args.keysdir)
    if found is not None:
        options.group, origin = found
        subject = f" (subject {options.host}@{options.group})" if options.host and not options.export else ""
        print(f"ntpd-py-keygen: note: group {options.group!r} taken from {origin} {args.keysdir}{subject}; "
              f"name it with -s HOST@GROUP or -i GROUP", file=sys.stderr)
    try:
        result = generate(options, args.keysdir, now)
    except KeygenError as exc:
        print(f"ntpd-py-keygen: error: {exc}", file=sys.stderr)
        print("ntpd-py-keygen: nothing was written", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"ntpd-py-keygen: {note}", file=sys.stderr)
    for message in result.messages:
        print(message, file=sys.stderr)
    if args.debug_level and result.certificate is not None:
        cert = result.certificate
        print(
            f"certificate subject={cert.subject} issuer={cert.issuer} serial={cert.serial} "
            f"until={cert.until} {cert.signature_name} ({len(cert.der)} bytes)",
            file=sys.stderr,
        )
    if result.exports:
        sys.stdout.write(result.exports)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
