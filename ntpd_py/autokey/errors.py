"""Autokey error codes (ntpd's XEVNT_*, 0x101-0x10F) with ntpd's texts, and the exception that carries them.

ntpd logs these as "%04x %d %02x %s" (opcode, associd, code, text) in cryptostats; the OpenVMS guide lists
them as errors 101-115 (the low byte in decimal-looking form).
"""

from __future__ import annotations

from enum import IntEnum


class Xevnt(IntEnum):
    OK = 0x000
    LEN = 0x101
    TSP = 0x102
    FSP = 0x103
    PUB = 0x104
    MD = 0x105
    KEY = 0x106
    SGL = 0x107
    SIG = 0x108
    VFY = 0x109
    PER = 0x10A
    CKY = 0x10B
    DAT = 0x10C
    CRT = 0x10D
    ID = 0x10E
    ERR = 0x10F


TEXTS = {
    Xevnt.OK: "success",
    Xevnt.LEN: "bad field format or length",
    Xevnt.TSP: "bad timestamp",
    Xevnt.FSP: "bad filestamp",
    Xevnt.PUB: "bad or missing public key",
    Xevnt.MD: "unsupported digest type",
    Xevnt.KEY: "unsupported identity type",
    Xevnt.SGL: "bad signature length",
    Xevnt.SIG: "signature not verified",
    Xevnt.VFY: "certificate not verified",
    Xevnt.PER: "host certificate expired",
    Xevnt.CKY: "bad or missing cookie",
    Xevnt.DAT: "bad or missing leapseconds",
    Xevnt.CRT: "bad or missing certificate",
    Xevnt.ID: "bad or missing group key",
    Xevnt.ERR: "protocol error",
}


def text(code: int) -> str:
    try:
        return TEXTS[Xevnt(code)]
    except ValueError:
        return f"unknown crypto event 0x{code:x}"


class AutokeyError(Exception):
    """A rejected Autokey message: `code` is the XEVNT value, the message adds the detail."""

    def __init__(self, code: Xevnt, detail: str = "") -> None:
        self.code = Xevnt(code)
        self.detail = detail
        super().__init__(f"{text(code)} (0x{int(code):x})" + (f": {detail}" if detail else ""))


def stats_line(opcode_word: int, associd: int, code: int) -> str:
    """The cryptostats line ntpd writes for an error: '%04x %d %02x %s'."""
    return f"{opcode_word:04x} {associd} {code:02x} {text(code)}"
