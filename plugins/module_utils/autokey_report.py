# -*- coding: utf-8 -*-
# Copyright: ntpd-py developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Turn mode-6 variables into the status module's report, and name every Autokey step that is missing.

Pure: variables and an association in, dictionaries and messages out. The bits (values, names, order, which are
identity schemes), the certificate flags and the NID names come from ntpd_py.autokey.flags (passed in as
`flags_module`), the error texts from ntpd_py.autokey.errors, the peer status word's decoding from the
ntpd_py.control.client.Association given; only what each bit means for an operator is said here, once.
"""

from __future__ import annotations

import calendar
import time

# What the absence of each bit tells an operator, by CryptoFlag name. Steps are reported in CryptoFlag's order, which
# is the client's (ASSOC, CERT, identity, COOK, SIGN, LEAP); TAI has no entry because it is never required.
STEP_MEANING = {
    "ENAB": "no Autokey association (the server did not answer ASSOC)",
    "PRIV": "server does not use the PC (private certificate) scheme",
    "IFF": "server does not use the IFF identity scheme",
    "GQ": "server does not use the GQ identity scheme",
    "MV": "server does not use the MV identity scheme",
    "CERT": "certificate trail to a trusted root not verified",
    "VRFY": "identity not verified",
    "PROV": "not proventic (no signature verified after identity)",
    "COOK": "no cookie",
    "AUTO": "autokey values not verified",
    "SIGN": "certificate not signed by the server",
    "LEAP": "leap-second values not received",
}

# Names under which a daemon may report an association's last crypto error (our daemon; others send none).
CRYPTO_ERROR_VARIABLES = ("crypto_event", "crypto_error", "last_crypto_error", "last_crypto_event")


def parse_int(value) -> int:
    """An integer as ntpd (0x87f23) or ntpsec's ntpq (556835) prints it."""
    if isinstance(value, int):
        return value
    text = str(value).strip().strip('"')
    return int(text, 0) if text.lower().startswith("0x") else int(text)


def unquote(value) -> str:
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def pairs(variables) -> list[tuple[str, str]]:
    """Variables as a list of (name, value), whether the client gave a dict or a list (repeated names)."""
    if isinstance(variables, dict):
        return [(str(name), str(value)) for name, value in variables.items()]
    return [(str(name), str(value)) for name, value in variables]


def first(variables: list[tuple[str, str]], *names: str) -> str | None:
    for wanted in names:
        for name, value in variables:
            if name == wanted:
                return value
    return None


def count(value) -> int:
    """A counter variable, 0 when absent or unreadable."""
    try:
        return parse_int(value) if value is not None else 0
    except ValueError:
        return 0


def auth_and_condition(association) -> tuple[str, str]:
    """ntpq's `as` columns auth (ok, bad, none) and condition, from an Association (its peer status word, decoded)."""
    auth = ("ok" if association.authentic else "bad") if association.auth_enabled else "none"
    return auth, association.selection


def scheme_flags(flags_module) -> list:
    """The identity scheme bits (PRIV, IFF, GQ, MV): the CryptoFlag members inside SCHEME_MASK, in order."""
    return [flag for flag in flags_module.CryptoFlag if flag & flags_module.SCHEME_MASK]


def decode_flags(value: int, flags_module) -> dict:
    """Every bit by name, the scheme and the signature algorithm."""
    bits = {flag.name: bool(value & flag) for flag in flags_module.CryptoFlag}
    schemes = [flag.name for flag in scheme_flags(flags_module) if value & flag]
    nid = flags_module.signature_nid(value)
    return {
        "value": "0x%x" % value,
        "names": flags_module.decode(value),
        "scheme": schemes[0] if schemes else ("TC" if value & flags_module.CryptoFlag.ENAB else None),
        "signature_nid": nid,
        "signature": flags_module.nid_name(nid) if nid else None,
        "bits": bits,
    }


