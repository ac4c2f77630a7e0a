"""redteam24: a lower Accept revealed after the offerer used what the higher answer freed (NEG-021, NEG-023;
NEG-009, MND-010).

Bob offers Alice 600 naming no escrow -- a slot (a non-empty exclusive_key, NEG-009), or with max_outstanding
1,000 (MND-010). Alice signs an Accept of it and keeps it, then signs a Reject of it (the next link of her
chain) and sends that. Bob, his offer rejected, offers Carol the same; Carol accepts. Alice then reveals her
Accept: lower in her chain than her Reject, NEG-021 makes it the offer's answer "whatever the negotiation's
state", checked "as any answer, against MND-009, MND-010 and NEG-009". Every statement is signed by its
party's own key; each order of them (each after what it names) is fed to a real view of evidence.

Before NEG-023, the lower Accept was checked against NEG-009 and its contract counted toward Bob's caps as
any, so what held Bob's slot or headroom was the order a view heard them in -- Alice's choice. Now a contract
whose acceptor's key signed another answer to the same offer, both held, binds its offerer to nothing.
"""

from __future__ import annotations

import contextlib

import pytest
from test_unwitnessed_order import Outcome, _every_order, _orders

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import Contract, Negotiation
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import DAY_MS, FixedClock, Party, service

_SLOT = b"bobs-one-slot"
_CAPS = pytest.mark.parametrize("cap", ["exclusive_key", "max_outstanding"])
Story = tuple[list[bytes], list[VerifiedStatement], list[tuple[VerifiedStatement, VerifiedStatement]]]


def _story(cap: str) -> Story:
    clock = FixedClock()
    caps = {"max_outstanding": 1_000} if cap == "max_outstanding" else {}
    alice, bob, carol = Party("alice", clock), Party("bob", clock, caps), Party("carol", clock)
    key = _SLOT if cap == "exclusive_key" else b""

    def six_hundred() -> object:
        gives = [service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)]
        return bob.proposal(gives=gives, exclusive_key=key)

    to_alice = bob.offer(alice, six_hundred())  # type: ignore[arg-type]
    clock.advance(1_000)
    kept = alice.accept(to_alice)
    clock.advance(1_000)
    reject = alice.reject(to_alice, "no")
    assert reject.header.prev == kept.digest and reject.seq == kept.seq + 1
    clock.advance(1_000)
    to_carol = bob.offer(carol, six_hundred())  # type: ignore[arg-type]
    clock.advance(1_000)
    carol_accept = carol.accept(to_carol)
    setup = [*alice.setup, *bob.setup, *carol.setup, to_alice.envelope]
    return setup, [kept, reject, to_carol, carol_accept], [(carol_accept, to_carol)]


def _states(outcome: Outcome) -> tuple[tuple[str, ...], tuple[tuple[str, bool], ...]]:
    refused, _, negotiations, *_ = outcome
    return refused, tuple(sorted((state, formed) for _, state, formed in negotiations))


_ONE_END = ((), (("ACCEPTED", True), ("ACCEPTED", True)))  # nothing refused, both contracts held

# What each order of the story ended in before NEG-023, by the cap Bob's offer to Carol meets: Alice's Accept
# heard before Carol's, then Carol's heard before Alice's
_SPLIT = {
    "exclusive_key": {
        (("accept EXCLUSIVE_CONFLICT NEG-009",), (("ACCEPTED", True), ("PROPOSED", False))),
        (("accept EXCLUSIVE_CONFLICT NEG-009",), (("ACCEPTED", True), ("REJECTED", False))),
    },
    "max_outstanding": {
        (("offer MANDATE_VIOLATION MND-010", "accept UNKNOWN_NEGOTIATION NEG-002"), (("ACCEPTED", True),)),
        _ONE_END,
    },
}


