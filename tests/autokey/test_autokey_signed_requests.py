"""The client's requests are signed as the reference client signs them (issue 11, finding 5).

ntpd 4.2.8's client signs its identity challenge (crypto_alice*), its COOK request (the public-key value) and
its SIGN request (its certificate) with its sign key, over timestamp | filestamp | value length | value, with
the time when it is synchronized (crypto_time()), and sends them unsigned with timestamp 0 when it is not.
The reference client of the vectors' captures is synchronized (orphan mode), so its requests are signed.

These tests take the very same client (bob of the iff/, gq/ and mv/ captures, same keys and files) through
ntpd_py's exchange and compare each request with the captured one: same code, same filestamp (the
identity file's, the host key's, the certificate's), same value length, a signature of the same length that
verifies with bob's certificate key; the captured signatures verify the same way, so the check itself is
the reference's. Unsynchronized, both send timestamp 0 and no signature.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from autokey_pair import make_pair  # noqa: E402
from autokey_vectors import captured_packets  # noqa: E402

from ntpd_py.autokey.signature import verify  # noqa: E402
from ntpd_py.wire.extension import Opcode, decode_field  # noqa: E402
from ntpd_py.wire.packet import NtpPacket, decode, encode_header  # noqa: E402

SIGNED_REQUESTS = {Opcode.IFF, Opcode.GQ, Opcode.MV, Opcode.COOK, Opcode.SIGN}


def signed_part(field) -> bytes:
    return (field.tstamp.to_bytes(4, "big") + field.fstamp.to_bytes(4, "big") + len(field.value).to_bytes(4, "big")
            + field.value)


def our_requests(pair, steps: int = 10) -> dict[int, object]:
    """The first request of each code our client sends while the pair runs to full flags."""
    seen: dict[int, object] = {}
    for _ in range(steps):
        header = encode_header(NtpPacket(mode=3, stratum=10, poll=6))
        data = header + pair.client.request_tail(pair.assoc, header, pair.now)
        for raw in decode(data).extensions:
            field = decode_field(raw)[0]
            seen.setdefault(field.code, field)
        pair.step()
    return seen


def reference_requests(vectors: Path, scheme: str) -> dict[int, object]:
    seen: dict[int, object] = {}
    for packet in captured_packets(vectors, scheme):
        for field in packet.fields:
            if not field.response:
                seen.setdefault(field.code, field)
    return seen


@pytest.mark.parametrize("scheme", ["iff", "gq", "mv"])
def test_synchronized_client_signs_as_the_reference(vectors: Path, scheme: str) -> None:
    pair = make_pair(vectors, scheme, synchronized=True)
    ours, theirs = our_requests(pair), reference_requests(vectors, scheme)
    bob_key = pair.client.host.host_entry.cert.public_key
    digest = pair.client.host.sign_digest
    compared = 0
    for code in SIGNED_REQUESTS & theirs.keys():
        reference, mine = theirs[code], ours.get(code)
        assert reference.signature and reference.tstamp, f"the reference sent {code} unsigned?"
        verify(bob_key, signed_part(reference), reference.signature, digest)  # the reference's own signature
        assert mine is not None, f"no {Opcode(code).name} request from ntpd_py"
        assert mine.tstamp != 0 and len(mine.signature) == len(reference.signature), Opcode(code).name
        verify(bob_key, signed_part(mine), mine.signature, digest)
        assert mine.fstamp == reference.fstamp, Opcode(code).name
        assert len(mine.value) == len(reference.value), Opcode(code).name
        compared += 1
    assert compared >= 3  # identity challenge, COOK, SIGN


@pytest.mark.parametrize("scheme", ["iff"])
def test_unsynchronized_client_sends_timestamp_zero_unsigned(vectors: Path, scheme: str) -> None:
    """crypto_time() is 0 while unsynchronized: nothing is signed then, by either implementation."""
    pair = make_pair(vectors, scheme, synchronized=False)
    ours = our_requests(pair, 6)
    for code in (Opcode.IFF, Opcode.COOK):
        assert code in ours
        assert ours[code].tstamp == 0 and not ours[code].signature, Opcode(code).name
