# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""The ntp_keygen module's backend, shaped as community.crypto's privatekey backend.

`KeygenBackend(params, now)`: `needs_regeneration()` inspects the keys directory and decides (through the pure
keygen_plan rules), `needs_reencryption()` finds key files still encrypted with `previous_password`,
`reencrypt()` and `generate()` write, `dump()` returns the module result. Nothing here talks to Ansible except
through the exceptions it raises; the module is glue. ntpd_py is used only after check_ntpd_py passed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time

from ansible_collections.autokey.ntp.plugins.module_utils import keygen_plan as plan_rules
from ansible_collections.autokey.ntp.plugins.module_utils import ntpd_py_import as ntpd

DAY = 86400
SCHEMES = ("RSA-MD5", "RSA-SHA1", "RSA-SHA256")  # ntp_keygen's `scheme` choices
# Key files a host reads with its own password: its host and sign keys, and the identity keys of its group.
PRIVATE_HOST_KINDS = ("host", "sign")
PRIVATE_GROUP_KINDS = ("iffkey", "gqkey", "mvta", "mvkey")
MODULUS_SCHEMES = ("iff", "gq")  # the identity schemes whose modulus `identity_modulus` sets (MV: its own sizes)


class KeygenBackendError(Exception):
    """Key generation or re-encryption failed; nothing was replaced."""


class WrongPassword(Exception):
    """A key file that exists but opens with none of the passwords given: never a reason to replace keys."""


def checksums(paths: list[str]) -> dict[str, str]:
    """SHA-1 of each file by its name (as ansible.builtin.stat's checksum): a copy elsewhere (the group keys
    published on the controller) is compared without another module run, even after a re-encryption that kept
    the file's name."""
    sums = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                sums[os.path.basename(path)] = hashlib.sha1(handle.read()).hexdigest()
        except OSError:
            continue
    return sums


