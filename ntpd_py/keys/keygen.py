"""What ntp-keygen 4.2.8 does, as an API: `generate(options, keysdir, now)`.

One run, like one ntp-keygen invocation: generate what was asked for (host key, sign key, IFF, GQ, MV,
symmetric keys), load what exists for the rest, then write a fresh self-signed certificate (every run, as
ntp-keygen does), and produce the exports asked for with -e (client parameters) and -q (server keys).

Everything is computed in memory first and written through a `KeySetWriter`: a run that fails writes
nothing and never replaces an existing key or link.

Differences from stock 4.2.8p15 (see docs/keys.md): identity files use the traditional PEM forms that keep
every value; default modulus 2048 and identity modulus 512 bits; every file of a run carries the run's
filestamp; MV -V also writes the servers' ntpkey_mvkey file; the older guides' password forms are accepted.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from ..ntptime import SECONDS_PER_DAY, ntp_seconds
from ..symkeys import generate as symmetric
from .cert import (
    MAX_DER_BYTES,
    Certificate,
    CertificateError,
    SIGNATURE_SCHEMES,
    build_certificate,
    ntp_extensions,
    scheme_for,
)
from .files import (
    KeyFileError,
    KeySetWriter,
    WrongPassword,
    PRIVATE_MODE,
    PUBLIC_MODE,
    clean_stale_temporaries,
    header,
    key_file_name,
    link_name,
    parse_file_name,
)
from .identity import IdentityError, gq, iff, mv
from .pem import private_key_pem
from .permissions import directory_problems, permission_problems
from .store import load_certificate_file, load_identity_file, load_key_file, load_mv_authority, read_private_keys

DEFAULT_MODULUS = 2048
MIN_NEW_MODULUS = 1024
DEFAULT_IDENTITY_BITS = 512  # ntp-keygen's 256 fails on OpenSSL 3 (see vectors/iff/NOTES.md)
DEFAULT_LIFETIME_DAYS = 365


class KeygenError(Exception):
    """A key generation run that cannot proceed; nothing was written."""


@dataclass
class KeygenOptions:
    """ntp-keygen's options (letters in comments)."""

    host_key: bool = False  # -H
    sign_key: str | None = None  # -S RSA|DSA
    scheme: str | None = None  # -c RSA-MD5|RSA-SHA1|RSA-SHA256 (default: existing cert's, else RSA-MD5)
    modulus: int = DEFAULT_MODULUS  # -m
    identity_bits: int = DEFAULT_IDENTITY_BITS  # -b
    lifetime_days: int = DEFAULT_LIFETIME_DAYS  # -l
    host: str | None = None  # -s HOST[@GROUP]
    group: str | None = None  # -i GROUP
    trusted: bool = False  # -T
    private_cert: bool = False  # -P
    iff: bool = False  # -I
    gq: bool = False  # -G
    mv_keys: int | None = None  # -V N
    mv_client: int | None = None  # -v N: which MV client key -e exports (default 1)
    md5: bool = False  # -M
    export: bool = False  # -e
    password: str | None = None  # -p: local password (reads and writes this host's files)
    export_password: str | None = None  # -q: password of exported server keys (4.2.8 meaning)
    export_dir: Path | None = None  # write exports as files (with links) there instead of returning text
    write_certificate: bool = True


@dataclass
class KeygenResult:
    """What a run did."""

    files_written: list[Path]
    links: dict[str, str]
    filestamp: int
    cert_not_after: int | None
    certificate: Certificate | None = None
    exports: str = ""  # text ntp-keygen prints on stdout (-e / -q exports)
    export_files: dict[str, str] = field(default_factory=dict)  # the same exports by file name (in memory)
    messages: list[str] = field(default_factory=list)  # progress, as ntp-keygen prints on stderr
    notes: list[str] = field(default_factory=list)  # how ambiguous options were understood


@dataclass
class _Names:
    host: str
    group: str
    certname: str


