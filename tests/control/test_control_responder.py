"""The mode-6 responder, driven with request bytes (no sockets): ntpd's answers, errors, drops, fuzz."""

from __future__ import annotations

import random
import struct
import sys
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from ctl_fakes import BOB_ASSID, BOB_PEER_STATUS, BOB_SYS_STATUS, FakeView, bob_view  # noqa: E402

from ntpd_py.control.client import parse_variables  # noqa: E402
from ntpd_py.control.responder import ControlResponder, render_items  # noqa: E402
from ntpd_py.wire import control as wire  # noqa: E402


def ask(responder: ControlResponder, opcode: int, assid: int = 0, data: bytes = b"", seq: int = 5) -> list[wire.ControlFrame]:
    return [wire.decode(d) for d in responder.handle(wire.request(opcode, seq, assid, data))]


def text(frames: list[wire.ControlFrame]) -> str:
    return b"".join(f.data for f in frames).decode()


def test_readstat_lists_associations() -> None:
    view = bob_view()
    view.assocs.append((40000, 0x9014))
    (frame,) = ask(ControlResponder(view), wire.OP_READSTAT)
    assert frame.response and not frame.error and not frame.more
    assert frame.status == BOB_SYS_STATUS and frame.sequence == 5
    assert frame.data == struct.pack("!HHHH", BOB_ASSID, BOB_PEER_STATUS, 40000, 0x9014)
    assert frame.leap == 0


def test_readstat_many_associations_fragments() -> None:
    view = FakeView(assocs=[(i, 0x8011) for i in range(1, 301)])
    frames = ask(ControlResponder(view), wire.OP_READSTAT)
    assert len(frames) == 3 and [len(f.data) for f in frames] == [468, 468, 264]
    pairs = b"".join(f.data for f in frames)
    assert [struct.unpack_from("!H", pairs, i)[0] for i in range(0, len(pairs), 4)] == list(range(1, 301))


def test_readstat_on_association_sends_its_variables() -> None:
    frames = ask(ControlResponder(bob_view()), wire.OP_READSTAT, BOB_ASSID)
    assert frames[-1].status == BOB_PEER_STATUS
    assert parse_variables(text(frames))[0] == ("srcadr", "10.99.0.1")


def test_readvar_system_default_list_formatting() -> None:
    frames = ask(ControlResponder(bob_view()), wire.OP_READVAR)
    body = text(frames)
    assert body.startswith('version="ntpd-py 0.1.0", processor="x86_64", system="Linux", leap=0,')
    assert body.endswith('cert="bob bob 0x0", until=202711220811\r\n')
    assert "reftime=0xeead243a.ebad7b37" in body and "flags=0x80003" in body
    # ntpd's lines: ", " between items, ",\r\n" before an item that would reach column 72
    for line in body.split("\r\n"):
        assert len(line) < 72 + 2
    assert [n for n, _ in parse_variables(body)].count("cert") == 3


def test_line_wrapping_is_ntpds() -> None:
    body = render_items([("a", "x" * 30), ("b", "y" * 30), ("c", "z")]).decode()
    # "a=" + 30 = 32; ", " then "b=..." (32) would make 32+1+32+1 = 66 < 72: same line
    assert body == "a=" + "x" * 30 + ", b=" + "y" * 30 + ", c=z"
    body = render_items([("a", "x" * 40), ("b", "y" * 40)]).decode()
    assert body == "a=" + "x" * 40 + ",\r\nb=" + "y" * 40


def test_readvar_selected_names_and_repeated_cert() -> None:
    responder = ControlResponder(bob_view())
    assert text(ask(responder, wire.OP_READVAR, 0, b"flags")) == "flags=0x80003\r\n"
    assert text(ask(responder, wire.OP_READVAR, BOB_ASSID, b"flags")) == "flags=0x87f43\r\n"
    certs = parse_variables(text(ask(responder, wire.OP_READVAR, 0, b"cert")))
    assert certs == [("cert", '"bob alice 0x4"'), ("until", "202711220820"), ("cert", '"alice alice 0x5"'),
                     ("until", "202711220811"), ("cert", '"bob bob 0x0"'), ("until", "202711220811")]
    # several names, in the view's order whatever the request's, and "name=value" items accepted
    assert text(ask(responder, wire.OP_READVAR, 0, b" stratum=9 ,leap,,")) == "leap=0, stratum=6\r\n"


