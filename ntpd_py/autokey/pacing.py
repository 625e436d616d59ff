"""When an association's next Autokey step is worth sending: the pacing policy, apart from the protocol.

The reference waits one poll per step (about 200 s with default polls).  We ask again as soon as the last
answer was processed, `step_spacing` (0.5 s) apart while steps succeed, doubling the spacing while nothing
is gained, up to MAX_FOLLOW_UP, beyond which the normal poll interval takes over.  A RATE kiss (ntpd's
`restrict ... limited`) slows the steps to the spacing of iburst.  The protocol state the policy reads
(flags, the trail walked, certificates learned, the last request) is the exchange's (`PeerAutokey`); the
engine's server-side limiter and our polls' pacing within it are `engine/pacing.py`, another matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import MODE_ACTIVE, MODE_CLIENT, MODE_PASSIVE
from .exchange import PeerAutokey

STEP_SPACING = 0.5  # seconds between Autokey steps while they succeed (ntpd: one poll, 64 s)
ANSWER_DELAY = 0.2  # seconds before a symmetric peer's pending request is answered
MAX_SYNC_WAIT = 20  # quick polls allowed while waiting for synchronization
MAX_FOLLOW_UP = 16.0  # beyond this the normal poll interval takes over
RATE_FOLLOW_UP = 2.0  # after a RATE kiss: the spacing of iburst, which ntpd's `limited` minimum allows
STEPPING_MODES = (MODE_CLIENT, MODE_ACTIVE, MODE_PASSIVE)  # modes that walk through the steps themselves


@dataclass
class StepPacer:
    """One association's step timing: the spacing now, and what the exchange looked like when it was chosen."""

    step_spacing: float = STEP_SPACING  # spacing while steps succeed (RATE_FOLLOW_UP after a RATE kiss)
    follow_up: float = STEP_SPACING  # current spacing: doubles while no flag bit is gained
    seen_flags: int = -1  # flags when the last spacing was chosen
    seen_trail: int = 0  # the longest certificate trail walked since the flags last changed
    seen_learned: int = 0  # certificates learned when the last spacing was chosen
    waiting_for_sync: int = 0  # quick polls spent waiting for this host to synchronize (SIGN, LEAP)

    def reset(self) -> None:
        """The exchange restarted (peer_clear): pace it as a new one."""
        self.__init__()  # type: ignore[misc]

    def rate_limited(self) -> None:
        """The server sent a RATE kiss: it enforces a headway, so step no faster than iburst."""
        self.step_spacing = RATE_FOLLOW_UP

    def progressed(self, peer: PeerAutokey, flags_before: int) -> bool:
        """Did the packet just processed move the exchange on (a new flag bit, a longer trail, a new
        certificate), since the last spacing was chosen?"""
        return bool(peer.crypto & ~flags_before or peer.trail > self.seen_trail
                    or peer.learned != self.seen_learned)

    def follow_up_after(self, peer: PeerAutokey, synchronized: bool) -> float | None:
        """Seconds until the next step is worth sending after we sent one (None: poll normally)."""
        # done(True): while this host waits for synchronization, SIGN and LEAP are still to come, and the
        # quick polls below bring the samples that synchronize it (none are taken before PROV)
        if peer.hmode not in STEPPING_MODES or peer.done(True):
            return None
        if peer.crypto != self.seen_flags:  # progress: keep stepping quickly
            self.seen_flags, self.seen_trail, self.follow_up = peer.crypto, peer.trail, self.step_spacing
            self.seen_learned = peer.learned
        elif peer.trail > self.seen_trail or peer.learned != self.seen_learned:  # a new certificate
            self.seen_trail, self.seen_learned = max(peer.trail, self.seen_trail), peer.learned
            self.follow_up = self.step_spacing
        elif peer.last_request is None and not synchronized and self.waiting_for_sync < MAX_SYNC_WAIT:
            self.waiting_for_sync += 1  # only SIGN/LEAP are left: quick polls also feed the clock filter
            self.follow_up = self.step_spacing
        else:  # no progress (no answer, refused answers, waiting for sync): back off to the normal poll
            self.follow_up *= 2
            if self.follow_up > MAX_FOLLOW_UP:
                return None
        return self.follow_up


__all__ = ["ANSWER_DELAY", "MAX_FOLLOW_UP", "MAX_SYNC_WAIT", "RATE_FOLLOW_UP", "STEP_SPACING", "StepPacer"]