@dataclass
class _Run:
    options: KeygenOptions
    keysdir: Path
    now: float
    names: _Names
    stamp: int
    read_password: str
    write_password: str
    export_password: str | None
    writer: KeySetWriter
    result: KeygenResult
    renewing: bool = False  # `-q PW` alone: a new certificate with the keys that exist, never new keys
    export_only: bool = False  # -e / -q exports without anything to generate: no host key, no certificate
    exports: list[tuple[str, str, int]] = field(default_factory=list)  # (file name, text, mode)

    def say(self, text: str) -> None:
        self.result.messages.append(text)

    def add(self, kind: str, owner: str, text: str, mode: int, links: list[str], replace: bool = False) -> str:
        """Stage ``ntpkey_<kind>_<owner>.<stamp>`` with its header and links; never overwrite a key file."""
        name = key_file_name(kind, owner, self.stamp)
        if (self.keysdir / name).exists() and not replace:
            raise KeygenError(f"{self.keysdir / name}: already exists (two runs in one second?); nothing written")
        self.writer.add_file(name, (header(name, self.now) + text).encode("ascii"), mode)
        for link in dict.fromkeys(links):
            self.writer.add_link(link, name)
            self.say(f"{link}->{name}")
        return name


_CLIENT_PARAMETERS = re.compile(r"^ntpkey_(?:iff|gq|mv)par_(?P<group>[^./]+)(?:\.\d+)?$")


def installed_group(keysdir: Path) -> str | None:
    """The trust group whose client parameters (ntpkey_iffpar_/gqpar_/mvpar_GROUP) are installed in `keysdir`,
    when there is exactly one: the group a host of this directory belongs to."""
    try:
        groups = {m["group"] for m in map(_CLIENT_PARAMETERS.match, os.listdir(keysdir)) if m is not None}
    except OSError:
        return None
    return groups.pop() if len(groups) == 1 else None


_GROUP_KEYS = ("IFFkey", "GQkey", "MVta")


def authority_group(keysdir: Path) -> str | None:
    """The group whose keys (ntpkey_IFFkey_/GQkey_/MVta_GROUP.<stamp>) `keysdir` holds, when there is one."""
    try:
        names = os.listdir(keysdir)
    except OSError:
        return None
    groups = {parsed[1] for parsed in map(parse_file_name, names) if parsed is not None and parsed[0] in _GROUP_KEYS}
    return groups.pop() if len(groups) == 1 else None


def _names(options: KeygenOptions) -> _Names:
    system = socket.gethostname()
    host = options.host or system
    group = options.group
    if "@" in host:
        host, _, at_group = host.partition("@")
        group = at_group or group
        host = host or system
    if not host or "/" in host or (group is not None and "/" in group):
        raise KeygenError(f"invalid host or group name {host!r}/{group!r}")
    certname = host if group is None else f"{host}@{group}"
    return _Names(host, group or host, certname)


def _present(path: Path) -> bool:
    """Whether a key file or link is there; a link that dangles or loops is an error naming it (a renewal or an
    export must never quietly take a missing key for "make a new one")."""
    if path.is_symlink():
        try:
            path.stat()
        except OSError as exc:
            target = os.readlink(path)
            why = "loops" if exc.errno == errno.ELOOP else f"points at {target!r}, which does not exist"
            raise KeygenError(f"{path}: broken link ({why}); restore the file it names, or remove the link to "
                              f"make new keys; nothing written") from None
        return True
    return path.exists()


def _first_private_file(keysdir: Path, names: _Names) -> Path | None:
    candidates = [link_name("host", names.host)] + [link_name(k, names.group) for k in ("iffkey", "gqkey", "mvta")]
    for candidate in candidates:
        if (keysdir / candidate).exists():
            return keysdir / candidate
    return None


def _can_read(path: Path, password: str) -> bool:
    try:
        read_private_keys(path, password)
    except KeyFileError:
        return False
    return True


def _renewing(options: KeygenOptions) -> bool:
    """`-q PW` without -p and without -e: the older guides' monthly renewal with the existing keys."""
    return options.export_password is not None and options.password is None and not options.export


def _generating(options: KeygenOptions) -> bool:
    return bool(options.host_key or options.sign_key or options.iff or options.gq or options.mv_keys
                or options.trusted or options.private_cert or options.md5)