def test_known_ntpd_variable_without_value_is_not_an_error() -> None:
    (frame,) = ask(ControlResponder(bob_view()), wire.OP_READVAR, 0, b"leapsec")
    assert not frame.error and frame.data == b""


def test_errors() -> None:
    responder = ControlResponder(bob_view())
    cases = [
        (wire.OP_READVAR, 4242, b"", wire.CERR_BADASSOC),
        (wire.OP_READSTAT, 4242, b"", wire.CERR_BADASSOC),
        (wire.OP_UNSPEC, 4242, b"", wire.CERR_BADASSOC),
        (wire.OP_READVAR, 0, b"nosuchvar", wire.CERR_UNKNOWNVAR),
        (wire.OP_READVAR, BOB_ASSID, b"flags,nosuchvar", wire.CERR_UNKNOWNVAR),
        (wire.OP_WRITEVAR, 0, b"leap=1", wire.CERR_PERMISSION),
        (wire.OP_CONFIGURE, 0, b"server 1.2.3.4", wire.CERR_PERMISSION),
        (wire.OP_ASYNCMSG, 0, b"", wire.CERR_BADOP),
        (wire.OP_READ_MRU, 0, b"frags=4", wire.CERR_BADFMT),
        (wire.OP_READ_MRU, 0, b"nonce=0123456789abcdef01234567, frags=4", wire.CERR_BADVALUE),
        (20, 0, b"", wire.CERR_BADOP),
    ]
    for opcode, assid, data, code in cases:
        (frame,) = ask(responder, opcode, assid, data)
        assert (frame.error, frame.error_code, frame.opcode, frame.assid, frame.data) == (True, code, opcode, assid, b"")
    assert responder.counters.errors == len(cases)


def test_unspec_and_nonce() -> None:
    responder = ControlResponder(bob_view())
    (frame,) = ask(responder, wire.OP_UNSPEC)
    assert frame.status == BOB_SYS_STATUS and frame.data == b""
    (frame,) = ask(responder, wire.OP_UNSPEC, BOB_ASSID)
    assert frame.status == BOB_PEER_STATUS
    (nonce,) = ask(responder, wire.OP_REQ_NONCE)
    assert nonce.data.startswith(b"nonce=") and len(nonce.data.strip()) == 6 + 24


def test_badfmt_for_count_beyond_data_or_unaligned_length() -> None:
    responder = ControlResponder(bob_view())
    short = struct.pack("!BBHHHHH", 0x16, 2, 3, 0, 0, 0, 40) + b"flag"
    (reply,) = responder.handle(short)
    assert wire.decode(reply).error_code == wire.CERR_BADFMT
    unaligned = struct.pack("!BBHHHHH", 0x16, 2, 3, 0, 0, 0, 5) + b"flags"
    (reply,) = responder.handle(unaligned)
    assert wire.decode(reply).error_code == wire.CERR_BADFMT
    assert responder.counters.data_too_short == 2


def test_dropped_and_counted() -> None:
    responder = ControlResponder(bob_view())
    good = wire.request(wire.OP_READVAR, 1)
    drops = {
        "too_short": good[:11],
        "oversized": wire.request(wire.OP_READVAR, 1, 0, b"x" * 600),
        "bad_mode": bytes([0x13]) + good[1:],
        "bad_version": bytes([0x2E]) + good[1:],
        "input_response": good[:1] + bytes([0x82]) + good[2:],
        "input_fragment": good[:1] + bytes([0x22]) + good[2:],
        "input_error": good[:1] + bytes([0x42]) + good[2:],
        "bad_offset": good[:8] + b"\0\x04" + good[10:],
    }
    for counter, datagram in drops.items():
        assert responder.handle(datagram) == [], counter
        assert getattr(responder.counters, counter) == 1, counter
    assert responder.counters.dropped == len(drops)
    assert dict(responder.counters.as_variables())["ctl_dropped"] == str(len(drops))


