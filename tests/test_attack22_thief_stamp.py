"""Red team, twenty-second session: a thief's Stamp by a revoked escrow key, beside its successor's
(ESC-022, KEY-009, ATT-020 (a)).

Bob breaches a bonded contract at escrow key K1. K1 is stolen: its principal revokes it from just before
Alice's claim and hands its contracts to K2, which stamps the claim, upholds it, forfeits Bob's bond to
Alice and releases hers; Alice attests Bob BREACHED. The thief -- colluding with Bob, or paid by him --
still holds K1 and signs one more Stamp with it, naming Alice's claim and Bob's Accept, and gossips it
ahead of K1's revocation.

Who chose the values the rules rely on: the thief chose the Stamp's time and seq (any), K1's principal the
revocation's effective_ms, the relay the order a view hears them in. Before: the reference's
``WitnessIndex.stamp_of`` took the old key's own Stamp of a statement whenever it held one, however late,
before its successor's; a reputation view that heard the thief's Stamp before K1's revocation read it as
"the escrow's Stamp" of the claim and the Accept (ATT-020 (a): "the earliest of each statement held"),
found it disowned (K1 revoked over it) and weighed Alice's rating of Bob's escrowed breach 0 -- where the
JavaScript verifier (the earliest Stamp) and a view that heard the revocation first (the thief's Stamp
refused, KEY_REVOKED) weighed it 100. Dated before K2's Stamp, the thief's Stamp was the earliest, and both
implementations weighed the breach 0 in a view that heard it first, 100 in one that heard the revocation
first. Now, in both, from the hand-over's time on K2 speaks for the escrow and K1 no longer (ESC-022): a
Stamp by K1 issued then witnesses nothing, and every view weighs the breach 100 whatever it heard first.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from js_ratings import assert_js_rates_alike

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.reputation import rate
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.reputation_vectors import RatingVector, rate_bundle
from conformance.generate_vectors.ratings import HandedOverBreach, thief_restamps_after_hand_over


def _weigh(h: HandedOverBreach, envelopes: list[bytes]) -> tuple[int, str, bool, list[str]]:
    """A reputation view fed ``envelopes`` then Alice's attestation: her rating's stake, the contract's state,
    whether it holds the thief's Stamp, and what it refused."""
    v = Verifier(complete_chains=False, evidence_view=True)
    refused = []
    for env in [*envelopes, h.attestation.envelope]:
        try:
            v.accept(env, None)
        except CoopError as e:
            refused.append(f"{verify_statement(env).body} {e.code}")
    neg = v.negotiations.get(_nid(h))
    rating = rate(v, v.statements[h.attestation.digest], {h.escrow.did})
    return rating.stake, neg.state.name, h.thief_stamp.digest in v.statements, refused


def _nid(h: HandedOverBreach) -> bytes:
    return verify_statement(h.bundle[len(h.bundle) - 1]).header.negotiation_id


@pytest.mark.req("ATT-020", "ESC-022", "KEY-009")
@pytest.mark.parametrize("before_successor", [False, True])
def test_a_thiefs_stamp_by_the_revoked_escrow_key_erases_no_breach_its_successor_upheld(
    before_successor: bool,
) -> None:
    """Every place of the thief's Stamp in the bundle, from before K1's revocation to the end: each view
    weighs Alice's rating of Bob's escrowed breach 100 and holds the contract BREACHED. The attack happened:
    the Stamp is K1's signature, dated after the revocation's effective_ms, and a view that heard it before
    the revocation held it (one that heard it after refused it, KEY_REVOKED)."""
    h = thief_restamps_after_hand_over(before_successor=before_successor)
    thief = h.thief_stamp
    effective = verify_statement(h.bundle[h.revocation]).statement.key_revocation.effective_ms
    assert thief.issuer == h.escrow.did and thief.issued_at_ms >= effective
    k2_stamp = verify_statement(h.bundle[h.revocation + 2])
    assert k2_stamp.issuer == h.successor.did and k2_stamp.body == "stamp"
    assert (thief.issued_at_ms < k2_stamp.issued_at_ms) is before_successor
    seen = set()
    for at in range(h.revocation - 1, len(h.bundle) + 1):
        stake, state, held, refused = _weigh(h, [*h.bundle[:at], thief.envelope, *h.bundle[at:]])
        # held in every order, witnessing nothing (KEY-009 (d)); before, refused heard after the revocation
        assert held and refused == [], (at, refused)
        seen.add((stake, state))
    assert seen == {(100, State.BREACHED.name)}


@pytest.mark.req("ATT-020", "ESC-022")
def test_the_successors_stamp_is_the_escrows_in_both_implementations(tmp_path: Path) -> None:
    """The two bundles of ratings.json 46 and 47 (the thief's Stamp heard before K1's revocation), through
    the reference's witness index and the JavaScript verifier: the escrow's Stamp of the claim and of the
    Accept is K2's and K1's own from before the hand-over, never the thief's; both weigh the breach 100."""
    vectors = []
    for i, before_successor in enumerate((False, True), 1):
        h = thief_restamps_after_hand_over(before_successor=before_successor)
        bundle = [*h.bundle[: h.revocation], h.thief_stamp.envelope, *h.bundle[h.revocation :]]
        v = Verifier(complete_chains=False, evidence_view=True)
        for env in bundle:
            v.accept(env, None)
        claim, accept = h.thief_stamp.statement.stamp.statements
        assert v.witness.stamp_of(h.escrow.did, claim) == verify_statement(h.bundle[h.revocation + 2]).digest
        own = next(vs for vs in map(verify_statement, h.bundle) if vs.body == "stamp")  # K1's own
        assert own.issuer == h.escrow.did and accept in own.statement.stamp.statements
        assert v.witness.stamp_of(h.escrow.did, accept) == own.digest
        envelopes = (*bundle, h.attestation.envelope)
        got = rate_bundle(RatingVector("attack22", "Rating", i, "", (), (h.escrow.did,), envelopes, ()))
        assert not isinstance(got, str) and [r["stake"] for r in got] == [100], got
        vectors.append(
            {
                "tcId": i,
                "comment": f"the thief's Stamp {'before' if before_successor else 'after'} K2's",
                "requirements": ["ATT-020"],
                "trusted_escrows": [h.escrow.did],
                "envelopes": [base64.b64encode(e).decode() for e in envelopes],
                "expected": got,
            }
        )
    assert_js_rates_alike(tmp_path, vectors, "attack22-thief-stamp")
