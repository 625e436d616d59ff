"""Damaged key files give KeyFileError/CertificateError (naming the file), never another exception.

Bounded here (a few thousand mutations of the vectors' files); set KEYS_FUZZ_RUNS for a longer run.
"""

from __future__ import annotations

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ntpd_py.keys.cert import CertificateError, parse_certificate
from ntpd_py.keys.files import KeyFileError, parse_key_text, pem_text
from ntpd_py.keys.pem import load_private_key, raw_key

RUNS = int(os.environ.get("KEYS_FUZZ_RUNS", "2000"))


def _mutate(rng: random.Random, der: bytes) -> bytes:
    data = bytearray(der)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        choice = rng.random()
        if choice < 0.5:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.8:
            del data[rng.randrange(len(data)) :]
        else:
            data.insert(rng.randrange(len(data)), rng.randrange(256))
    return bytes(data)


def test_mutated_vector_files_fail_cleanly(vectors):
    files = sorted(p for p in vectors.glob("*/*/keys/*"))
    parsed = [(path, parse_key_text(path.read_text(), path).blocks[0]) for path in files]
    rng = random.Random(5906)
    outcomes = {"error": 0, "loaded": 0}
    for _ in range(RUNS):
        path, block = rng.choice(parsed)
        damaged = _mutate(rng, block.der)
        if not damaged:
            continue
        password = "serverpw" if "/alice/" in str(path) else "clientpw"
        try:
            mutated = parse_key_text(pem_text(block.label, damaged, block.headers), "damaged").blocks[0]
            if block.label == "CERTIFICATE":
                parse_certificate(mutated.der)
            else:
                raw_key(mutated, password, "damaged")
                if "RSAhost" in path.name:
                    load_private_key(mutated, password, "damaged")
        except KeyFileError as exc:
            assert "damaged" in str(exc)
            outcomes["error"] += 1
        except CertificateError:
            outcomes["error"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["error"] > RUNS // 2


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes_the_splitter(text):
    try:
        parse_key_text(text, "junk")
    except KeyFileError as exc:
        assert str(exc).startswith("junk: ")