def test_long_variable_list_is_fragmented_and_reassembles() -> None:
    sysvars = [(f"var{i:03d}", '"' + "v" * (i % 50) + '"') for i in range(120)]
    responder = ControlResponder(FakeView(sysvars=sysvars))
    frames = ask(responder, wire.OP_READVAR)
    assert len(frames) > 3
    assert all(len(f.data) <= wire.CTL_MAX_DATA_LEN for f in frames)
    assert [f.more for f in frames] == [True] * (len(frames) - 1) + [False]
    assert [f.offset for f in frames] == [sum(len(g.data) for g in frames[:i]) for i in range(len(frames))]
    assert parse_variables(text(frames)) == sysvars
    assert responder.counters.fragments == len(frames) - 1 and responder.counters.responses == 1


def test_leap_bits_follow_the_system_status() -> None:
    view = bob_view()
    view.status = 0xC000 | 0x0016
    (frame,) = ask(ControlResponder(view), wire.OP_READVAR, 0, b"leap")
    assert frame.leap == 3


class _Keys:
    """A stand-in for the engine's keys: key 1, MD5 over key||message (as ntpd's MD5 MAC)."""

    def digest(self, keyid: int, message: bytes) -> bytes | None:
        import hashlib
        return hashlib.md5(b"secret" + message).digest() if keyid == 1 else None

    def verify(self, keyid: int, message: bytes, digest: bytes) -> bool:
        return self.digest(keyid, message) == digest


def test_authenticated_request_gets_a_signed_response() -> None:
    keys = _Keys()
    responder = ControlResponder(bob_view(), authenticator=keys)
    frame = wire.ControlFrame(opcode=wire.OP_READVAR, sequence=3, data=b"flags")
    signed = wire.ControlFrame(**{**frame.__dict__, "mac": b"\0\0\0\1" + keys.digest(1, wire.signed_part(frame))})
    (reply,) = responder.handle(wire.encode(signed))
    decoded = wire.decode(reply)
    assert decoded.data == b"flags=0x80003\r\n" and decoded.keyid == 1
    assert keys.verify(1, wire.signed_part(decoded), decoded.mac[4:])
    forged = wire.ControlFrame(**{**frame.__dict__, "mac": b"\0\0\0\1" + b"\0" * 16})
    (reply,) = responder.handle(wire.encode(forged))
    assert wire.decode(reply).mac == b""  # not authenticated: answered in clear, as ntpd does


# ---------------------------------------------------------------- fuzz

_VALID = [
    wire.request(wire.OP_READSTAT, 1), wire.request(wire.OP_READVAR, 2),
    wire.request(wire.OP_READVAR, 3, BOB_ASSID, b"flags,cert"), wire.request(wire.OP_READSTAT, 4, BOB_ASSID),
    wire.request(wire.OP_READVAR, 5, 0, b"cert=" + b"x" * 200), wire.request(wire.OP_REQ_NONCE, 6),
]


def _check(responder: ControlResponder, datagram: bytes) -> None:
    for reply in responder.handle(datagram):
        frame = wire.decode(reply)
        assert frame.response and len(frame.data) <= wire.CTL_MAX_DATA_LEN and len(reply) % 4 == 0


def _mutate(rng: random.Random, datagram: bytes) -> bytes:
    data = bytearray(datagram)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.5 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.7:
            del data[rng.randrange(len(data) + 1):]
        elif choice < 0.9:
            data += rng.randbytes(rng.randint(1, 64))
        else:
            data[0:2] = bytes([0x16 | rng.choice([0, 0x40]), rng.randrange(256)])
    return bytes(data)


