"""A rating kept on a settled contract that a later statement displaces (SPEC 10.2, ATT-022 (c), NEG-017).

The reference peer's reputation view (:class:`a2a_coop.runtime.reputation.Reputation`) keeps the ratings
whose stake it counted, since only a Forfeit, a revocation or a rotation changed such a rating. A contract
that gives way later changes it too: NEG-017's witnessed Accept of an earlier offer of the line cuts the
line back past a contract its escrow bonded and settled, and ATT-022 (c) makes an attestation of the
displaced contract rate nobody. Two views holding the same statements must weigh them the same, whatever
order they heard them in (ATT-020, ATT-003 (a))."""

from __future__ import annotations

import pytest

from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.reputation import Reputation
from conformance.generate_vectors.ratings import BOND, displaced_after_settlement


def _view(escrow: str, seed: str, proofs: int) -> tuple[EvidenceVerifier, Reputation]:
    v = EvidenceVerifier()
    v.max_foreign_forks = proofs
    clock = [0]
    return v, Reputation(lambda: v, seeds=[seed], escrows=[escrow], clock=lambda: clock[0])


@pytest.mark.req("ATT-022", "NEG-017", "ATT-020")
@pytest.mark.parametrize("proofs", [0, 10_000], ids=["no-proof-kept", "proof-kept"])
def test_a_contract_displaced_after_its_rating_was_kept_rates_nobody_in_either_order(proofs: int) -> None:
    """Two views take the same statements: one meets the displacing Accept before it ever computes a
    rating, the other computes (and keeps) the settled rating first. Both must end with no rating of the
    displaced contract, and the same score for Alice -- also in a view whose foreign-proof bound (ATT-018)
    kept no answer proof against Alice's key, where nothing else zeroes her. Before the fix the second
    view kept rating Alice FULFILLED at stake 100 from a contract no view holds as binding."""
    story = displaced_after_settlement()
    settled, late, attestation, escrow, bob_principal = (
        story.settled,
        story.late,
        story.attestation,
        story.escrow,
        story.rater,
    )
    first, rep_first = _view(escrow, bob_principal, proofs)
    kept, rep_kept = _view(escrow, bob_principal, proofs)
    for env in [*settled, *late]:
        first.accept(env)
    for env in settled:
        kept.accept(env)
    before = rep_kept.ratings()
    assert [(r.attestation, r.stake) for r in before] == [(attestation, BOND)]  # the story: it counted
    alice_before = rep_kept.score(before[0].subject_key)
    for env in late:
        kept.accept(env)
    # the story: in both views the contract is now Alice's Accept of Bob's Counter, the settled one displaced
    for v in (first, kept):
        neg = v.negotiations.by_id[verify_statement(late[1]).negotiation_id]
        assert neg.contract is not None and neg.contract.accept.envelope == late[1]
    assert rep_first.ratings() == [] and rep_kept.ratings() == []
    subject = before[0].subject_key
    assert rep_kept.score(subject) == rep_first.score(subject)
    if proofs == 0:
        assert alice_before.score > rep_first.score(subject).score  # the rating moved her: now it does not
