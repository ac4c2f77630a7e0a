"""Attacker's pass 23: the rules added in the seventeenth session (ESC-020, MND-020, KEY-010 (c),
MND-021, the red-team 17 screens) read values someone chose; each test here is a way a chosen value
hurt an honest party, failing before its fix."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import reputation_pb2
from a2a_coop.protocol import audit
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import FixedClock, Party


def _attest(by: Party, offer: VerifiedStatement, accept: VerifiedStatement, good: bool) -> VerifiedStatement:
    subject = accept.issuer if by.did == offer.issuer else offer.issuer
    outcome = reputation_pb2.OUTCOME_FULFILLED if good else reputation_pb2.OUTCOME_BREACHED
    body = reputation_pb2.Attestation(
        subject=subject, offer=offer.digest, accept=accept.digest, outcome=outcome
    )
    return by.sign("attestation", body)


def _triangle_and_accusers(accusers: int) -> tuple[list[Party], list[VerifiedStatement]]:
    """Three honest traders, each pair trading once, each attesting the other FULFILLED; then each of
    ``accusers`` outside identities trades once with the first, who delivers, and attests it BREACHED
    (an attestation's outcome is its signer's word: no proof rides with it)."""
    clock = FixedClock()
    tri = [Party(f"attack23-honest-{k}", clock) for k in range(3)]
    held: list[VerifiedStatement] = []

    def trade(a: Party, b: Party, a_says_b_good: bool) -> None:
        offer = a.offer(b)
        accept = b.accept(offer)
        held.extend(
            [offer, accept, _attest(a, offer, accept, a_says_b_good), _attest(b, offer, accept, True)]
        )
        clock.advance(1_000)

    for i, a in enumerate(tri):
        for b in tri[i + 1 :]:
            trade(a, b, True)
    for k in range(accusers):
        trade(Party(f"attack23-mallory-{k}", clock), tri[0], False)
    return tri, held


def test_one_false_attestation_flags_no_honest_triangle_as_a_sybil_ring() -> None:
    """The triangle fallback (red team 17) made three honest traders that each traded once a ring; one
    outsider's contract with one of them, attested BREACHED though it delivered, gave the ring an
    outside record of 0.50 and all three a Sybil score of 0.43 (threshold 0.25): one signature, one
    contract, three honest identities accused. A poor outside record now takes two accusers."""
    tri, held = _triangle_and_accusers(1)
    scores = {s.subject: s for s in audit.sybil_scores(audit.Evidence(held))}
    threshold = audit.Thresholds().sybil_ring
    assert all(scores[p.did].score < threshold for p in tri), [scores[p.did] for p in tri]
    assert "1 outside accusers" in scores[tri[1].did].detail


def test_two_accusers_still_make_a_poor_record() -> None:
    """The other side: a ring whose members two outsiders attest badly scores as before (what two
    colluding accusers can still do to an honest triangle is SPEC 16.14's)."""
    tri, held = _triangle_and_accusers(2)
    scores = {s.subject: s.score for s in audit.sybil_scores(audit.Evidence(held))}
    assert all(scores[p.did] >= audit.Thresholds().sybil_ring for p in tri), scores
