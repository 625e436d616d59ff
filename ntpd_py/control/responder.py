"""The server side of mode 6: a request datagram in, response datagrams out, over a ControlView.

Behaviour follows ntpd 4.2.8's ntp_control.c, because ntpq (classic and ntpsec) is written against it:
- frames that are too short, have the R/M/E bits or a non-zero offset, or a bad version are dropped silently
  and counted; a count beyond the data received or an unaligned length gets CERR_BADFMT;
- READSTAT on association 0 lists (assid, status) pairs, 117 to a fragment as read_status packs them (at most
  MAX_LISTED_ASSOCIATIONS: the offsets are 16 bits); on an association it sends its default variables;
- READVAR sends the default variables, or those named in the request ("flags,cert"), in the view's order;
  an unknown name gives CERR_UNKNOWNVAR, an unknown association CERR_BADASSOC;
- text is "name=value" items joined by ", " with "\\r\\n" before an item that would pass column 72, and a
  final "\\r\\n"; payloads longer than 468 octets go out in fragments with the MORE bit and offsets;
- READVAR by name answers in the view's order (ntpd's table order), so ntpq's sysinfo, pstats, iostats, ...
  find every field they ask for;
- READCLOCK (`ntpq -c cv`) sends a reference clock's variables (association 0: the system peer when it is a
  clock, else the last configured one), CERR_BADASSOC for anything else;
- REQ_NONCE and READ_MRU (`ntpq -c mrulist`) work from the view's `mru_entries()`, in read_mru_list's batches
  (oldest first, bounded by frags=/limit=, resumed after the client's newest entries);
- READ_ORDLIST_A (`ntpq -c ifstats`, `reslist`) is served to requests authenticated with the controlkey;
  the other opcodes ntpd reserves for authenticated clients answer CERR_PERMISSION, unknown ones CERR_BADOP.
Access control (`restrict noquery`) is the engine's decision, made before a datagram gets here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, fields, replace
from typing import Protocol, Sequence

from ..ntptime import to_ntp64
from ..wire import control as wire
from ..wire import control_values as values
from ..wire.control import ControlFormatError, ControlFrame
from .view import CLOCK_TABLE, PEER_TABLE, SYSTEM_TABLE, ControlView

MAX_DATA_LINE = 72  # ntpd's MAXDATALINELEN
MAX_ITEM_VALUE = 127  # ntpd's ctl_getitem buffer: a longer "=value" ends the packet's parsing
NONCE_TIMEOUT = 16  # seconds a REQ_NONCE answer stays valid (ntp_control.h)
MRU_ROW_LIMIT = 256  # ntpd's MRU_ROW_LIMIT: the most entries a READ_MRU limit= may ask for
MRU_FRAGS_LIMIT = 128  # ntpd's MRU_FRAGS_LIMIT: the most datagrams a READ_MRU frags= may ask for
MRU_PRIORS = 16  # last.N= / addr.N= starting points ntpd reads from a READ_MRU request
# READSTAT pairs whose offsets fit the 16-bit offset field (ntpd wraps past it and its fragments overlap)
MAX_LISTED_ASSOCIATIONS = 0xFFFF // 4
MAX_REQUEST_LEN = wire.HEADER_LEN + wire.CTL_MAX_DATA_LEN + 8 + wire.MAX_MAC_LEN

# Variable names ntpd 4.2.8 (with AUTOKEY) knows: a request may name them even when we have no value.
SYSTEM_VARIABLE_NAMES = frozenset(SYSTEM_TABLE)
PEER_VARIABLE_NAMES = frozenset(PEER_TABLE)
CLOCK_VARIABLE_NAMES = frozenset(CLOCK_TABLE)
# ntpd's CS_CERTIF writes each certificate as "cert=..., until=...": asking for cert brings its until.
COMPANIONS = {"cert": ("until",)}
# Opcodes ntpd only serves to clients authenticated with the controlkey (we serve none of them).
AUTH_ONLY_OPCODES = frozenset({
    wire.OP_WRITEVAR, wire.OP_WRITECLOCK, wire.OP_SETTRAP, wire.OP_CONFIGURE, wire.OP_SAVECONFIG,
    wire.OP_READ_ORDLIST_A, wire.OP_UNSETTRAP,
})


class Authenticator(Protocol):
    """Symmetric-key MACs for authenticated mode-6 requests (the engine's keys)."""

    def verify(self, keyid: int, message: bytes, digest: bytes) -> bool: ...

    def digest(self, keyid: int, message: bytes) -> bytes | None: ...


@dataclass
class ControlCounters:
    """What ntpd counts for mode 6 (numctl* in ntp_control.c), under our names."""

    requests: int = 0
    dropped: int = 0
    too_short: int = 0
    oversized: int = 0
    input_response: int = 0
    input_fragment: int = 0
    input_error: int = 0
    bad_offset: int = 0
    bad_version: int = 0
    bad_mode: int = 0
    data_too_short: int = 0
    bad_opcode: int = 0
    bad_items: int = 0
    errors: int = 0
    responses: int = 0
    fragments: int = 0

    def as_variables(self) -> list[tuple[str, str]]:
        """For a ControlView that shows them: ("ctl_<name>", "<count>")."""
        return [(f"ctl_{f.name}", str(getattr(self, f.name))) for f in fields(self)]


def _parse_items(data: bytes) -> tuple[list[str], bool]:
    """Variable names in a request ("a,b=1, c"), as ctl_getitem reads them; True when parsing was cut short."""
    text = data.decode("latin-1")
    names = []
    for item in text.split(","):
        name, eq, value = item.partition("=")
        if eq and len(value.strip()) > MAX_ITEM_VALUE:
            return names, True
        name = name.strip(", \t\r\n\v\f")
        if name:
            names.append(name)
    return names, False


class TextBody:
    """Items joined as ntpd's ctl_putdata joins them ("a=1, b=2", "\\r\\n" before an item that would pass column
    72), counted as they are added, so that an answer built entry by entry (read_mru_list) can stop at a
    fragment budget."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self._parts: list[str] = []
        self.length = 0
        self._line = 0

    def add(self, name: str, value: str) -> None:
        item = f"{name}={value}"
        if self._parts:
            separator = ",\r\n" if len(item) + self._line + 2 >= MAX_DATA_LINE else ", "
            self._parts.append(separator)
            self.length += len(separator)
            self._line = 0 if separator == ",\r\n" else self._line + 2
        self.items.append((name, value))
        self._parts.append(item)
        self.length += len(item)
        self._line += len(item)

    @property
    def fragment(self) -> int:
        """The number of the fragment being filled (ntpd's res_frags)."""
        return self.length // wire.CTL_MAX_DATA_LEN + 1

    def encode(self) -> bytes:
        return "".join(self._parts).encode("latin-1", errors="replace")


def render_items(items: Sequence[tuple[str, str]]) -> bytes:
    """The text body of a READVAR response, wrapped as ntpd's ctl_putdata does (no final CRLF)."""
    body = TextBody()
    for name, value in items:
        body.add(name, value)
    return body.encode()


def _number(text: str | None, base: int = 10) -> int:
    """A request parameter as ntpd's sscanf reads it: 0 when absent or unreadable."""
    try:
        return int(text or "0", base)
    except ValueError:
        return 0


def _l_fp(text: str) -> int | None:
    """A "0x%08x.%08x" timestamp of a request, as a 64-bit NTP value."""
    seconds, dot, fraction = text.removeprefix("0x").partition(".")
    if not text.startswith("0x") or not dot:
        return None
    try:
        return int(seconds, 16) << 32 | int(fraction, 16)
    except ValueError:
        return None


def select(items: Sequence[tuple[str, str]], wanted: Sequence[str]) -> list[tuple[str, str]]:
    """The items named in `wanted` (each name once, every repeat of it), in the items' own order."""
    want = set(wanted)
    chosen: list[tuple[str, str]] = []
    follow: tuple[str, ...] = ()
    for name, value in items:
        if name in want:
            chosen.append((name, value))
            follow = COMPANIONS.get(name, ())
        elif name in follow:
            chosen.append((name, value))
        else:
            follow = ()
    return chosen


class ControlResponder:
    """Answers mode-6 requests from a ControlView. Pure: `handle(datagram)` returns the datagrams to send."""

    def __init__(self, view: ControlView, authenticator: Authenticator | None = None,
                 controlkey: int | None = None) -> None:
        self.view = view
        self.authenticator = authenticator
        self.controlkey = controlkey
        self.counters = ControlCounters()
        self._nonce_salt = os.urandom(16)

    # -- entry point

    def handle(self, datagram: bytes, now: float = 0.0, source: str = "") -> list[bytes]:
        """Responses to one request datagram; [] when it is dropped (the counters say why)."""
        self.counters.requests += 1
        try:
            return self._handle(datagram, now, source)
        except ControlFormatError:
            self.counters.dropped += 1
            return []

    def _drop(self, counter: str) -> list[bytes]:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.dropped += 1
        return []

    def _handle(self, datagram: bytes, now: float, source: str) -> list[bytes]:
        if len(datagram) < wire.HEADER_LEN:
            return self._drop("too_short")
        if len(datagram) > MAX_REQUEST_LEN:
            return self._drop("oversized")
        li_vn_mode, remop, sequence, _status, assid, offset, count = wire.HEADER.unpack_from(datagram)
        if li_vn_mode & 7 != wire.MODE_CONTROL:
            return self._drop("bad_mode")
        if remop & (wire.RESPONSE | wire.MORE | wire.ERROR) or offset:
            name = ("input_response" if remop & wire.RESPONSE else "input_fragment" if remop & wire.MORE
                    else "input_error" if remop & wire.ERROR else "bad_offset")
            return self._drop(name)
        version = (li_vn_mode >> 3) & 7
        if not wire.NTP_OLDVERSION <= version <= wire.NTP_VERSION:
            return self._drop("bad_version")
        leap = self.view.system_status() >> 14 & 3
        if count > len(datagram) - wire.HEADER_LEN or len(datagram) & 3:
            self.counters.data_too_short += 1
            req = ControlFrame(opcode=remop & wire.OPCODE_MASK, sequence=sequence, assid=assid, version=version)
            return self._send([wire.error_response(req, wire.CERR_BADFMT, leap)], None)
        req = wire.decode(datagram)
        keyid = self._authenticated_keyid(req, datagram)
        frames = self._dispatch(req, leap, keyid, now, source)
        return self._send(frames, keyid)

    def _authenticated_keyid(self, req: ControlFrame, datagram: bytes) -> int | None:
        """The key ID when the request carries a MAC that verifies (over every octet before it), else None."""
        if not req.mac or self.authenticator is None:
            return None
        keyid = req.keyid or 0
        message = datagram[: len(datagram) - len(req.mac)]
        if self.authenticator.verify(keyid, message, req.mac[4:]):
            return keyid
        return None

    def _send(self, frames: list[ControlFrame], keyid: int | None) -> list[bytes]:
        out = []
        for frame in frames:
            if frame.error:
                self.counters.errors += 1
            elif frame.more:
                self.counters.fragments += 1
            else:
                self.counters.responses += 1
            if keyid is not None and self.authenticator is not None:
                digest = self.authenticator.digest(keyid, wire.signed_part(frame))
                if digest is not None:
                    frame = replace(frame, mac=keyid.to_bytes(4, "big") + digest)
            out.append(wire.encode(frame))
        return out

    # -- opcodes

    def _dispatch(self, req: ControlFrame, leap: int, keyid: int | None, now: float, source: str) -> list[ControlFrame]:
        op = req.opcode
        if op == wire.OP_UNSPEC:
            return self._status_only(req, leap)
        if op == wire.OP_READSTAT:
            return self._read_status(req, leap, keyid)
        if op == wire.OP_READVAR:
            return self._read_variables(req, leap, keyid)
        if op == wire.OP_READCLOCK:
            return self._read_clock(req, leap)
        if op == wire.OP_REQ_NONCE:
            return self._text(req, self.view.system_status(), [("nonce", self._nonce(now, source))], leap)
        if op == wire.OP_READ_MRU:
            return self._read_mru(req, leap, now, source)
        if op == wire.OP_READ_ORDLIST_A and keyid is not None and keyid == self.controlkey:
            return self._read_ordered_list(req, leap)
        if op in AUTH_ONLY_OPCODES:
            return [wire.error_response(req, wire.CERR_PERMISSION, leap)]
        self.counters.bad_opcode += 1
        return [wire.error_response(req, wire.CERR_BADOP, leap)]

    def _status_only(self, req: ControlFrame, leap: int) -> list[ControlFrame]:
        if req.assid:
            status = self.view.peer_status(req.assid)
            if status is None:
                return [wire.error_response(req, wire.CERR_BADASSOC, leap)]
        else:
            status = self.view.system_status()
        return wire.fragment(req, status, b"", leap)

    def _peer_read_variables(self, req: ControlFrame, keyid: int | None,
                             by_name: bool = False) -> tuple[int, list[tuple[str, str]]] | None:
        """The status word and variables (default ones, or all readable by name) of the request's association;
        an authenticated read clears its event count, as ntpd does. None for an unknown association."""
        status = self.view.peer_status(req.assid)
        if status is None:
            return None
        variables = self.view.named_peer_variables(req.assid) if by_name else self.view.peer_variables(req.assid)
        if variables is None:
            return None
        if keyid is not None:
            self.view.clear_peer_events(req.assid)
        return status, list(variables)

    def _read_status(self, req: ControlFrame, leap: int, keyid: int | None) -> list[ControlFrame]:
        if req.assid:
            peer = self._peer_read_variables(req, keyid)
            if peer is None:
                return [wire.error_response(req, wire.CERR_BADASSOC, leap)]
            return self._text(req, peer[0], peer[1], leap)
        listed = list(self.view.associations())[:MAX_LISTED_ASSOCIATIONS]
        payload = b"".join(struct.pack("!HH", a & 0xFFFF, s & 0xFFFF) for a, s in listed)
        return wire.fragment(req, self.view.system_status(), payload, leap)

    def _read_variables(self, req: ControlFrame, leap: int, keyid: int | None) -> list[ControlFrame]:
        names, cut_short = _parse_items(req.data)
        if cut_short:
            self.counters.bad_items += 1
        if req.assid:
            peer = self._peer_read_variables(req, keyid, by_name=bool(names))
            if peer is None:
                return [wire.error_response(req, wire.CERR_BADASSOC, leap)]
            status, variables = peer
            known = PEER_VARIABLE_NAMES
        else:
            status = self.view.system_status()
            # by name, the view offers more than its default list (ntpd's ss_*, io_*, auth*, k* ...)
            variables = self.view.named_system_variables() if names else self.view.system_variables()
            known = SYSTEM_VARIABLE_NAMES
        items = list(variables)
        if names:
            present = {name for name, _ in items}
            if any(name not in known and name not in present for name in names):
                return [wire.error_response(req, wire.CERR_UNKNOWNVAR, leap)]
            items = select(items, names)
        return self._text(req, status, items, leap)

    def _read_clock(self, req: ControlFrame, leap: int) -> list[ControlFrame]:
        """`cv`: as read_clockstatus, names are answered in ntpd's table order (each once), not the request's."""
        names, cut_short = _parse_items(req.data)
        if cut_short:
            self.counters.bad_items += 1
        clock = self.view.clock_variables(req.assid, named=bool(names))
        if clock is None:
            return [wire.error_response(req, wire.CERR_BADASSOC, leap)]
        status, items = clock
        if names:
            if any(name not in CLOCK_VARIABLE_NAMES for name in names):
                return [wire.error_response(req, wire.CERR_UNKNOWNVAR, leap)]
            items = select(items, names)
        return self._text(req, status, items, leap)

    def _text(self, req: ControlFrame, status: int, items: list[tuple[str, str]], leap: int) -> list[ControlFrame]:
        """A text response; the final fragment ends in CRLF when there is room, as ntpd's ctl_flushpkt does."""
        payload = render_items(items)
        if items:
            tail = len(payload) % wire.CTL_MAX_DATA_LEN or (wire.CTL_MAX_DATA_LEN if payload else 0)
            if tail + 2 < wire.CTL_MAX_DATA_LEN:
                payload += b"\r\n"
        return wire.fragment(req, status, payload, leap)

    def _read_ordered_list(self, req: ControlFrame, leap: int) -> list[ControlFrame]:
        """READ_ORDLIST_A for a request authenticated with the controlkey (ntpq's ifstats and reslist):
        empty or "ifstats" lists the local addresses, "addr_restrictions" the restrict entries."""
        if req.data in (b"", b"ifstats"):
            rows = self.view.interface_rows()
        elif req.data == b"addr_restrictions":
            rows = self.view.restriction_rows()
        else:
            return [wire.error_response(req, wire.CERR_UNKNOWNVAR, leap)]
        items = [(f"{name}.{index}", value) for index, row in enumerate(rows) for name, value in row]
        return self._text(req, self.view.system_status(), items, leap)

    def _nonce(self, now: float, source: str) -> str:
        """A 96-bit nonce as ntpd's generate_nonce: the time and a keyed hash of time and client address."""
        seconds = int(now) & 0xFFFFFFFF
        fraction = int((now % 1) * 2**32) & 0xFFFFFFFF
        return f"{seconds:08x}{fraction:08x}{self._nonce_tag(seconds, fraction, source)}"

    def _nonce_tag(self, seconds: int, fraction: int, source: str) -> str:
        return hashlib.md5(self._nonce_salt + f"{seconds}.{fraction}.{source}".encode()).hexdigest()[:8]

    def _valid_nonce(self, nonce: str, now: float, source: str) -> bool:
        """ntpd's validate_nonce: ours, for this address, and younger than NONCE_TIMEOUT."""
        if len(nonce) != 24:
            return False
        try:
            seconds, fraction = int(nonce[:8], 16), int(nonce[8:16], 16)
        except ValueError:
            return False
        if not 0 <= now - seconds < NONCE_TIMEOUT + 1:
            return False
        return hmac.compare_digest(nonce[16:], self._nonce_tag(seconds, fraction, source))

    def _read_mru(self, req: ControlFrame, leap: int, now: float, source: str) -> list[ControlFrame]:
        """READ_MRU (ntpq -c mrulist) as ntpd's read_mru_list: needs a fresh nonce; sends the view's MRU entries
        oldest first, as many as frags= (datagrams) and limit= (entries) allow, after the newest entry the client
        names with last.N=/addr.N= (confirmed as last.older=/addr.older=; CERR_UNKNOWNVAR when each one has
        moved, so that ntpq backs up); a batch that reaches the newest entry ends with now= and last.newest=.
        mv.N is decimal (ctl_putuint: ntpq reads it with %u), rs.N hexadecimal (ctl_puthex)."""
        params = dict((name.strip(), value.strip()) for name, _, value in
                      (item.partition("=") for item in req.data.decode("latin-1").split(",")))
        if not self._valid_nonce(params.get("nonce", ""), now, source):
            return [wire.error_response(req, wire.CERR_BADVALUE if "nonce" in params else wire.CERR_BADFMT, leap)]
        frags, limit = _number(params.get("frags")), _number(params.get("limit"))
        if (frags == 0 and not 0 < limit <= MRU_ROW_LIMIT) or frags > MRU_FRAGS_LIMIT:
            return [wire.error_response(req, wire.CERR_BADVALUE, leap)]
        limit = limit or 2**32  # frags= alone: no limit on entries
        frags = frags or MRU_FRAGS_LIMIT
        entries = list(self.view.mru_entries())[::-1]  # the view lists newest first
        body = TextBody()
        start = 0
        priors = self._mru_priors(params)
        if priors:
            place = {entry[0]: i for i, entry in enumerate(entries)}
            found = next((place[address] for stamp, address in priors
                          if address in place and to_ntp64(entries[place[address]][2]) == stamp), None)
            if found is None:
                return [wire.error_response(req, wire.CERR_UNKNOWNVAR, leap)]
            body.add("last.older", values.timestamp(to_ntp64(entries[found][2])))
            body.add("addr.older", entries[found][0])
            start = found + 1 if limit > 1 else found
        body.add("nonce", self._nonce(now, source))
        mincount = max(0, _number(params.get("mincount")))
        resall, resany = _number(params.get("resall"), 16), _number(params.get("resany"), 16)
        maxlstint = _number(params.get("maxlstint"))
        now_seconds = to_ntp64(now) >> 32
        count, newest, i = 0, None, start
        while i < len(entries) and body.fragment < frags and count < limit:
            address, first, last, hits, vn_mode, rflags = entries[i]
            i += 1
            if hits < mincount or (resall and resall & rflags != resall) or (resany and not resany & rflags) \
                    or (maxlstint and now_seconds - (to_ntp64(last) >> 32) > maxlstint):
                continue
            for name, value in (("addr", address), ("last", values.timestamp(to_ntp64(last))),
                                ("first", values.timestamp(to_ntp64(first))), ("ct", str(hits)),
                                ("mv", values.unsigned(vn_mode)), ("rs", values.hexadecimal(rflags))):
                body.add(f"{name}.{count}", value)
            count += 1
            newest = last
        if i >= len(entries):  # this batch reaches the newest entry: the list is complete
            body.add("now", values.timestamp(to_ntp64(now)))
            if newest is not None:
                body.add("last.newest", values.timestamp(to_ntp64(newest)))
        return self._text(req, self.view.system_status(), body.items, leap)

    @staticmethod
    def _mru_priors(params: dict[str, str]) -> list[tuple[int, str]]:
        """The (last, address) starting points of a request, last.0/addr.0 first, up to the first gap."""
        priors = []
        for i in range(MRU_PRIORS):
            stamp, address = _l_fp(params.get(f"last.{i}", "")), params.get(f"addr.{i}")
            if not stamp or not address:
                break
            priors.append((stamp, address))
        return priors