def _passwords(options: KeygenOptions, keysdir: Path, names: _Names, notes: list[str]) -> tuple[str, str, str | None]:
    """(read password, write password, export password), accepting the older guides' -q/-p forms."""
    p, q = options.password, options.export_password
    generating = options.host_key or options.iff or options.gq or options.mv_keys or options.sign_key
    if _renewing(options):
        notes.append(
            "note: -q without -p: taken as this host's key password (the older guides' meaning, e.g. the "
            "monthly `ntp-keygen -q PW` renewal); nothing is exported"
        )
        return q, q, None
    if options.export and q is not None:
        existing = _first_private_file(keysdir, names)
        if p is None:
            notes.append(
                "note: -e -q PW without -p: PW taken as the password of the keys to export from "
                "(older guides); client parameters are written unencrypted"
            )
            return q, q, None
        if existing is not None and not _can_read(existing, p) and _can_read(existing, q):
            notes.append(
                f"note: read the keys with the -q password (the older guides' `-e -q serverpw -p clientpw` form; "
                f"ntp-keygen 4.2.8 reads with -p and fails here). Client parameters are written unencrypted, "
                f"as 4.2.8 clients read them without a password, so -p {p!r} was not used"
            )
            return q, q, None
    local = p if p is not None else names.host
    if p is None and generating:
        notes.append(f"note: no -p given: private files are encrypted with the host name {names.host!r}, as ntp-keygen does")
    return local, local, q


def generate(options: KeygenOptions, keysdir: str | os.PathLike[str], now: float) -> KeygenResult:
    """Run ntp-keygen with `options` in `keysdir` at Unix time `now`; raises KeygenError (nothing written)."""
    keysdir = Path(keysdir)
    if not keysdir.is_dir():
        raise KeygenError(f"{keysdir}: keys directory does not exist")
    for problem in directory_problems(keysdir.absolute()):
        raise KeygenError(f"{problem}; nothing written")
    if options.export_dir is not None and not Path(options.export_dir).is_dir():
        raise KeygenError(f"{options.export_dir}: export directory does not exist")
    stamp = ntp_seconds(now)
    result = KeygenResult([], {}, stamp, None)
    names = _names(options)
    read_pw, write_pw, export_pw = _passwords(options, keysdir, names, result.notes)
    for problem in permission_problems(keysdir.absolute()):  # private keys others may read: said, not refused
        result.notes.append(f"warning: {problem}")
    for leftover in clean_stale_temporaries(keysdir.absolute(), now):
        result.notes.append(f"note: removed {leftover}, left behind by an interrupted run")
    run = _Run(options, keysdir, now, names, stamp, read_pw, write_pw, export_pw, KeySetWriter(keysdir), result,
               renewing=_renewing(options),
               export_only=(options.export or export_pw is not None) and not _generating(options))
    try:
        _run(run)
    except KeygenError:
        raise
    except (KeyFileError, IdentityError, CertificateError, ValueError) as exc:
        raise KeygenError(str(exc)) from None
    except OSError as exc:
        raise KeygenError(f"{exc.filename or keysdir}: {exc.strerror or exc}") from None
    return result


