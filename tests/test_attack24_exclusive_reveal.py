"""redteam24: a lower Accept revealed after the offerer's exclusive_key went to another contract (NEG-021,
NEG-009).

Bob offers Alice a slot (a non-empty exclusive_key, NEG-009) naming no escrow. Alice signs an Accept of it
and keeps it, then signs a Reject of it (the next link of her chain) and sends that. Bob, his offer
rejected, offers Carol the same slot; Carol accepts. Alice then reveals her Accept: lower in her chain
than her Reject, NEG-021 makes it the offer's answer "whatever the negotiation's state", checked "as any
answer, against ... NEG-009". Every statement is signed by its party's own key; each order of them (each
after what it names) is fed to a real view of evidence.
"""

from __future__ import annotations

import pytest
from test_unwitnessed_order import _every_order

from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import FixedClock, Party

_SLOT = b"bobs-one-slot"


def _story() -> tuple[
    list[bytes], list[VerifiedStatement], list[tuple[VerifiedStatement, VerifiedStatement]]
]:
    clock = FixedClock()
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    to_alice = bob.offer(alice, bob.proposal(exclusive_key=_SLOT))
    clock.advance(1_000)
    kept = alice.accept(to_alice)
    clock.advance(1_000)
    reject = alice.reject(to_alice, "no")
    assert reject.header.prev == kept.digest and reject.seq == kept.seq + 1
    clock.advance(1_000)
    to_carol = bob.offer(carol, bob.proposal(exclusive_key=_SLOT))
    clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    setup = [*alice.setup, *bob.setup, *carol.setup, to_alice.envelope]
    return setup, [kept, reject, to_carol, carol_accept], [(carol_accept, to_carol)]


def _states(outcome: tuple) -> tuple[tuple[str, ...], tuple[tuple[str, bool], ...]]:  # type: ignore[type-arg]
    refused, _, negotiations, *_ = outcome
    return refused, tuple((state, formed) for _, state, formed in negotiations)


@pytest.mark.req("NEG-021", "NEG-009")
def test_which_contract_holds_bobs_slot_is_the_order_a_view_heard_them_in() -> None:
    """Pinned, as it stands: two outcomes. A view that heard Alice's Accept before Carol's holds Alice's
    contract with the slot and refuses Carol's Accept (`EXCLUSIVE_CONFLICT`); one that heard Carol's first
    -- Bob's own view: he offered Carol only after Alice's Reject -- holds Carol's and refuses Alice's. Alice
    chose which: she gossips her Accept to the views she wants before Bob's trade with Carol reaches them."""
    setup, items, after = _story()
    outcomes = {_states(o) for o in _every_order(setup, items, after)}
    assert len(outcomes) == 2, outcomes  # the attack happened: the views split
    states = {tuple(sorted(negs)) for _, negs in outcomes}
    assert {refused for refused, _ in outcomes} == {("accept EXCLUSIVE_CONFLICT NEG-009",)}
    alices = (("ACCEPTED", True), ("PROPOSED", False))  # Alice's contract; Carol's Accept refused
    carols = (("ACCEPTED", True), ("REJECTED", False))  # Carol's contract; Alice's offer rejected
    assert states == {alices, carols}, states


@pytest.mark.xfail(
    strict=True,
    reason=(
        "redteam24: NEG-021 (a) checks a lower answer revealed late against NEG-009 like any answer, so "
        "which of Alice's and Carol's contracts holds Bob's exclusive_key is the order a view heard them "
        "in (Alice's Accept refused EXCLUSIVE_CONFLICT where Carol's came first, Carol's refused where "
        "Alice's did) -- the split NEG-021 was made to end, chosen by the key that signed two answers. "
        "Proposed fix: NEG-009 is no ground to refuse a lower answer NEG-021 takes, nor an Accept of "
        "another negotiation by the contract of such an answer while the view holds the higher answer of "
        "that key to the same offer (as NEG-019 for a witnessed Accept): both contracts hold the key in "
        "every order, the offerer bound twice by the acceptor's choice, and NEG-022's guard (nothing "
        "more signed to that key there) its defence"
    ),
)
def test_every_view_holds_the_same_contracts_of_bobs_slot_whichever_it_heard_first() -> None:
    setup, items, after = _story()
    outcomes = {_states(o) for o in _every_order(setup, items, after)}
    assert len(outcomes) == 1, outcomes