def test_fuzz_random_and_mutated_requests() -> None:
    """20,000 mutated and random datagrams: never an exception, replies always well formed."""
    rng = random.Random(1234)
    responder = ControlResponder(bob_view())
    start = time.monotonic()
    for i in range(20_000):
        if i % 4 == 0:
            datagram = rng.randbytes(rng.randint(0, 600))
        else:
            datagram = _mutate(rng, rng.choice(_VALID))
        _check(responder, datagram)
    assert responder.counters.requests == 20_000
    assert responder.counters.dropped > 0 and responder.counters.errors > 0 and responder.counters.responses > 0
    assert time.monotonic() - start < 20


_HEADERS = st.tuples(
    st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
    st.sampled_from([0, BOB_ASSID, 1, 0xFFFF]), st.integers(0, 2), st.integers(0, 700),
)


@given(header=_HEADERS, data=st.binary(max_size=520))
@settings(max_examples=2000, deadline=None)
def test_fuzz_structured_headers(header: tuple[int, ...], data: bytes) -> None:
    """Hypothesis: 2,000 examples, each sent in 10 variants (20,000 inputs): the drawn header, then with
    the mode-6 versions 1-4, the R/M/E bits cleared, the offset cleared and the count fitted to the data."""
    li_vn_mode, remop, seq, status, assid, offset, count = header
    variants = [header]
    variants += [(vn << 3 | 6, remop, seq, status, assid, offset, count) for vn in (1, 2, 3, 4)]
    variants += [(0x16, remop & 0x1F, seq, status, assid, offset, count),
                 (0x16, remop & 0x1F, seq, status, assid, 0, count),
                 (0x16, remop & 0x1F, seq, status, assid, 0, len(data)),
                 (0x16, remop & 0x1F, seq, status, assid, 0, len(data) // 2),
                 (li_vn_mode, remop, seq, status, assid, 0, len(data))]
    responder = ControlResponder(bob_view())
    for fields in variants:
        _check(responder, struct.pack("!BBHHHHH", *fields) + data)
    assert responder.counters.requests == 10


@given(names=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_=, \t\"", max_size=20), max_size=12),
       assid=st.sampled_from([0, BOB_ASSID]))
@settings(max_examples=1000, deadline=None)
def test_fuzz_variable_lists(names: list[str], assid: int) -> None:
    data = ",".join(names).encode()[: wire.CTL_MAX_DATA_LEN]
    _check(ControlResponder(bob_view()), wire.request(wire.OP_READVAR, 1, assid, data))


class _RicherView(FakeView):
    """The engine's view also offers variables readable only by name, a direct status lookup and an
    event-counter reset for authenticated reads."""

    cleared: list[int]

    def named_system_variables(self) -> list[tuple[str, str]]:
        return self.system_variables() + [("ss_badformat", "3"), ("ctl_dropped", "7")]

    def peer_status(self, assid: int) -> int | None:
        return dict(self.assocs).get(assid)

    def clear_peer_events(self, assid: int) -> None:
        self.cleared.append(assid)


def test_richer_view_named_variables_and_event_reset() -> None:
    base = bob_view()
    view = _RicherView(status=base.status, sysvars=base.sysvars, assocs=base.assocs, peervars=base.peervars)
    view.cleared = []
    keys = _Keys()
    responder = ControlResponder(view, authenticator=keys)
    assert "ctl_dropped" not in text(ask(responder, wire.OP_READVAR))
    assert text(ask(responder, wire.OP_READVAR, 0, b"ctl_dropped,ss_badformat")) == "ss_badformat=3, ctl_dropped=7\r\n"
    ask(responder, wire.OP_READVAR, BOB_ASSID)
    assert view.cleared == []  # unauthenticated reads leave the event counter alone
    frame = wire.ControlFrame(opcode=wire.OP_READVAR, sequence=3, assid=BOB_ASSID)
    signed = wire.ControlFrame(**{**frame.__dict__, "mac": b"\0\0\0\1" + keys.digest(1, wire.signed_part(frame))})
    responder.handle(wire.encode(signed))
    assert view.cleared == [BOB_ASSID]


