"""Attacker's pass 21: a principal key's revocation in a rating (KEY-011 (c), MND-025, KEY-010 (c), ATT-020).

Bob breaches a bonded contract; the escrow upholds Alice's claim and forfeits his bond; Alice attests him
BREACHED. Then Bob's principal key is revoked back to 1 ms -- by the root key it was bound to first (a lying
principal above Bob's, erasing his breach), by a principal T a thief holding it bound it to afterwards, or,
Bob's key being its own principal, by his key itself. Who chose the values: the revoker its effective_ms
(1 ms) and its issued_at_ms; the escrow the order of its own Stamps. Played with real signatures through
the reference view and the JavaScript one (the second implementation, SPEC 10.2 read independently): the
two must weigh every bundle alike. Before this pass the JavaScript view did not apply KEY-010 (c) to a
rating's evidence, and weighed 100 the breach of a contract whose escrow stamped Bob's Mandate and Accept
only after stamping a revocation that reached them by that Stamp's time -- where the reference weighed 0
(`conformance/vectors/ratings.json` 30 and 32; JS finding F33).
"""

from __future__ import annotations

import base64
from itertools import permutations
from pathlib import Path

import pytest
from js_ratings import assert_js_rates_alike

from a2a_coop.protocol.reputation import rate
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.reputation_vectors import RatingVector, rate_bundle
from conformance.generate_vectors.ratings import _revoked_principal_keys, restamped_in_one_ms


@pytest.mark.req("KEY-011", "MND-025", "KEY-010", "KEY-009", "ATT-020")
def test_a_principal_keys_revocation_back_over_an_escrowed_breach_weighs_the_same_in_both_views(
    tmp_path: Path,
) -> None:
    """Each bundle is taken in full by a view (the attack is legal: the revocation by Q, by the thief's T or
    by Bob's own key is taken -- T's after the thief bound Bob's principal key to T); the breach stands
    (stake 100) when the escrow never stamped the revocation -- a principal above Bob's that dates it back
    erases nothing the escrow took first -- and weighs nothing (stake 0) when the escrow stamped the
    revocation before Bob's Mandate and Accept (it took them holding it, KEY-010 (c)). Both views agree."""
    cases = _revoked_principal_keys()
    vectors = []
    for i, case in enumerate(cases, 1):
        view = Verifier(complete_chains=False, evidence_view=True)
        held = [view.accept(data, None) for data in case.envelopes]  # every envelope taken
        revocations = [vs for vs in held if vs.body == "key_revocation"]
        assert len(revocations) == 1 and revocations[0].digest in view.statements  # the attack happened
        assert revocations[0].statement.key_revocation.effective_ms == 1
        vector = RatingVector(
            "attack21", "Rating", i, case.comment, tuple(case.requirements), tuple(case.trusted),
            tuple(case.envelopes), (),
        )  # fmt: skip
        got = rate_bundle(vector)
        assert not isinstance(got, str), got
        assert [(r["stake"], r["score"]) for r in got] == case.attests, case.comment
        vectors.append(
            {
                "tcId": i,
                "comment": case.comment,
                "requirements": case.requirements,
                "trusted_escrows": case.trusted,
                "envelopes": [base64.b64encode(e).decode() for e in case.envelopes],
                "expected": got,
            }
        )
    assert sorted(stake for c in cases for stake, _ in c.attests) == [0, 0, 0, 100, 100, 100]
    assert_js_rates_alike(tmp_path, vectors, "attack21-ratings")


@pytest.mark.req("KEY-009", "ATT-020")
def test_two_stamps_of_the_accept_in_one_millisecond_weigh_the_same_in_every_order() -> None:
    """Attack: in one millisecond the escrow stamps Bob's Mandate and Accept (seq n), his principal's
    revocation of his key back to 1 ms (n + 1), and the Accept again (n + 2) -- a faulty escrow's re-Stamp,
    or one colluding with Bob. Who chose the values: the escrow its Stamps' seqs and times; whoever shows a
    view the bundle, the order it hears them in. KEY-009 orders two Stamps in one millisecond by the
    escrow's seq: the Accept's earliest Stamp is seq n, before the revocation's, and Alice's rating of Bob's
    escrowed breach keeps its stake. The reference kept, of two Stamps of a statement in one millisecond,
    the first it heard: a view shown the re-Stamp first disowned the Accept and weighed the breach 0, one
    shown the Stamps in order 100 (the JavaScript view, which takes the least by (time, seq, place), 100 in
    every order) -- Bob, gossiping the re-Stamp first, chose where his breach disappeared."""
    d, bundle, stamps, attestation = restamped_in_one_ms()
    assert len({s.issued_at_ms for s in stamps}) == 1 and [s.seq for s in stamps] == sorted(
        s.seq for s in stamps
    )
    weights = set()
    for order in permutations(stamps):
        view = Verifier(complete_chains=False, evidence_view=True)
        for data in [*bundle, *(s.envelope for s in order), attestation.envelope]:
            view.accept(data, None)  # every envelope taken: the attack happened
        accept = view.statements[d.accept.digest]
        assert all(s.digest in view.statements for s in stamps)
        weights.add(
            (view.disowned(accept), rate(view, view.statements[attestation.digest], {d.escrow.did}).stake)
        )
    assert weights == {(False, 100)}, weights
