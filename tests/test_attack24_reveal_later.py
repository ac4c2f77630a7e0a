"""redteam24: the reveal-later acceptor of an offer naming no escrow (NEG-021's cost, NEG-022).

NEG-021 orders two answers of one key to one offer naming no escrow by that key's chain: the lower one
binds in every view, whichever came first, and a lower one heard late cuts the line back to the offer --
the contract formed by the higher one gives way, what was done under it superseded. Its Why names the cost:
an acceptor that holds back a lower answer it signed before its Accept can reveal it after the offerer
performed. Each test below has Alice sign her answers with her own key (real signatures, each the next link
of her chain), Bob run the reference runtime (:class:`~a2a_coop.runtime.peer.Peer`, its HonestStrategy and
policy guard), and asserts first that the attack happened -- Alice's statements signed and taken, Bob's
Delivery signed under the contract that then gives way -- and then what the protocol did.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from peers import make_peer
from test_unwitnessed_order import _every_order

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.negotiation import State, proposal_of
from a2a_coop.protocol.reputation import attestation_due
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party


def _mirror(offer: VerifiedStatement) -> trade_pb2.Offer:
    """The terms of ``offer`` seen from its audience: what Bob's HonestStrategy accepts as a Counter."""
    mine = proposal_of(offer)
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    return theirs


def _bobs_offer() -> tuple[FixedClock, Party, Party, Peer, VerifiedStatement]:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    peer = make_peer(bob, clock)
    offer = peer.propose(alice.did, bob.proposal())  # the terms name no escrow: the reference default
    assert not proposal_of(offer).terms.escrow
    clock.advance(1_000)
    return clock, alice, bob, peer, offer


def _bodies(envelopes: list[bytes]) -> list[str]:
    return [verify_statement(e).body for e in envelopes]


@pytest.mark.req("NEG-021", "NEG-018", "NEG-022")
def test_the_reveal_later_acceptor_keeps_bobs_delivery_and_owes_nothing_in_every_view() -> None:
    """Alice signs a Reject of Bob's offer (seq 0) and keeps it; signs an Accept (seq 1, its prev the
    Reject's digest) and sends it; Bob's peer delivers. She reveals the Reject: lower in her chain, it is the
    offer's answer in Bob's peer and in every view of evidence in every order -- the contract gives way, Bob's
    Delivery superseded, Alice owes nothing. Reputation cannot weigh it: no escrow, no stake (ATT-004), and
    Bob has no settled contract to attest (ATT-015); two answers at two seqs are no fork (ATT-012)."""
    clock, alice, bob, peer, offer = _bobs_offer()
    kept = alice.reject(offer, "kept back")
    clock.advance(1_000)
    accept = alice.accept(offer)
    assert (kept.seq, accept.seq) == (0, 1) and accept.header.prev == kept.digest
    # the attack happened: Bob's reference peer took the Accept and performed at once
    sent = peer.on_replies([*alice.setup, accept.envelope])
    assert [vs.body for vs in sent] == ["delivery"]
    delivery = sent[0]
    neg = peer.negotiation(offer.negotiation_id)
    assert (
        neg.state is State.PERFORMING
        and neg.contract is not None
        and neg.contract.accept.digest == accept.digest
    )
    clock.advance(1_000)
    peer.exchange(kept.envelope, [])  # revealed; Bob's peer takes it (the chain link it lacked)
    neg = peer.negotiation(offer.negotiation_id)
    assert neg.state is State.REJECTED and neg.contract is None
    assert {accept.digest, delivery.digest} <= set(neg.superseded)
    assert attestation_due(peer.verifier, neg, bob.did) is None  # nothing settled to rate
    # every view of evidence, in every order Alice and Bob's statements can come in
    setup = [*alice.setup, *bob.setup, offer.envelope]
    items = [kept, accept, delivery]
    outcomes = _every_order(setup, items, [(delivery, accept)])
    assert len(outcomes) == 1, outcomes
    ((refused, held, negotiations, _, forks),) = outcomes
    assert refused == () and held >= {vs.digest for vs in items}  # all taken, nothing refused
    assert negotiations == ((offer.negotiation_id, "REJECTED", False),) and not forks


def _lower_answers(
    alice: Party, clock: FixedClock, offer: VerifiedStatement, kept: int
) -> list[VerifiedStatement]:
    """Alice's ``kept`` Counters of Bob's offer (the terms his HonestStrategy accepts), each a link of her
    chain, lowest first, all kept back."""
    out = []
    for _ in range(kept):
        out.append(alice.counter(offer, _mirror(offer)))
        clock.advance(1_000)
    return out