def _run(run: _Run) -> None:
    options, names = run.options, run.names
    run.say(f"Using host {names.host} group {names.group}")
    if options.md5:
        body = symmetric.keys_file_body()
        run.add(symmetric.FILE_KIND, names.group, body, PRIVATE_MODE, [symmetric.LINK_NAME])
        _commit(run)
        return

    previous = _previous_certificate(run)
    purpose = "trust" if options.trusted else "private" if options.private_cert else None
    certname = names.certname
    if purpose is None and previous is not None and (previous.trusted or previous.private):
        purpose = "trust" if previous.trusted else "private"
        certname = previous.subject
    elif (previous is not None and options.group is None and "@" not in (options.host or "")
          and previous.subject.partition("@")[0] == names.host):
        certname = previous.subject  # a renewal naming no group keeps the group of the certificate it renews
    scheme_for(options.scheme or "RSA-MD5")  # reject an unknown -c before doing any work

    write_certificate = options.write_certificate and not run.export_only  # exports read, never write keys
    needs_keys = write_certificate or options.host_key or options.sign_key is not None
    host_key = _host_key(run) if needs_keys else None  # export-only API runs touch no host key
    sign_key = _sign_key(run, host_key) if needs_keys else None
    is_dsa = isinstance(sign_key, dsa.DSAPrivateKey)
    scheme = options.scheme or (previous.scheme if previous else ("DSA-SHA1" if is_dsa else "RSA-MD5"))
    if options.scheme is None and is_dsa and scheme.startswith("RSA"):
        scheme = "DSA-SHA1"
    signature_algorithm = scheme_for(scheme)
    gq_params = _gq(run)
    found_iff = _iff(run)
    found_mv = _mv(run)
    if options.export and gq_params is None and found_iff is None and found_mv is None:
        raise KeygenError(
            f"-e: no identity keys of group {names.group!r} in {run.keysdir} (ntpkey_iffkey_/gqkey_/mvta_"
            f"{names.group}); name the group with -s HOST@GROUP or -i GROUP; nothing written"
        )

    certificate = None
    if write_certificate:
        certificate = _certificate(run, sign_key, signature_algorithm, purpose, certname, gq_params)
    _commit(run)
    run.result.certificate = certificate
    run.result.cert_not_after = certificate.not_after if certificate else None


def _commit(run: _Run) -> None:
    export_writer = None
    if run.exports and run.options.export_dir is not None:
        export_dir = Path(run.options.export_dir)
        export_writer = KeySetWriter(export_dir)
        for name, text, mode in run.exports:
            export_writer.add_file(name, text.encode("ascii"), mode)
            export_writer.add_link(name.rsplit(".", 1)[0], name)
    run.writer.check()
    if export_writer is not None:
        export_writer.check()
    run.result.files_written = run.writer.commit()
    run.result.links = dict(run.writer.links)
    if export_writer is not None:
        run.result.files_written += export_writer.commit()
        run.result.links.update({str(export_dir / k): v for k, v in export_writer.links.items()})
    else:
        run.result.exports = "".join(text for _, text, _ in run.exports)
    run.result.export_files = {name: text for name, text, _ in run.exports}


def _previous_certificate(run: _Run) -> Certificate | None:
    path = run.keysdir / link_name("cert", run.names.host)
    if not _present(path):
        return None
    try:
        return load_certificate_file(path).value
    except KeyFileError as exc:
        run.result.notes.append(f"note: ignoring unreadable previous certificate: {exc}")
        return None


def _new_rsa(bits: int, what: str) -> rsa.RSAPrivateKey:
    if bits < MIN_NEW_MODULUS:
        raise KeygenError(
            f"-m {bits}: new {what} keys need at least {MIN_NEW_MODULUS} bits (512-bit keys from ntp-keygen still load)"
        )
    return rsa.generate_private_key(65537, bits)


def _host_key(run: _Run) -> Any:
    names, options = run.names, run.options
    path = run.keysdir / link_name("host", names.host)
    if not options.host_key and _present(path):
        loaded = load_key_file(path, run.read_password)
        if not isinstance(loaded.value, rsa.RSAPrivateKey):
            raise KeygenError(f"{path}: host key is not an RSA key")
        run.say(f"Using host key {loaded.path.name}")
        return loaded.value
    if not options.host_key and run.renewing:
        raise KeygenError(f"{path}: no host key to renew the certificate with (-q PW renews with the existing "
                          f"keys and never makes new ones); make a new host key with -H; nothing written")
    run.say(f"Generating RSA keys ({options.modulus} bits)...")
    key = _new_rsa(options.modulus, "host")
    run.say("Generating new host file and link")
    run.add("RSAhost", names.host, private_key_pem(key, run.write_password), PRIVATE_MODE, [link_name("host", names.host)])
    return key


