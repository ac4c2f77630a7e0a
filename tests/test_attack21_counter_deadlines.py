"""Attacker's pass 21: CMT-014 through a Counter -- the counterparty chooses its deadline and the expiry
that sets the bonding cutoff, in terms it proposes back.

Bob (the reference peer, its honest strategy) offers Mallory a bonded trade. Mallory counters: her item due
in two minutes, Bob's in an hour, her Counter open five minutes -- every value hers, the bonding cutoff (her
Counter's expiry + 30 s) hers too. Accepted, she would fund after her own deadline and before that cutoff,
and CMT-009 would refuse Bob's claim on her item while his stayed claimable (tests/test_attack25.py plays it
through an Offer). Played here through a Counter with real signatures and Bob's real guard.
"""

from __future__ import annotations

import pytest
from peers import make_peer

from a2a_coop.protocol.negotiation import BOND_GRACE_MS, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.testing import FixedClock, LocalEscrow, Party

BOND, TTL = 100, 300_000


@pytest.mark.req("CMT-014", "CMT-009", "CMT-010", "MND-011")
@pytest.mark.parametrize(("due_after_cutoff_ms", "accepted"), [(-1, False), (0, True)])
def test_a_counter_naming_an_item_due_before_its_own_bonding_cutoff_is_not_accepted(
    due_after_cutoff_ms: int, accepted: bool
) -> None:
    """Mallory's Counter is signed, delivered and taken by Bob's peer (the attack happened); Bob's guard
    signs no Accept of it while her item falls due before the cutoff her Counter's expiry sets -- it
    answers a Reject naming CMT-014 -- and accepts the same Counter with her item due at the cutoff (a
    BondLock issued then is at or before it, CMT-009, so a claim on it is taken)."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob.did: 1_000})
    b = make_peer(bob, clock, context=[escrow.mandate])
    t0 = clock.now_ms
    offer = b.propose(mallory.did, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    cutoff = clock.now_ms + TTL + BOND_GRACE_MS
    proposal.gives[0].deadline_ms = cutoff + due_after_cutoff_ms  # Mallory's item
    proposal.wants[0].deadline_ms = t0 + 3_600_000  # Bob's, an hour away: claimable whenever she funds
    counter = mallory.counter(offer, proposal, ttl_ms=TTL)
    assert counter.header.expires_at_ms + BOND_GRACE_MS == cutoff
    answers = [verify_statement(a) for a in b.exchange(counter.envelope, [*mallory.setup])]
    neg = b.negotiation(offer.header.negotiation_id)
    assert counter.digest in {h[3] for h in neg.history}  # the attack happened: her Counter was taken
    if accepted:
        assert [a.body for a in answers] == ["accept"] and neg.state is State.ACCEPTED
        return
    assert [a.body for a in answers] == ["reject"] and neg.state is State.REJECTED
    assert answers[0].statement.reject.reason.startswith("policy guard refused our accept: CMT-014")
