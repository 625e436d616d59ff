"""The client's Autokey step order is data (autokey/steps.py) and the pacing policy is apart (autokey/pacing.py)."""

from __future__ import annotations

import dataclasses

from ntpd_py.autokey.exchange import PeerAutokey
from ntpd_py.autokey.flags import CryptoFlag
from ntpd_py.autokey.pacing import MAX_FOLLOW_UP, RATE_FOLLOW_UP, STEP_SPACING, StepPacer
from ntpd_py.autokey.steps import Request, pending
from ntpd_py.protocol import MODE_ACTIVE, MODE_BCLIENT, MODE_CLIENT

STATUS = 0x80021  # a server's status word: IFF, NID 8


def _walk(hmode: int, flags: int = 0) -> list[str]:
    """Requests in order, each answer granting the bit its step names (ASSOC: the status word)."""
    order = []
    while (step := pending(flags, hmode)) is not None:
        order.append(step.request.value)
        flags |= step.sets if step.request is not Request.ASSOC else STATUS
    return order


def test_client_order_is_the_references():
    assert _walk(MODE_CLIENT) == ["ASSOC", "CERT", "IDENT", "COOK", "AUTO", "SIGN", "LEAP"]
    assert _walk(MODE_ACTIVE) == ["ASSOC", "CERT", "IDENT", "COOK", "AUTO", "SIGN", "LEAP"]


def test_broadcast_client_has_no_cookie_step():
    assert _walk(MODE_BCLIENT) == ["ASSOC", "CERT", "IDENT", "AUTO", "SIGN", "LEAP"]


def test_only_sign_and_leap_wait_for_synchronization():
    after = {step.request.value for flags in range(0, 0x8000, 0x100) if (step := pending(flags | STATUS, MODE_CLIENT))
             and step.after_sync}
    assert after == {"SIGN", "LEAP"}


def test_protocol_state_holds_no_pacing():
    names = {f.name for f in dataclasses.fields(PeerAutokey)}
    assert not names & {f.name for f in dataclasses.fields(StepPacer)}


def test_pacer_backs_off_without_progress_and_resets():
    peer, pacer = PeerAutokey(1, MODE_CLIENT, "grp"), StepPacer()
    peer.crypto = STATUS
    peer.last_request = object()  # a step was sent and nothing came back
    spacings = [pacer.follow_up_after(peer, synchronized=True) for _ in range(7)]
    assert spacings == [STEP_SPACING, 1.0, 2.0, 4.0, 8.0, MAX_FOLLOW_UP, None]
    peer.crypto |= CryptoFlag.CERT
    assert pacer.follow_up_after(peer, synchronized=True) == STEP_SPACING  # progress: quick again
    pacer.rate_limited()
    peer.crypto |= CryptoFlag.VRFY
    assert pacer.follow_up_after(peer, synchronized=True) == RATE_FOLLOW_UP
    pacer.reset()
    assert pacer == StepPacer()
