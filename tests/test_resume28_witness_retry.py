"""resume28: the escrow witness asks again what a later Submit may pass (RETRIED_REFUSALS).

``EscrowWitness._submit`` asked again only after `RATE_LIMITED`: any other refusal was final, so a
Delivery the escrow refused `ISSUED_IN_FUTURE` -- its clock behind ours, or TIM-009's hint not passed yet --
was dropped until a restart's sweep, and a claim after the deadline found no Stamp of it (WIT-003). Now the
refusals ``trade.RETRIED_REFUSALS`` names are asked again at the existing doubling delays (or the hint,
if later), bounded by MAX_SUBMIT_ATTEMPTS; any other stays final (the same bytes are refused again).

Who chose the values: the escrow's clock is the escrow's (a test clock here, set behind ours, then caught
up once it refused); nothing waits out a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.node import MAX_SUBMIT_ATTEMPTS, EscrowWitness
from a2a_coop.testing import FixedClock, LocalEscrow, Party

DAY_MS = 86_400_000
AHEAD_MS = 600_000  # our clock ahead of the escrow's: beyond the skew (TIM-003)


class _Escrow:
    """The escrow as the witness reaches it, its clock ``AHEAD_MS`` behind ours: counts the Submits and the
    refusals, and, once it refused ``refusals_before_caught_up`` of them, its clock catches up with ours."""

    def __init__(self, escrow: LocalEscrow, clock: FixedClock, ours: FixedClock, catch_up_after: int) -> None:
        self.escrow, self.clock, self.ours, self.catch_up_after = escrow, clock, ours, catch_up_after
        self.submits, self.refused = 0, list[str]()

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.submits += 1
        try:
            return self.escrow.submit(envelopes)
        except CoopError as exc:
            self.refused.append(exc.code)
            if len(self.refused) == self.catch_up_after:
                self.clock.now_ms = self.ours.now_ms
            raise


def _delivery_ahead(catch_up_after: int) -> tuple[_Escrow, VerifiedStatement, str]:
    """A bonded contract Bob accepted, locked at the escrow; then Bob's Delivery, dated by his clock, now
    ``AHEAD_MS`` ahead of the escrow's: the escrow, its Stamp's witness, and its key."""
    ours, theirs = FixedClock(), FixedClock()
    theirs.now_ms = ours.now_ms
    alice, bob, e = Party("alice", ours), Party("bob", ours), Party("escrow", theirs)
    escrow = LocalEscrow(e, funds={alice.did: 1_000, bob.did: 1_000})
    offer = alice.offer(bob, alice.bonded_proposal(e.did, ours.now_ms + DAY_MS, bond=100))
    accept = bob.accept(offer)
    escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    ours.now_ms += AHEAD_MS
    return _Escrow(escrow, theirs, ours, catch_up_after), bob.deliver(accept, alice), e.did


def _witnessed(submits: int | None) -> tuple[_Escrow, bool]:
    """The witness (no delay before a retry: each is due at once, run by ``flush``) given Bob's Delivery;
    the escrow, and whether it stamped the Delivery."""
    escrow, delivery, did = _delivery_ahead(catch_up_after=submits or 0)
    witness = EscrowWitness(escrow, did, retry_s=0.0)  # type: ignore[arg-type]
    try:
        witness.submit([delivery.envelope])
        witness.flush()
    finally:
        witness.close()
    return escrow, escrow.escrow.escrow.verifier.witness.stamp_time(did, delivery.digest) is not None


@pytest.mark.req("WIT-003", "TIM-003", "RPC-012")
def test_a_delivery_issued_in_the_escrows_future_is_asked_again() -> None:
    """Refused `ISSUED_IN_FUTURE` once, then taken: before, the witness dropped it after the refusal."""
    escrow, stamped = _witnessed(1)
    assert escrow.refused == ["ISSUED_IN_FUTURE"]
    assert stamped and escrow.submits == 2


@pytest.mark.req("WIT-003", "TIM-003")
def test_asking_again_is_bounded() -> None:
    """An escrow whose clock never catches up is asked MAX_SUBMIT_ATTEMPTS times in all, then no more."""
    escrow, stamped = _witnessed(None)
    assert not stamped
    assert escrow.refused == ["ISSUED_IN_FUTURE"] * MAX_SUBMIT_ATTEMPTS


@pytest.mark.req("WIT-003", "ESC-007")
def test_a_refusal_the_same_bytes_meet_again_is_not_asked_again() -> None:
    """A Delivery under a contract the escrow never saw is refused for good: asked once."""
    ours = FixedClock()
    alice, bob, e = Party("alice", ours), Party("bob", ours), Party("escrow", ours)
    escrow = _Escrow(LocalEscrow(e, funds={}), ours, ours, catch_up_after=0)
    offer = alice.offer(bob, alice.bonded_proposal(e.did, ours.now_ms + DAY_MS, bond=100))
    delivery = bob.deliver(bob.accept(offer), alice)
    witness = EscrowWitness(escrow, e.did, retry_s=0.0)  # type: ignore[arg-type]
    try:
        witness.submit([delivery.envelope])
        witness.flush()
    finally:
        witness.close()
    assert escrow.submits == 1 and len(escrow.refused) == 1, escrow.refused