def _sign_key(run: _Run, host_key: Any) -> Any:
    names, options = run.names, run.options
    if options.sign_key is not None:
        kind = options.sign_key.upper()
        if kind == "RSA":
            run.say(f"Generating RSA keys ({options.modulus} bits)...")
            key: Any = _new_rsa(options.modulus, "sign")
        elif kind == "DSA":
            if options.modulus not in (1024, 2048, 3072):
                raise KeygenError(f"-S DSA: modulus must be 1024, 2048 or 3072 bits, not {options.modulus}")
            run.say(f"Generating DSA parameters ({options.modulus} bits)...")
            key = dsa.generate_private_key(options.modulus)
        else:
            raise KeygenError(f"-S {options.sign_key}: sign key type must be RSA or DSA")
        run.say("Generating new sign file and link")
        run.add(f"{kind}sign", names.host, private_key_pem(key, run.write_password), PRIVATE_MODE, [link_name("sign", names.host)])
        return key
    path = run.keysdir / link_name("sign", names.host)
    if _present(path):
        loaded = load_key_file(path, run.read_password)
        run.say(f"Using sign key {loaded.path.name}")
        return loaded.value
    run.say("Using host key as sign key")
    return host_key


def _identity_links(run: _Run, kind: str) -> list[str]:
    """ntp-keygen links ``ntpkey_<kind>_<host>``; ntpd with ``crypto ident GROUP`` opens ``..._<group>``."""
    return [link_name(kind, run.names.host), link_name(kind, run.names.group)]


def _load_existing(run: _Run, kind: str, scheme: str) -> tuple[Any, int | None] | None:
    for name in dict.fromkeys([run.names.group, run.names.host]):
        path = run.keysdir / link_name(kind, name)
        if _present(path):
            try:
                loaded = load_identity_file(path, scheme, True, run.read_password)
            except WrongPassword as exc:
                if run.options.export or run.export_password is not None:
                    raise
                # a group server's installed group key may have another password: this run needs none of it
                run.result.notes.append(f"note: {scheme.upper()} group key not read ({exc}); not needed here")
                return None
            run.say(f"Using {scheme.upper()} keys {loaded.path.name}")
            return loaded.value, loaded.filestamp
    return None


def _export(run: _Run, kind: str, stamp: int | None, text: str, mode: int) -> None:
    name = key_file_name(kind, run.names.group, stamp if stamp is not None else run.stamp)
    target = "the export directory" if run.options.export_dir is not None else "stdout"
    run.say(f"Writing {kind} {name} to {target}")
    run.exports.append((name, header(name, run.now) + text, mode))


@dataclass(frozen=True)
class _IdentityScheme:
    """What differs between ntp-keygen's GQ (-q) and IFF (-I) runs: names, messages and the parameter module."""

    name: str  # "gq": the load kind and the file prefix (gqkey, gqpar)
    title: str  # "GQ": file header kind is TITLE + "key"
    generating: str  # what ntp-keygen says it generates
    confirm: str  # the relation ntp-keygen says it checked
    module: Any  # generate(bits) -> params with dump(password) and client()


_GQ = _IdentityScheme("gq", "GQ", "GQ parameters", "Confirm u^b (u^-1)^b = 1 mod n: yes", gq)
_IFF = _IdentityScheme("iff", "IFF", "IFF keys", "Confirm g^(q - b) g^b = 1 mod p: yes", iff)


def _identity_params(run: _Run, scheme: _IdentityScheme, generate_new: bool) -> Any:
    """New parameters (when asked) or the installed ones, then the exports asked for; None when there are none."""
    stamp: int | None = run.stamp
    key = f"{scheme.name}key"
    if generate_new:
        run.say(f"Generating {scheme.generating} ({run.options.identity_bits} bits)...")
        params = scheme.module.generate(run.options.identity_bits)
        run.say(scheme.confirm)
        run.say(f"Generating new {key} file and link")
        run.add(f"{scheme.title}key", run.names.group, params.dump(run.write_password), PRIVATE_MODE,
                _identity_links(run, key))
    else:
        existing = _load_existing(run, key, scheme.name)
        if existing is None:
            return None
        params, stamp = existing
    if run.options.export:
        _export(run, f"{scheme.name}par", stamp, params.client().dump(None), PUBLIC_MODE)
    if run.export_password is not None:
        _export(run, key, stamp, params.dump(run.export_password), PRIVATE_MODE)
    return params


def _gq(run: _Run) -> gq.GqParams | None:
    return _identity_params(run, _GQ, run.options.gq)


def _iff(run: _Run) -> iff.IffParams | None:
    return _identity_params(run, _IFF, run.options.iff)


