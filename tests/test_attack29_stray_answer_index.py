"""redteam29: a refused stray answer sent first no longer hides the reveal-later acceptor's answer proof.

ATT-013 (c)'s index (``EvidenceVerifier._answers``: per negotiation, key and statement answered, the
earliest answer and the best pair) is built from the negotiation the first time it may hold a pair -- a
superseded answer, or any refused one -- and then kept. A taken answer of a key it held no entry for was
dropped, not added: "refused answers count only from the statement's audience" was read for taken ones
too. So one refused answer in the negotiation before the key's first answer -- a stranger's Reject of
Bob's offer (`WRONG_PARTY`), or Alice's own Accept of a digest Bob never saw (`STALE_REFERENCE`), sent as
a reply -- built the index with no entry for Alice's key; her Accept, taken, was never entered, and her
kept Reject, revealed after Bob delivered (the reveal-later acceptor, section 16.14), was weighed alone:
no answer proof in Bob's peer, her principal scored as a stranger there and nothing for gossip to carry
-- while a view that had not met the stray answer convicted her. Who chose the values: Alice (or anyone
knowing the negotiation id) chose to send one refused answer first; the order decided her conviction.
Now a taken answer always enters the index, and every order holds the proof.
"""

from __future__ import annotations

import itertools

import pytest
from test_attack24_reveal_later import _bobs_offer

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import verify_fork_proof
from a2a_coop.protocol.negotiation import State
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.testing import Party


def _stray(kind: str, alice: Party, bob: Party, offer):  # type: ignore[no-untyped-def]
    """A refused answer in Bob's negotiation, and the Mandates it cites."""
    if kind == "stranger":
        mallory = Party("mallory", alice.clock)
        return mallory.reject(offer, "not mine to answer"), list(mallory.setup)
    bogus = trade_pb2.Accept(offer=b"\x01" * 32)  # a statement Bob never saw
    stray = alice.sign("accept", bogus, audience=bob.did, negotiation_id=offer.negotiation_id)
    return stray, list(alice.setup)


@pytest.mark.req("ATT-022", "ATT-013")
@pytest.mark.parametrize("kind", ["stranger", "alice"])
def test_a_refused_stray_answer_first_does_not_hide_the_reveal_later_pair_from_bobs_peer(kind: str) -> None:
    clock, alice, bob, peer, offer = _bobs_offer()
    stray, setup = _stray(kind, alice, bob, offer)
    with pytest.raises(CoopError) as refused:
        peer.on_replies([*setup, stray.envelope])
    assert refused.value.code in ("WRONG_PARTY", "STALE_REFERENCE")
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    accept = alice.accept(offer)
    assert [vs.body for vs in peer.on_replies([*alice.setup, accept.envelope])] == ["delivery"]
    clock.advance(1_000)
    peer.exchange(kept.envelope, [])  # revealed: the contract gives way (NEG-021)
    assert peer.negotiation(offer.negotiation_id).state is State.REJECTED
    proof = peer.verifier.forks.get(alice.did)  # before: None
    assert proof is not None and {proof.first, proof.second} == {kept.envelope, accept.envelope}
    assert verify_fork_proof(proof) == alice.did
    assert peer.reputation.score(alice.did).faulty


@pytest.mark.req("ATT-022", "ATT-013")
def test_every_order_of_a_stray_answer_and_the_two_answers_holds_the_proof() -> None:
    """A view of evidence fed the stray refused answer, Alice's Reject and her Accept in every order."""
    clock, alice, bob, _, offer = _bobs_offer()
    stray, setup = _stray("stranger", alice, bob, offer)
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    accept = alice.accept(offer)
    missed = []
    for order in itertools.permutations([stray, kept, accept]):
        v = EvidenceVerifier()
        for env in [*alice.setup, *bob.setup, *setup]:
            v.accept(env)
        v.accept_statement(offer)
        for vs in order:
            try:
                v.accept_statement(vs)
            except CoopError:
                assert vs is stray
        proof = v.forks.get(alice.did)
        if proof is None or {proof.first, proof.second} != {kept.envelope, accept.envelope}:
            missed.append([vs.body for vs in order])
    assert missed == []  # before: the two orders with the stray first