def test_read_mru_needs_a_fresh_nonce_from_the_same_address() -> None:
    view = bob_view()
    view.mru = [("10.99.0.2:123", 1000.0, 1500.0, 9, 0x23, 0)]
    responder = ControlResponder(view)
    (nonce_frame,) = [wire.decode(d) for d in responder.handle(wire.request(wire.OP_REQ_NONCE, 1), 2000.0, "10.0.0.1")]
    nonce = nonce_frame.data.decode().strip()
    request = wire.request(wire.OP_READ_MRU, 2, 0, f"{nonce}, frags=32".encode())
    frames = [wire.decode(d) for d in responder.handle(request, 2005.0, "10.0.0.1")]
    items = dict(parse_variables(text(frames)))
    assert items["addr.0"] == "10.99.0.2:123" and items["ct.0"] == "9" and items["mv.0"] == "35"  # decimal, as ntpd (ntpq reads %u)
    assert items["now"].startswith("0x") and items["nonce"] != nonce.split("=")[1]
    for late, other in ((2020.0, "10.0.0.1"), (2005.0, "10.0.0.2")):  # stale, or another client's nonce
        (reply,) = responder.handle(request, late, other)
        assert wire.decode(reply).error_code == wire.CERR_BADVALUE


class _ListsView(FakeView):
    """A view with one local address and two restrict entries (ntpq's ifstats and reslist)."""

    def interface_rows(self) -> list[list[tuple[str, str]]]:
        return [[("addr", "127.0.0.5:123"), ("bcast", ""), ("en", "1"), ("name", '"lo"'), ("flags", "0x5"),
                 ("tl", "0"), ("mc", "0"), ("rx", "7"), ("tx", "3"), ("txerr", "0"), ("pc", "1"), ("up", "9")]]

    def restriction_rows(self) -> list[list[tuple[str, str]]]:
        return [[("addr", "127.0.0.1"), ("mask", "255.255.255.255"), ("hits", "0"), ("flags", "serve")],
                [("addr", "0.0.0.0"), ("mask", "0.0.0.0"), ("hits", "0"), ("flags", "")]]


def _signed(keys: _Keys, keyid: int, opcode: int, data: bytes) -> bytes:
    frame = wire.ControlFrame(opcode=opcode, sequence=4, data=data)
    return wire.encode(wire.ControlFrame(**{**frame.__dict__,
                                            "mac": keyid.to_bytes(4, "big") + (keys.digest(1, wire.signed_part(frame)) or bytes(16))}))


def test_ordered_lists_only_for_the_controlkey() -> None:
    """READ_ORDLIST_A (ifstats, reslist) as ntpd: only for a request authenticated with the controlkey."""
    keys = _Keys()
    responder = ControlResponder(_ListsView(), authenticator=keys, controlkey=1)
    (frame,) = ask(responder, wire.OP_READ_ORDLIST_A)
    assert frame.error and frame.status >> 8 == wire.CERR_PERMISSION  # unauthenticated
    (frame,) = [wire.decode(d) for d in responder.handle(_signed(keys, 2, wire.OP_READ_ORDLIST_A, b""))]
    assert frame.error and frame.status >> 8 == wire.CERR_PERMISSION  # another key (no digest): not ours
    (frame,) = [wire.decode(d) for d in responder.handle(_signed(keys, 1, wire.OP_READ_ORDLIST_A, b"ifstats"))]
    items = dict(parse_variables(frame.data.decode()))
    assert items["addr.0"] == "127.0.0.5:123" and items["name.0"] == '"lo"' and items["rx.0"] == "7"
    (frame,) = [wire.decode(d) for d in responder.handle(_signed(keys, 1, wire.OP_READ_ORDLIST_A, b"addr_restrictions"))]
    items = dict(parse_variables(frame.data.decode()))
    assert items["addr.1"] == "0.0.0.0" and items["flags.0"] == "serve" and "mask.1" in items
    (frame,) = [wire.decode(d) for d in responder.handle(_signed(keys, 1, wire.OP_READ_ORDLIST_A, b"other"))]
    assert frame.error and frame.status >> 8 == wire.CERR_UNKNOWNVAR
