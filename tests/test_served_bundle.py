"""What a peer serves so a third party can recompute a rating (SPEC 10.4, ATT-014): the bundle must carry
every statement the serving view's rating rests on -- the revocations and rotations it holds of the keys
that signed the evidence, with the witnessing escrows' Stamps of them, among them (ATT-020, KEY-009)."""

from __future__ import annotations

import pytest

from a2a_coop.protocol.reputation import attestation_evidence, ratings
from a2a_coop.protocol.verifier import Verifier
from conformance.generate_vectors.ratings import cases


def _view(envelopes: list[bytes]) -> Verifier:
    v = Verifier(complete_chains=False, evidence_view=True)
    for env in envelopes:
        v.accept(env, None)
    return v


def _weighed(v: Verifier, trusted: frozenset[str]) -> list[tuple[bytes, str, str, int, float, int]]:
    held = [vs for vs in v.statements.values() if vs.body == "attestation"]
    return [
        (
            r.attestation,
            r.rater,
            r.subject,
            r.stake,
            r.score if r.stake else 0.0,
            r.settled_ms if r.stake else 0,
        )
        for r in ratings(v, held, trusted)
    ]


CASES = cases()


@pytest.mark.req("ATT-014", "ATT-020")
@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"ratings-{i + 1}" for i in range(len(CASES))])
def test_a_third_party_rates_each_served_bundle_as_the_serving_view_does(i: int) -> None:
    """Each case of ratings.json, held whole by a serving view: the bundle it serves for each attestation,
    taken alone by a fresh view of evidence, rates that attestation exactly as the serving view does.
    Before the fix a bundle left out the revocations the serving view held: Bob's principal's revocation of
    his key back over his unstamped Accept zeroed Alice's rating in the serving view (ATT-020) and the third
    party, never shown it, weighed it 100."""
    case = CASES[i]
    trusted = frozenset(case.trusted)
    server = _view(case.envelopes)
    expected = _weighed(server, trusted)
    for digest, *_ in expected:
        bundle = [vs.envelope for vs in attestation_evidence(server, server.statements[digest])]
        third = _view(bundle)
        got = [r for r in _weighed(third, trusted) if r[0] == digest]
        assert got == [r for r in expected if r[0] == digest], case.comment