def _before_neg_023(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading before: a contract binds its offerer whatever other answer its acceptor's key signed."""
    monkeypatch.setattr(Contract, "answered_twice", property(lambda self: False, lambda self, value: None))
    monkeypatch.setattr(Negotiation, "accepts_again", lambda self, vs, event: False)


@pytest.mark.req("NEG-021", "NEG-009", "MND-010")
@_CAPS
def test_before_neg_023_what_held_bobs_slot_or_headroom_was_the_order_a_view_heard_them_in(
    cap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reading before, patched back in: two outcomes over the orders in which a view held Alice's Reject
    before Bob's offer to Carol (as Bob did). A view that heard Alice's Accept before Carol's held Alice's
    contract and refused Carol's Accept (`EXCLUSIVE_CONFLICT`) -- or Bob's honest offer to Carol, as over
    his max_outstanding (`MANDATE_VIOLATION`); one that heard Carol's first -- Bob's own view -- refused
    Alice's Accept (the slot), or took both contracts (the cap, which an Accept checks against its
    acceptor's mandate). Alice chose which view saw what."""
    _before_neg_023(monkeypatch)
    setup, items, after = _story(cap)
    _, reject, to_carol, _ = items
    outcomes = {_states(o) for o in _every_order(setup, items, [*after, (to_carol, reject)])}
    assert outcomes == _SPLIT[cap], outcomes  # the attack happened: the views split


@pytest.mark.req("NEG-023", "NEG-021", "NEG-009", "MND-010")
@_CAPS
def test_every_view_holds_the_same_contracts_whichever_it_heard_first(cap: str) -> None:
    """Every order in which a view holds Alice's Reject before Bob's offer to Carol (as Bob did: he offered
    Carol on it) ends in one state, Alice's Accept heard wherever it comes: nothing refused, Alice's contract
    formed by her lower Accept (her Reject held superseded) and Carol's beside it."""
    setup, items, after = _story(cap)
    kept, reject, to_carol, _ = items
    seen = _every_order(setup, items, [*after, (to_carol, reject)])
    assert {_states(o) for o in seen} == {_ONE_END}
    orders = [o for order in _orders(items, [*after, (to_carol, reject)]) for o in [order]]
    assert {order.index(kept) for order in orders} == {0, 1, 2, 3}  # the Accept at every place
    v = _fed(setup, orders[-1])
    neg = v.negotiations.get(kept.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == kept.digest  # the attack happened
    assert reject.digest in neg.superseded and neg.contract.answered_twice


def _fed(setup: list[bytes], order: tuple[VerifiedStatement, ...] | list[VerifiedStatement]) -> Verifier:
    v = Verifier(complete_chains=False)
    for env in setup:
        v.accept(env)
    for vs in order:
        with contextlib.suppress(CoopError):
            v.accept_statement(vs)
    return v


@pytest.mark.req("NEG-023", "MND-010", "MND-009", "NEG-009")
@_CAPS
def test_alices_contract_counts_for_her_alone_in_both_orders_of_her_answers(cap: str) -> None:
    """What each order of Alice's two answers books: her contract counts toward her own caps as any (her 450
    of copy-editing, from her Accept's place) and toward none of Bob's -- neither his outstanding value nor
    his period budget -- and holds no exclusive_key of his, whether the view took the Accept before the
    Reject (un-booked for Bob when the Reject came) or after it (never booked for him)."""
    setup, items, _ = _story(cap)
    kept, reject, to_carol, carol_accept = items
    books = set()
    for answers in ((kept, reject), (reject, kept)):
        v = _fed(setup, [*answers, to_carol, carol_accept])
        bob, alice = (v.exposure.exposure(vs.mandate_digest) for vs in (to_carol, kept))
        at = carol_accept.issued_at_ms + 1
        books.add(
            (
                bob.outstanding(kept.issued_at_ms + 1),  # Alice's contract alone, formed: nowhere
                bob.outstanding(at),
                bob.committed(bob.period_of(at), at),
                alice.outstanding(at),
                v.negotiations.exclusive_holder(to_carol.issuer, b"bobs-one-slot"),
            )
        )
    held = to_carol.negotiation_id if cap == "exclusive_key" else None
    assert books == {(0, 600, 600, 450, held)}, books  # Carol's contract alone for Bob


@pytest.mark.req("NEG-023", "NEG-009", "MND-010")
@_CAPS
def test_a_refusal_before_the_view_held_both_answers_stays_made_and_passed_on_again_is_taken(
    cap: str,
) -> None:
    """What stays order-bound, and only that: a view that held Alice's Accept alone -- one answer, an honest
    contract binding Bob -- when it met Bob's offer to Carol or Carol's Accept refused it on Bob's cap
    (`MANDATE_VIOLATION`, `EXCLUSIVE_CONFLICT`), or, under the slot, that held Carol's contract when
    Alice's Accept came as her only answer refused the Accept; each such statement, passed on again once the
    view holds Alice's Reject, is taken, and every order ends in one state (Carol's Accept of a refused
    offer refused with it, `UNKNOWN_NEGOTIATION`, and taken after it)."""
    setup, items, after = _story(cap)
    kept, reject, _, _ = items
    refused_at_all, ends = set(), set()
    for order in _orders(items, after):
        v = Verifier(complete_chains=False)
        for env in setup:
            v.accept(env)
        refused = []
        for vs in order:
            try:
                v.accept_statement(vs)
            except CoopError as e:
                refused.append(vs)
                if e.code != "UNKNOWN_NEGOTIATION":  # Carol's Accept of Bob's offer refused before it
                    # on Bob's cap only before the view held both of Alice's answers
                    assert e.code in ("EXCLUSIVE_CONFLICT", "MANDATE_VIOLATION"), e
                    assert not (v.statements.get(kept.digest) and v.statements.get(reject.digest)), e
        for vs in refused:
            v.accept_statement(vs)  # passed on again: taken
        refused_at_all.update(vs.body for vs in refused)
        ends.add(tuple(sorted((n.state.name, n.contract is not None) for n in v.negotiations.by_id.values())))
    assert refused_at_all == ({"offer", "accept"} if cap == "max_outstanding" else {"accept"})
    assert ends == {_ONE_END[1]}, ends


@pytest.mark.req("NEG-009", "MND-010", "NEG-023")
@_CAPS
def test_an_acceptor_with_one_answer_still_binds_the_offerer(cap: str) -> None:
    """The honest case is unharmed: Alice's Accept alone (she signs no Reject) holds Bob's slot or headroom in
    every view, whichever order it heard it and Bob's trade with Carol in -- Carol's Accept refused
    `EXCLUSIVE_CONFLICT`, or Bob's offer to Carol `MANDATE_VIOLATION`, where Alice's Accept came first."""
    setup, items, _ = _story(cap)
    kept, _, to_carol, carol_accept = items
    v = _fed(setup, [kept, to_carol, carol_accept])
    assert not v.negotiations.get(kept.negotiation_id).contract.answered_twice  # type: ignore[union-attr]
    carols = v.negotiations.find(to_carol.negotiation_id)
    assert carols is None or carols.contract is None  # refused: Alice's contract binds Bob
    bob = v.exposure.exposure(to_carol.mandate_digest)
    assert bob.outstanding(kept.issued_at_ms + 1) == 600  # Alice's contract, booked for Bob


@pytest.mark.req("NEG-023", "NEG-021", "NEG-022")
def test_bobs_own_peer_takes_alices_lower_accept_beside_carols_contract() -> None:
    """Bob's own peer (a live receiver, his guard) heard Alice's Reject, signed his offer to Carol, took
    Carol's Accept, and then Alice's lower Accept: taken as the offer's answer (before NEG-023 it was refused
    `EXCLUSIVE_CONFLICT`), its contract holding none of Bob's slot -- and, holding two answers of Alice's key
    to his offer, his peer signs nothing more there but a Reject (NEG-022)."""
    setup, items, _ = _story("exclusive_key")
    kept, reject, to_carol, carol_accept = items
    guard = Verifier(me=to_carol.issuer)
    for env in setup:
        guard.accept(env, ours=env == setup[-1])
    guard.accept(reject.envelope)
    guard.accept(to_carol.envelope, ours=True)
    guard.accept(carol_accept.envelope)
    guard.accept(kept.envelope)
    neg = guard.negotiations.get(kept.negotiation_id)
    assert neg.contract is not None and neg.contract.accept.digest == kept.digest
    assert neg.contract.answered_twice
    assert guard.negotiations.exclusive_holder(to_carol.issuer, b"bobs-one-slot") == to_carol.negotiation_id
