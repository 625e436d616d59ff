"""A small mode-6 client: what ntpq's `as`, `rv` and `peers` do, as a Python API.

The Ansible status module imports this on the managed host, so it only needs the standard library and our
wire codec. It speaks to ntpd_py and to reference ntpd alike: requests as ntpq sends them (version 2),
fragments reassembled by offset, `name=value` lists parsed with quoted strings and repeated names (cert=).
"""

from __future__ import annotations

import select
import socket
import time
from typing import Iterator, NamedTuple

from ..clock.select import SELECTION_NAMES
from ..engine.status import PEER_EVENT_NAMES
from ..wire import control as wire
from ..wire.control import ControlFormatError


class ControlError(Exception):
    """The server answered with a mode-6 error (code is CERR_*), or the exchange failed."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ControlTimeout(ControlError):
    """No (complete) answer within the timeout."""


class Association(NamedTuple):
    """One row of `ntpq -c as`: association ID and its peer status word, decoded. Unpacks as (assid, status)."""

    assid: int
    status: int

    @property
    def configured(self) -> bool:
        return bool(self.status & 0x8000)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.status & 0x4000)

    @property
    def authentic(self) -> bool:
        return bool(self.status & 0x2000)

    @property
    def reachable(self) -> bool:
        return bool(self.status & 0x1000)

    @property
    def selection(self) -> str:
        """The condition ntpq shows: reject, falsetick, excess, outlier, candidate, backup, sys.peer, pps.peer."""
        return SELECTION_NAMES[(self.status >> 8) & 7]

    @property
    def event_count(self) -> int:
        return (self.status >> 4) & 0xF

    @property
    def last_event(self) -> int:
        return self.status & 0xF

    @property
    def last_event_name(self) -> str:
        """ntpq's name for the last event code (sys_peer, reachable, ...)."""
        return PEER_EVENT_NAMES[self.last_event]


class Variables:
    """An ordered `name=value` list as the server sent it; names may repeat (cert=, until=)."""

    def __init__(self, items: list[tuple[str, str]], status: int = 0) -> None:
        self.items = items
        self.status = status

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, name: object) -> bool:
        return any(n == name for n, _ in self.items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def raw(self, name: str) -> str | None:
        """The first value of `name` exactly as sent (quotes kept)."""
        return next((value for n, value in self.items if n == name), None)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name`, without surrounding quotes."""
        value = self.raw(name)
        return default if value is None else unquote(value)

    def getall(self, name: str) -> list[str]:
        """Every value of a repeated name, unquoted (all cert= entries)."""
        return [unquote(value) for n, value in self.items if n == name]

    def as_dict(self) -> dict[str, str]:
        """Name → first value (unquoted). Repeated names keep their first value; use getall for the rest."""
        out: dict[str, str] = {}
        for name, value in self.items:
            out.setdefault(name, unquote(value))
        return out

    def integer(self, name: str) -> int | None:
        """A numeric value whatever its base (flags=0x87f23 or 556835)."""
        value = self.get(name)
        if value is None:
            return None
        return int(value, 0) if value.lower().startswith("0x") else int(value)


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def parse_variables(text: str) -> list[tuple[str, str]]:
    """Split a READVAR body into (name, value): commas inside "quoted strings" do not separate items."""
    items: list[tuple[str, str]] = []
    current: list[str] = []
    in_string = False
    for ch in text:
        if ch == '"':
            in_string = not in_string
            current.append(ch)
        elif ch == "," and not in_string:
            items.append(_split_item("".join(current)))
            current = []
        elif not 0 < ord(ch) < 127 or (ch in "\r\n" and not in_string):
            continue  # as ntpsec's ntpq: drop binary garbage (ntpsec's ntpd sends some) and line breaks
        else:
            current.append(ch)
    if "".join(current).strip():
        items.append(_split_item("".join(current)))
    return [item for item in items if item[0]]


def _split_item(item: str) -> tuple[str, str]:
    name, _, value = item.strip().partition("=")
    return name.strip(), value.strip()


class ControlClient:
    """Mode-6 queries to one server over a real UDP socket. Use as a context manager or call close()."""

    def __init__(self, host: str, port: int = 123, timeout: float = 2.0, retries: int = 1, version: int = 2) -> None:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.connect(sockaddr)
        self.timeout = timeout
        self.retries = retries
        self.version = version
        self.sequence = int(time.monotonic() * 1000) & 0xFFFF

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- high level

    def associations(self) -> list[Association]:
        """READSTAT on association 0: every association with its status word (`ntpq -c as`)."""
        status, data = self.request(wire.OP_READSTAT)
        if len(data) % 4:
            raise ControlError(f"association list of {len(data)} octets is not a multiple of 4")
        return [Association(int.from_bytes(data[i : i + 2], "big"), int.from_bytes(data[i + 2 : i + 4], "big"))
                for i in range(0, len(data), 4)]

    def read_system(self, names: list[str] | None = None) -> Variables:
        """READVAR on association 0 (`ntpq -c "rv 0 [names]"`)."""
        return self.read_variables(0, names)

    def read_peer(self, assid: int, names: list[str] | None = None) -> Variables:
        """READVAR on one association (`ntpq -c "rv ASSID [names]"`)."""
        return self.read_variables(assid, names)

    def read_variables(self, assid: int, names: list[str] | None = None) -> Variables:
        query = ",".join(names or []).encode("ascii")
        status, data = self.request(wire.OP_READVAR, assid, query)
        return Variables(parse_variables(data.decode("latin-1")), status)

    # -- one exchange

    def request(self, opcode: int, assid: int = 0, data: bytes = b"") -> tuple[int, bytes]:
        """Send one request and return (status word, reassembled data); retries on timeout."""
        if len(data) > wire.CTL_MAX_DATA_LEN:
            raise ControlError(f"request data of {len(data)} octets exceeds {wire.CTL_MAX_DATA_LEN}")
        for attempt in range(self.retries + 1):
            self.sequence = (self.sequence + 1) & 0xFFFF
            self.sock.send(wire.request(opcode, self.sequence, assid, data, self.version))
            try:
                return self._collect(opcode)
            except ControlTimeout:
                if attempt == self.retries:
                    raise
        raise AssertionError("unreachable")

    def _collect(self, opcode: int) -> tuple[int, bytes]:
        fragments: dict[int, bytes] = {}
        end: int | None = None
        status = 0
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                got = "no answer" if not fragments else f"{len(fragments)} fragment(s), incomplete"
                raise ControlTimeout(f"timeout after {self.timeout} s: {got}")
            try:
                datagram = self.sock.recv(65535)
            except ConnectionRefusedError as exc:
                raise ControlError(f"connection refused: {exc}") from exc
            try:
                frame = wire.decode(datagram)
            except ControlFormatError:
                continue
            if not frame.response or frame.sequence != self.sequence or frame.opcode != opcode:
                continue
            if frame.error:
                name = wire.ERROR_NAMES.get(frame.error_code, str(frame.error_code))
                raise ControlError(f"server error {name}", frame.error_code)
            if frame.offset in fragments:
                continue
            fragments[frame.offset] = frame.data
            if not frame.more:
                end = frame.offset + len(frame.data)
                status = frame.status
            if end is not None and _complete(fragments, end):
                return status, b"".join(fragments[o] for o in sorted(fragments))


def _complete(fragments: dict[int, bytes], end: int) -> bool:
    position = 0
    for offset in sorted(fragments):
        if offset != position:
            return False
        position += len(fragments[offset])
    return position == end