def iso_utc(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def scheme_nid(scheme: str) -> int:
    """The signature NID of an ntp-keygen -c name, from ntpd_py's certificate table."""
    return ntpd.key_cert.SIGNATURE_SCHEMES[ntpd.key_cert.scheme_for(scheme)][0]


class KeysDirectory:
    """What the keys directory holds for these options, read through ntpd_py's KeyStore."""

    def __init__(self, params: dict, now: float) -> None:
        self.params = params
        self.now = now
        self.keysdir = params["keysdir"]
        self.host = params["host"]
        self.group = params["group"] or self.host
        self.store = ntpd.key_store.KeyStore(self.keysdir, host=self.host, password=params["password"],
                                             group=self.group)
        self._host_key = None

    def host_key(self):
        """The host key, read once per inspection: loading a 2048-bit key costs about 30 ms (OpenSSL checks it), and
        the certificate's check reads it again as the sign key when there is no sign link (KeyStore.sign_key)."""
        if self._host_key is None:
            self._host_key = self.store.host_key()
        return self._host_key

    def sign_key(self):
        if os.path.exists(os.path.join(self.keysdir, ntpd.key_files.link_name("sign", self.host))):
            return self.store.sign_key()
        return self.host_key()

    def link_name(self, piece: str) -> str:
        if piece == plan_rules.HOST:
            return ntpd.key_files.link_name("host", self.host)
        if piece == plan_rules.CERT:
            return ntpd.key_files.link_name("cert", self.host)
        if piece == plan_rules.SYMMETRIC:
            return ntpd.symmetric.LINK_NAME
        return ntpd.key_files.link_name("%skey" % piece, self.group)

    def link_path(self, piece: str) -> str:
        return os.path.join(self.keysdir, self.link_name(piece))

    def pieces(self) -> list[str]:
        wanted = [plan_rules.HOST, plan_rules.CERT] + list(self.params["identity"])
        if self.params["symmetric_keys"]:
            wanted.append(plan_rules.SYMMETRIC)
        return wanted

    def inspect(self, piece: str) -> plan_rules.Finding:
        link = self.link_path(piece)
        if not os.path.lexists(link):
            return plan_rules.Finding(piece, plan_rules.MISSING, link, "no %s" % link)
        if not os.path.exists(link):
            return plan_rules.Finding(piece, plan_rules.MISSING, link, "%s points at a missing file" % link)
        path = os.path.realpath(link)
        try:
            if piece == plan_rules.HOST:
                return self._inspect_host(path)
            if piece == plan_rules.CERT:
                return self._inspect_cert(path)
            if piece == plan_rules.SYMMETRIC:
                return plan_rules.Finding(piece, plan_rules.OK, path)
            return self._inspect_identity(piece, path)
        except ntpd.key_files.WrongPassword as exc:
            raise WrongPassword(str(exc)) from None
        except ntpd.key_files.KeyFileError as exc:
            return plan_rules.Finding(piece, plan_rules.INVALID, path, str(exc))
        except (ValueError, TypeError, OSError) as exc:
            return plan_rules.Finding(piece, plan_rules.INVALID, path, "%s: %s" % (path, exc))

    def _inspect_host(self, path: str) -> plan_rules.Finding:
        size = self.host_key().value.key_size
        if size != self.params["modulus"]:
            return plan_rules.Finding(plan_rules.HOST, plan_rules.MISMATCH, path,
                                      "the host key has %d bits, modulus asks for %d" % (size, self.params["modulus"]))
        return plan_rules.Finding(plan_rules.HOST, plan_rules.OK, path)

    def expected_subject(self) -> str:
        """ntp-keygen's certificate name: host, or host@group with -i."""
        return self.host if self.params["group"] is None else "%s@%s" % (self.host, self.params["group"])

    def _inspect_cert(self, path: str) -> plan_rules.Finding:
        cert = self.store.certificate().value
        piece = plan_rules.CERT
        problems = []
        if cert.signature_nid != scheme_nid(self.params["scheme"]):
            problems.append("signed with %s, scheme asks for %s" % (cert.signature_name, self.params["scheme"]))
        # A trusted or private certificate keeps its kind and name on renewal (ntp-keygen's update mode), so only
        # a missing kind is a mismatch.
        kept_kind = (cert.trusted and not self.params["trusted"]) or (cert.private and not self.params["private_certificate"])
        if not kept_kind and cert.subject != self.expected_subject():
            problems.append("subject %s, host and group ask for %s" % (cert.subject, self.expected_subject()))
        if self.params["trusted"] and not cert.trusted:
            problems.append("not trusted, trusted=true asks for a trusted certificate")
        if self.params["private_certificate"] and not cert.private:
            problems.append("not private, private_certificate=true asks for a private certificate")
        try:
            signer = self.sign_key().value.public_key()
            if cert.public_key.public_numbers() != signer.public_numbers():
                problems.append("it does not hold the public key of the host (sign) key")
        except ntpd.key_files.KeyFileError:
            pass  # the host key's own finding reports it
        if problems:
            return plan_rules.Finding(piece, plan_rules.MISMATCH, path, "; ".join(problems))
        if self.now < cert.not_before:
            return plan_rules.Finding(piece, plan_rules.EXPIRING, path, "not valid before %s" % iso_utc(cert.not_before))
        if cert.not_after - self.now < self.params["renew_before_days"] * DAY:
            verb = "expired" if cert.not_after <= self.now else "expires"
            return plan_rules.Finding(piece, plan_rules.EXPIRING, path, "%s %s, within renew_before_days=%d"
                                      % (verb, iso_utc(cert.not_after), self.params["renew_before_days"]))
        return plan_rules.Finding(piece, plan_rules.OK, path)

    def _inspect_identity(self, piece: str, path: str) -> plan_rules.Finding:
        params = self.store.server_identity(piece, self.group).value
        if piece in MODULUS_SCHEMES and params.modulus_bits != self.params["identity_modulus"]:
            return plan_rules.Finding(piece, plan_rules.MISMATCH, path,
                                      "%s parameters have %d bits, identity_modulus asks for %d"
                                      % (piece.upper(), params.modulus_bits, self.params["identity_modulus"]))
        return plan_rules.Finding(piece, plan_rules.OK, path)

    def links(self) -> dict[str, str]:
        """Managed link name -> target, for the links that exist."""
        found = {}
        for piece in self.pieces():
            target = ntpd.key_files.link_target(self.link_path(piece))
            if target is not None:
                found[self.link_name(piece)] = target
        return found

    def other_links(self) -> dict[str, dict[str, str]]:
        """Every other ntpkey_ link of the directory (files received from elsewhere, such as the group's identity
        parameters): the file it points at, with that file's SHA-256 and mode. With it a role can tell that a received
        file is already in place (ntp_key_install's own test: same bytes, same link, same mode) without a module run
        of its own per file."""
        managed = set(self.links())
        found: dict[str, dict[str, str]] = {}
        try:
            entries = sorted(os.listdir(self.keysdir))
        except OSError:
            return found
        for name in entries:
            link = os.path.join(self.keysdir, name)
            if not name.startswith("ntpkey_") or name in managed or not os.path.islink(link):
                continue
            target = os.readlink(link)
            entry = {"target": target}
            path = os.path.join(self.keysdir, target)
            if "/" not in target and os.path.isfile(path) and not os.path.islink(path):
                try:
                    with open(path, "rb") as handle:
                        entry["sha256"] = hashlib.sha256(handle.read()).hexdigest()
                    entry["mode"] = "%04o" % stat.S_IMODE(os.stat(path).st_mode)
                except OSError:
                    pass
            found[name] = entry
        return found

    def private_files(self) -> dict[str, tuple[str, bool]]:
        """The distinct files behind this host's private-key links: file -> (link, managed).

        The host and sign keys, and the group's identity keys when this run manages them (`identity`), are
        managed: one that opens with no password given is an error. Group keys installed from elsewhere (a group
        server's copy of the group key) are re-encrypted when they open with the previous password, else left.
        """
        names = [(ntpd.key_files.link_name(kind, self.host), True) for kind in PRIVATE_HOST_KINDS]
        names += [(ntpd.key_files.link_name(kind, self.group), bool(self.params["identity"]))
                  for kind in PRIVATE_GROUP_KINDS]
        files: dict[str, tuple[str, bool]] = {}
        for name, managed in names:
            path = os.path.join(self.keysdir, name)
            if os.path.exists(path):
                files.setdefault(os.path.realpath(path), (name, managed))
        return files

    def certificate(self):
        """The certificate as loaded now (a fresh read), or None."""
        try:
            return self.store.certificate()
        except (ntpd.key_files.KeyFileError, ValueError, OSError):
            return None


def opens_with(path: str, password: str | None) -> bool:
    """True when every encrypted block of the key file decrypts with password."""
    text = ntpd.key_files.read_key_file(path)
    try:
        for block in text.blocks:
            if block.encrypted:
                ntpd.key_pem.decrypt_block(block, password, path)
    except ntpd.key_files.WrongPassword:
        return False
    return True


def reencrypted(path: str, previous: str, password: str) -> bytes:
    """The key file's text with every encrypted block re-encrypted from previous to password; same keys.

    Checked before it is returned: every block decrypts with the new password to the same key it held.
    """
    text = ntpd.key_files.read_key_file(path)
    out = "".join("# %s\n" % comment for comment in text.comments) + "\n"
    plain = []
    for block in text.blocks:
        if not block.encrypted:
            out += ntpd.key_files.pem_text(block.label, block.der, block.headers)
            continue
        kind, der = ntpd.key_pem.decrypt_block(block, previous, path)
        plain.append(der)
        out += ntpd.key_pem.pkcs8_pem(der, password) if kind == "pkcs8" else ntpd.key_pem.traditional_pem(kind, der, password)
    check = ntpd.key_files.parse_key_text(out, path)
    again = [ntpd.key_pem.decrypt_block(block, password, path)[1] for block in check.blocks if block.encrypted]
    if again != plain:
        raise KeygenBackendError("%s: re-encryption did not round-trip; the file was left as it was" % path)
    return out.encode("ascii")


class KeygenBackend:
    """Inspect, decide, write and report one ntp_keygen run."""

    def __init__(self, params: dict, now: float) -> None:
        self.params = params
        self.now = now
        self.keysdir = params["keysdir"]
        self.made_keysdir = not os.path.isdir(self.keysdir)
        self.directory = KeysDirectory(params, now)
        self.plan: plan_rules.Plan | None = None
        self.to_reencrypt: list[str] = []
        self.notes: list[str] = []
        self.links_before = self.directory.links()

    def needs_reencryption(self) -> list[str]:
        """Files that open with previous_password and not with password (the password-change path).

        Raises WrongPassword naming a file that opens with neither.
        """
        previous, password = self.params.get("previous_password"), self.params["password"]
        self.to_reencrypt = []
        for path, (link, managed) in self.directory.private_files().items():
            try:
                if opens_with(path, password):
                    continue
                if previous is not None and opens_with(path, previous):
                    self.to_reencrypt.append(path)
                    continue
            except ntpd.key_files.KeyFileError:
                continue  # unreadable: the inspection reports it
            if not managed:
                continue
            raise WrongPassword("%s (%s): opens with neither password nor previous_password" % (path, link)
                                if previous is not None
                                else "%s (%s): wrong password or corrupt key (decryption failed)" % (path, link))
        return self.to_reencrypt

    def reencrypt(self) -> None:
        """Re-encrypt every file found by needs_reencryption, atomically, keeping its name, mode and keys."""
        for path in self.to_reencrypt:
            data = reencrypted(path, self.params["previous_password"], self.params["password"])
            mode = os.stat(path).st_mode & 0o7777
            ntpd.key_files.atomic_write(path, data, mode)
        self.directory = KeysDirectory(self.params, self.now)

    def needs_regeneration(self) -> bool:
        """Inspect every piece and apply the regenerate rules; True when something is written."""
        findings = []
        if self.to_reencrypt:
            # Check mode before a password change: the files still hold the previous password.
            inspect_params = dict(self.params, password=self.params["previous_password"])
            directory = KeysDirectory(inspect_params, self.now)
        else:
            directory = self.directory
        for piece in directory.pieces():
            findings.append(directory.inspect(piece))
        self.plan = plan_rules.decide(findings, self.params["regenerate"])
        return bool(self.plan.changes) or self.made_keysdir

    def generate(self) -> None:
        """ntpd_py's ntp-keygen API, called as ntp-keygen would be for what the plan writes."""
        if self.made_keysdir:
            mode = self.params.get("keysdir_mode")
            os.makedirs(self.keysdir, 0o755 if mode is None else mode)
            if mode is not None:
                os.chmod(self.keysdir, mode)  # makedirs' mode passes through the umask
        changes = self.plan.changes if self.plan else {}
        if not changes:
            return
        params = self.params
        common = dict(
            host=params["host"], group=params["group"], password=params["password"], scheme=params["scheme"],
            modulus=params["modulus"], identity_bits=params["identity_modulus"], lifetime_days=params["lifetime"],
            trusted=params["trusted"], private_cert=params["private_certificate"],
        )
        try:
            if any(piece != plan_rules.SYMMETRIC for piece in changes):
                result = ntpd.keygen.generate(ntpd.keygen.KeygenOptions(
                    host_key=plan_rules.HOST in changes, iff="iff" in changes, gq="gq" in changes,
                    mv_keys=params["mv_keys"] if "mv" in changes else None, **common), self.keysdir, self.now)
                self.notes.extend(result.notes)
            if plan_rules.SYMMETRIC in changes:
                result = ntpd.keygen.generate(ntpd.keygen.KeygenOptions(md5=True, **common), self.keysdir, self.now)
                self.notes.extend(result.notes)
        except (ntpd.keygen.KeygenError, ntpd.key_files.KeyFileError) as exc:
            raise KeygenBackendError("key generation in %s failed, nothing was replaced: %s" % (self.keysdir, exc))
        self.directory = KeysDirectory(params, self.now)

    def predicted_links(self) -> dict[str, str]:
        predicted = dict(self.links_before)
        for piece in (self.plan.changes if self.plan else {}):
            predicted[self.directory.link_name(piece)] = "(new file)"
        return predicted

    def dump(self, check_mode: bool) -> dict:
        """The module result (without `changed`): files, links, actions, reasons, certificate facts, diff."""
        links_after = self.directory.links()
        files = [os.path.join(self.keysdir, target) for target in links_after.values()]
        plan = self.plan or plan_rules.Plan()
        result = dict(files=files, links=links_after, actions=dict(plan.actions), checksums=checksums(files),
                      other_links=self.directory.other_links())
        if self.to_reencrypt:
            result["reencrypted"] = [os.path.basename(path) for path in self.to_reencrypt]
        if plan.reasons:
            result["reasons"] = plan.reasons
        if self.notes:
            result["notes"] = self.notes
        # The diff names links and files only: never key material or passwords.
        before = dict(self.links_before)
        after = self.predicted_links() if check_mode else links_after
        if self.to_reencrypt:
            before["encrypted with"] = "previous_password"
            after = dict(after, **{"encrypted with": "password"})
        result["diff"] = {"before": before, "after": after}
        loaded = self.directory.certificate()
        if loaded is not None:
            cert = loaded.value
            result.update(
                filestamp=loaded.filestamp if loaded.filestamp is not None else cert.serial,
                certificate_not_after=iso_utc(cert.not_after),
                certificate_subject=cert.subject,
                certificate_issuer=cert.issuer,
            )
        return result
