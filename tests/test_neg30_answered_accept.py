"""neg30: what NEG-025 left -- an escrow read back from a snapshot pickled before it, and (below) the
mirror case and the cost of one key's flood of answers.

An escrow refuses an Accept of an offer whose other answer it took first (ESC-014): NEG-025's holding is
a view's. The setting lives in the verifier's negotiations (``hold_unwitnessed``), and an escrow pickled
before NEG-025 kept none: its negotiations read the class default, which held. A node never loads a
snapshot of another build (its fingerprint), but a library user may: an escrow so read back that had
forgotten a negotiation (bounded memory) took, read back from its archive, Bob's Accept of an offer it had
seen him Reject, superseded, where every other escrow refuses it. Now the class default is the escrow's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_escrow_memory import BOND, Twins

from a2a_coop.protocol.negotiation import Negotiation, Negotiations
from a2a_coop.testing import FixedClock, Party


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def parties(clock: FixedClock) -> tuple[Party, Party, Party]:
    return Party("alice", clock), Party("bob", clock), Party("escrow", clock)


@pytest.fixture
def twins(tmp_path: Path, clock: FixedClock, parties: tuple[Party, Party, Party]) -> Iterator[Twins]:
    alice, bob, escrow = parties
    pair = Twins(tmp_path, clock, escrow, alice, bob)
    yield pair
    for node in pair.nodes.values():
        node.close()


def _as_before_neg25(negotiations: Negotiations) -> None:
    """``negotiations`` as pickled by a version before NEG-025: no ``hold_unwitnessed`` of its own, nor in
    the negotiations it holds (they read the class defaults)."""
    holders: list[Negotiations | Negotiation] = [negotiations, *negotiations.by_id.values()]
    for holder in holders:
        holder.__dict__.pop("hold_unwitnessed", None)


@pytest.mark.req("ESC-014", "NEG-025")
def test_an_escrow_read_back_from_a_snapshot_before_neg25_still_refuses_the_accept(
    twins: Twins, parties: tuple[Party, Party, Party], clock: FixedClock
) -> None:
    """Alice shows the escrow her bonded offer and Bob's Reject of it; the escrow forgets the negotiation past
    the offer's cutoff. The resumed twin is snapshotted as a version before NEG-025 pickled it and read back
    from that snapshot: Bob's Accept of the offer (signed in time) is refused there ``NEG-001`` as at the
    twins that never lost the setting, before and after the restart -- before, the twin read back from the
    old-shaped snapshot took it superseded (the class default held it, NEG-025) and answered the Submit."""
    alice, bob, escrow = parties
    offer = alice.offer(bob, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    late_accept = bob.accept(offer)
    reject = bob.reject(offer, "not now")
    _as_before_neg25(twins.nodes["resumed"].escrow.verifier.negotiations)
    twins.submit(offer, reject)
    clock.now_ms = offer.header.expires_at_ms + 60_001  # past the cutoff and the tolerance: forgotten
    twins.tick()
    twins.tick()
    assert offer.header.negotiation_id not in twins.forgetting.escrow.verifier.negotiations.by_id
    twins.restart()  # the resumed twin from the snapshot of the old shape
    resumed = twins.nodes["resumed"].escrow.verifier.negotiations
    assert "hold_unwitnessed" not in resumed.__dict__  # read back as pickled: the class default
    refused = twins.submit(late_accept)  # the same answer at every twin (Twins.each)
    assert refused[:3] == ("refused", "IllegalTransition", "NEG-001")
