"""A third attacker's review of the commitment and trust model: each test performs an attack through
the real components (peers with their policy guard, the reference escrow in process, the reputation
view) by choosing a value the protocol lets the attacker choose, and checks what the rules say must
happen. A test marked ``xfail(strict=True)`` is a hole this version still has: the attack succeeds,
and the reason says what would close it.
"""

from __future__ import annotations

from typing import Any

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import reputation_pb2
from a2a_coop.protocol.reputation import Rating, attestation_due, rate
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.trust import RatingTable, aggregate
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.trade import run_trade
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party

FUNDS, BOND = 1_000, 100


def _market(funded: dict[str, int], **peer_kw: Any) -> tuple[FixedClock, Party, Party, LocalEscrow, Peer, Peer]:
    """Mallory (the attacker) and Bob (honest, the reference strategy), both reference peers, and an
    escrow both trust, holding the funds ``funded`` names (by party name)."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    funds = {p.did: funded[p.name] for p in (mallory, bob) if p.name in funded}
    escrow = LocalEscrow(Party("escrow", clock), funds=funds)
    m = make_peer(mallory, clock, context=[escrow.mandate], **peer_kw)
    b = make_peer(bob, clock, context=[escrow.mandate], **peer_kw)
    return clock, mallory, bob, escrow, m, b


# --- 1: a rating of a contract nobody could perform ------------------------------------------------


@pytest.mark.req("ATT-004", "ATT-015", "NEG-012")
def test_a_contract_the_rater_never_bonded_rates_nobody() -> None:
    """Mallory offers Bob a trade with a bond on each side, and never funds hers. Bob's bond is locked,
    Mallory's never is, so nobody may deliver (NEG-012); the contract lapses and Bob's bond is
    refunded. Mallory then attests Bob BREACHED. Before the fix that attestation weighed Bob's bond
    with score 1/2 (a refund floors it there) and pulled a good record down in every view that hears
    Mallory, at no cost to her: Bob's attestation of her weighed 0, she locked nothing. Expect a
    contract that never had every required bond locked to rate nobody, either way."""
    clock, mallory, bob, escrow, m, b = _market({"bob": FUNDS})
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    neg = run_trade(m, b, b.did, proposal, escrow=escrow)
    c = neg.contract
    assert c is not None and set(c.locked) == {bob.did}  # Mallory's bond was never locked
    clock.advance(3 * DAY_MS)  # past every deadline plus the claim window
    lapse = escrow.tick()
    assert [verify_statement(e).body for e in lapse] == ["ruling", "refund"]
    m.hold(lapse)
    b.hold(lapse)
    smear = m.sign(
        "attestation",
        reputation_pb2.Attestation(
            subject=b.did, offer=c.offer.digest, accept=c.id, outcome=reputation_pb2.OUTCOME_BREACHED
        ),
    )
    rating = rate(m.verifier, smear, {escrow.did})
    # Bob's record before: one trusted principal (carol) saw him fulfil a bonded contract.
    carol = Rating(b"carol", "carol", rating.subject, "carol", b.did, 1, 90, BOND, 1.0, clock.now_ms)
    seeds = ["carol", rating.rater]
    before = aggregate(RatingTable.from_ratings([carol]), seeds, clock.now_ms).score(rating.subject)
    after = aggregate(RatingTable.from_ratings([carol, rating]), seeds, clock.now_ms).score(rating.subject)
    assert rating.stake == 0 and rating.note
    assert after.score == before.score
    # The honest side does not attest such a contract either: it would weigh nothing.
    assert attestation_due(b.verifier, b.negotiation(neg.id), b.did) is None