def missing_steps(actual: int, expected: int, flags_module, last_error: str | None = None) -> list[str]:
    """One message per expected bit that is absent (TAI never required), plus a wrong signature algorithm."""
    messages = []
    required = expected & ~int(flags_module.CryptoFlag.TAI)
    schemes = scheme_flags(flags_module)
    for flag in flags_module.CryptoFlag:
        meaning = STEP_MEANING.get(flag.name)
        if meaning is None or not required & flag or actual & flag:
            continue
        if flag in schemes:
            used = [other.name for other in schemes if actual & other]
            meaning += " (it uses %s)" % "/".join(used) if used else " (it uses TC: no identity scheme)"
        message = "%s: %s 0x%x missing" % (meaning, flag.name, flag)
        if last_error and not messages:  # the first missing step is the one the error stopped
            message += "; last error %s" % last_error
        messages.append(message)
    want_nid = flags_module.signature_nid(expected)
    have_nid = flags_module.signature_nid(actual)
    if want_nid and have_nid != want_nid:
        messages.append("signature %s (NID %d) expected, the association has %s (NID %d)" % (
            flags_module.nid_name(want_nid), want_nid,
            flags_module.nid_name(have_nid) if have_nid else "none", have_nid))
    return messages


def crypto_error(variables: list[tuple[str, str]], errors_module) -> str | None:
    """'0x10e bad or missing group key' from whichever variable the daemon uses, or None."""
    raw = first(variables, *CRYPTO_ERROR_VARIABLES)
    if raw is None:
        return None
    raw = unquote(raw).strip()
    try:
        code = parse_int(raw.split()[0])
    except (ValueError, IndexError):
        return raw or None
    if code == 0:
        return None
    return "0x%x %s" % (code, errors_module.text(code) if errors_module is not None else "")


def ntp_date_to_iso(value: str) -> str | None:
    """ntpd's YYYYMMDDhhmm (`until=202711220805`) as ISO 8601 UTC."""
    text = unquote(value).strip()
    try:
        parsed = time.strptime(text, "%Y%m%d%H%M")
    except ValueError:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(calendar.timegm(parsed)))


# How the report names the certificate flags of flags_module (ntp_crypto.h's CERT_* bits), in ntpd's order.
CERT_FLAG_LABELS = (("CERT_TRUST", "trust"), ("CERT_SIGN", "sign"), ("CERT_VALID", "valid"), ("CERT_PRIV", "private"),
                    ("CERT_ERROR", "error"))


def certificates(system: list[tuple[str, str]], flags_module) -> list[dict]:
    """`cert="bob alice 0x4", until=202711220814` pairs of the system variables, in order."""
    found = []
    for name, value in system:
        if name == "cert":
            parts = unquote(value).split()
            entry = {"subject": parts[0] if parts else "", "issuer": parts[1] if len(parts) > 1 else "",
                     "flags": parts[2] if len(parts) > 2 else "", "until": None, "flags_decoded": []}
            try:
                bits = parse_int(entry["flags"])
                entry["flags_decoded"] = [label for constant, label in CERT_FLAG_LABELS
                                          if bits & getattr(flags_module, constant)]
            except ValueError:
                pass
            found.append(entry)
        elif name == "until" and found and found[-1]["until"] is None:
            found[-1]["until"] = ntp_date_to_iso(value)
    return found


def association_report(association, variables: list[tuple[str, str]], expected: int,
                       flags_module, errors_module) -> dict:
    """The report of one association: what it is, its flags bit by bit, and what is missing."""
    auth, condition = auth_and_condition(association)
    flags_text = first(variables, "flags")
    last_error = crypto_error(variables, errors_module)
    report = {
        "assid": association.assid,
        "address": unquote(first(variables, "srcadr") or ""),
        "host": unquote(first(variables, "host") or "") or None,
        "ident": unquote(first(variables, "ident") or "") or None,
        "status": "%04x" % association.status,
        "auth": auth,
        "reach": first(variables, "reach"),
        "condition": condition,
        "last_crypto_error": last_error,
        "crypto_errors": count(first(variables, "crypto_errors")),
        "autokey": flags_text is not None,
    }
    if flags_text is None:
        report.update(flags=None, flags_decoded=None, missing=["no Autokey flags: not an Autokey association"],
                      ok=False)
        return report
    value = parse_int(flags_text)
    report["flags"] = "0x%x" % value
    report["flags_decoded"] = decode_flags(value, flags_module)
    report["missing"] = missing_steps(value, expected, flags_module, last_error)
    report["ok"] = not report["missing"]
    return report