def _mv(run: _Run) -> mv.MvTrustedAuthority | None:
    options = run.options
    stamp: int | None = run.stamp
    if options.mv_keys is not None:
        bits = options.identity_bits
        run.say(f"Generating MV parameters for {options.mv_keys} keys ({bits // max(options.mv_keys, 1)} bits)...")
        authority = mv.generate(options.mv_keys, bits)
        for number in authority.revoked():
            run.say(f"Revoke key {number}")
        run.say("Generating new mvta file and link")
        run.add("MVta", run.names.group, authority.dump(run.write_password), PRIVATE_MODE, _identity_links(run, "mvta"))
        run.say("Generating new mvkey file and link")
        run.add("mvkey", run.names.group, authority.server.dump(run.write_password), PRIVATE_MODE, _identity_links(run, "mvkey"))
    else:
        authority = None
        for name in dict.fromkeys([run.names.group, run.names.host]):
            path = run.keysdir / link_name("mvta", name)
            if _present(path):
                loaded = load_mv_authority(path, run.read_password)
                authority, stamp = loaded.value, loaded.filestamp
                run.say(f"Using MV keys {loaded.path.name}")
                break
        if authority is None:
            if options.mv_client is not None:
                raise KeygenError(f"-v {options.mv_client}: no MV trusted-authority file ntpkey_mvta_{run.names.group}")
            return None
    if options.export:
        number = options.mv_client or 1
        if not 1 <= number <= len(authority.clients):
            raise KeygenError(f"-v {number}: MV client keys are numbered 1..{len(authority.clients)}")
        if number in authority.revoked():
            raise KeygenError(f"-v {number}: MV client key {number} is revoked")
        _export(run, "mvpar", stamp, authority.clients[number - 1].dump(None), PUBLIC_MODE)
    if run.export_password is not None:
        _export(run, "mvkey", stamp, authority.server.dump(run.export_password), PRIVATE_MODE)
    return authority


def _certificate(
    run: _Run,
    sign_key: Any,
    signature_algorithm: str,
    purpose: str | None,
    certname: str,
    gq_params: gq.GqParams | None,
) -> Certificate:
    options = run.options
    _, _, digest, scheme_name = SIGNATURE_SCHEMES[signature_algorithm]
    key_kind = "rsa" if isinstance(sign_key, rsa.RSAPrivateKey) else "dsa"
    if not signature_algorithm.endswith(key_kind):
        raise KeygenError(f"-c {scheme_name}: does not match the {key_kind.upper()} sign key (use -c {key_kind.upper()}-SHA1)")
    run.say(f"Generating new certificate {certname} {scheme_name}")
    not_before = int(run.now)
    certificate = build_certificate(
        subject=certname,
        public_key=sign_key.public_key(),
        issuer=certname,
        signing_key=sign_key,
        digest=digest,
        serial=ntp_seconds(run.now),
        not_before=not_before,
        not_after=not_before + options.lifetime_days * SECONDS_PER_DAY,
        extensions=ntp_extensions(purpose, gq_params.v if gq_params is not None else None),
    )
    if len(certificate.der) > MAX_DER_BYTES:
        raise KeygenError(
            f"certificate is {len(certificate.der)} bytes of DER, more than the {MAX_DER_BYTES} ntpd accepts; use a smaller -m"
        )
    if not certificate.verify(sign_key.public_key()):
        raise KeygenError("certificate does not verify with the sign key")
    run.say("X509v3 Basic Constraints: critical,CA:TRUE")
    run.say("X509v3 Key Usage: digitalSignature,keyCertSign")
    if gq_params is not None:
        run.say("X509v3 Subject Key Identifier")
    if purpose is not None:
        run.say(f"X509v3 Extended Key Usage: {'trustRoot' if purpose == 'trust' else 'private'}")
    run.say("Generating new cert file and link")
    # a certificate of the same second may be replaced (ntp-keygen rewrites it on every run); keys never
    run.add(f"{scheme_name}cert", run.names.host, certificate.pem(), PUBLIC_MODE, [link_name("cert", run.names.host)], replace=True)
    return certificate