def _deliveries(peer: Peer, bob: Party) -> int:
    return sum(
        1 for vs in peer.verifier.statements.values() if vs.body == "delivery" and vs.issuer == bob.did
    )


@pytest.mark.req("NEG-022", "NEG-021")
@pytest.mark.parametrize("guard", ["NEG-022", "before"])
def test_each_lower_answer_revealed_got_bob_to_deliver_again_before_neg_022(
    guard: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice keeps three Counters of Bob's offer naming no escrow (seqs 0-2), sends an Accept (seq 3) and
    Bob delivers; she then reveals the Counters one at a time, highest first: each is lower than the answer
    held, cuts the line back to the offer, and displaces the contract Bob had formed. Before NEG-022 Bob's
    HonestStrategy accepted each revealed Counter and delivered again: four Deliveries for one offer,
    Alice delivering nothing. Now Bob's peer, holding two answers of her key to one offer of its own, signs
    nothing more there but a Reject saying why: one Delivery, the one the first contract took."""
    if guard == "before":
        monkeypatch.setattr(Peer, "_answered_twice", lambda self, neg: None)
    clock, alice, bob, peer, offer = _bobs_offer()
    counters = _lower_answers(alice, clock, offer, 3)
    accept = alice.accept(offer)
    assert [c.seq for c in counters] + [accept.seq] == [0, 1, 2, 3]
    assert _bodies([e.envelope for e in peer.on_replies([*alice.setup, accept.envelope])]) == ["delivery"]
    answers = []
    for counter in reversed(counters):  # each lower than the answer held to Bob's offer
        clock.advance(1_000)
        answers.append(_bodies(peer.exchange(counter.envelope, [])))
        neg = peer.negotiation(offer.negotiation_id)
        assert counter.digest not in neg.superseded  # it took the line: the offer's answer now
    if guard == "before":
        assert answers == [["accept", "delivery"]] * 3
        assert _deliveries(peer, bob) == 4
        return
    assert answers == [["reject"]] * 3
    assert _deliveries(peer, bob) == 1
    reject = next(
        vs for vs in peer.verifier.statements.values() if vs.body == "reject" and vs.issuer == bob.did
    )
    assert "answered one offer of ours twice" in reject.statement.reject.reason


@pytest.mark.req("NEG-022", "NEG-021")
@pytest.mark.parametrize("kept", ["accept", "reject"])
def test_bobs_contract_of_a_counter_gives_way_to_a_lower_answer_to_his_offer(
    kept: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same from the other side of the line: Alice keeps an answer to Bob's offer (an Accept of it, or
    a Reject), sends a Counter above it, which Bob's peer accepts and performs; she reveals the kept answer.
    Lower than her Counter, it cuts the line back to Bob's offer: Bob's contract of her Counter gives way --
    to her Accept of his own offer (he now owes its items: before NEG-022 his peer delivered them a second
    time) or to nothing (her Reject)."""
    calls: list[bool] = []
    real: Callable[[Peer, object], object] = Peer._answered_twice  # type: ignore[assignment]
    monkeypatch.setattr(Peer, "_answered_twice", lambda self, neg: calls.append(True) or real(self, neg))
    clock, alice, bob, peer, offer = _bobs_offer()
    lower = alice.accept(offer) if kept == "accept" else alice.reject(offer)
    clock.advance(1_000)
    counter = alice.counter(offer, _mirror(offer))
    assert counter.header.prev == lower.digest
    sent = [vs.body for vs in peer.on_replies([*alice.setup, counter.envelope])]
    assert sent == ["accept", "delivery"]  # the attack happened: Bob accepted her Counter and performed
    clock.advance(1_000)
    assert _bodies(peer.exchange(lower.envelope, [])) == ["ack"]  # nothing more signed there
    neg = peer.negotiation(offer.negotiation_id)
    assert counter.digest in neg.superseded
    if kept == "accept":
        assert (
            neg.state is State.ACCEPTED
            and neg.contract is not None
            and neg.contract.accept.digest == lower.digest
        )
        assert peer.perform(offer.negotiation_id) == []  # NEG-022: held, though his offer binds him
    else:
        assert neg.state is State.REJECTED and neg.contract is None
    assert _deliveries(peer, bob) == 1 and calls
