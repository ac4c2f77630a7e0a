"""The negotiation state machine and commitment rules (SPEC sections 8-9, NEG-*, CMT-*)."""

from __future__ import annotations

from typing import Any

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.envelope import sign_payload
from a2a_coop.protocol.errors import (
    BodyInvalid,
    CoopError,
    ExclusiveConflict,
    HeaderInvalid,
    IllegalTransition,
    RevocationNotAllowed,
    StaleReference,
    UnknownNegotiation,
    WrongParty,
)
from a2a_coop.protocol.negotiation import (
    BARGAINING_STATES,
    BOND_GRACE_MS,
    CLAIM_WINDOW_MS,
    CLOCK_TOLERANCE_MS,
    DEFAULT_RESPONSE_WINDOW_MS,
    INITIAL_STATE,
    TERMINAL_STATES,
    TRANSITIONS,
    Event,
    Negotiation,
    Negotiations,
    State,
)
from a2a_coop.protocol.statements import Statement, VerifiedStatement, encode_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import DAY_MS, FixedClock, Party, bonded_trade, service

BOND = 100


def _state(v: Verifier, vs: VerifiedStatement) -> State:
    return v.negotiations.get(vs.header.negotiation_id).state


def _refused(
    v: Verifier, vs: VerifiedStatement, cls: type[CoopError], requirement: str | None = None
) -> None:
    """``vs`` is refused with ``cls`` (and ``requirement``), and the negotiation is unchanged."""
    neg = v.negotiations.by_id.get(vs.header.negotiation_id)
    before = (neg.state, len(neg.history), neg.outstanding.digest) if neg else None
    with pytest.raises(cls) as err:
        v.accept(vs.envelope)
    if requirement is not None:
        assert err.value.requirement == requirement
    if neg is not None:
        assert (neg.state, len(neg.history), neg.outstanding.digest) == before


def _escrow_says(
    escrow: Party, body: str, accept: VerifiedStatement, party: Party, at: int | None = None, **fields: Any
) -> VerifiedStatement:
    """A BondLock/Release/Forfeit/Refund by ``escrow`` about ``party``'s bond (issued at ``at``)."""
    cls = {
        "bond_lock": commitment_pb2.BondLock,
        "release": commitment_pb2.Release,
        "forfeit": commitment_pb2.Forfeit,
        "refund": commitment_pb2.Refund,
    }[body]
    fields.setdefault("amount", BOND)
    msg = cls(contract=accept.digest, party=party.did, **fields)
    nid = accept.header.negotiation_id
    return escrow.sign(body, msg, audience=party.did, negotiation_id=nid, issued_at_ms=at)


def _breach_claim(
    claimant: Party, accept: VerifiedStatement, accused: Party, item: int = 0
) -> VerifiedStatement:
    msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=item, reason="never arrived")
    return claimant.sign(
        "breach_claim", msg, audience=accused.did, negotiation_id=accept.header.negotiation_id
    )


def _revoke(party: Party, accept: VerifiedStatement, to: Party) -> VerifiedStatement:
    return party.revoke(accept, to, "changed plans")


def _stamp(escrow: Party, *statements: VerifiedStatement, at: int | None = None) -> VerifiedStatement:
    """The escrow's Stamp witnessing ``statements`` (WIT-001): what makes a claim or revoke effective."""
    return escrow.sign(
        "stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in statements]), issued_at_ms=at
    )


def _ruling(
    escrow: Party,
    accept: VerifiedStatement,
    claim: VerifiedStatement | None,
    decision: int,
    evidence: bytes = b"",
) -> VerifiedStatement:
    msg = commitment_pb2.Ruling(
        contract=accept.digest, claim=claim.digest if claim else b"", decision=decision, evidence=evidence
    )
    return escrow.sign("ruling", msg, negotiation_id=accept.header.negotiation_id)


UPHOLD, DISMISS, LAPSE = (
    commitment_pb2.RULING_DECISION_UPHOLD,
    commitment_pb2.RULING_DECISION_DISMISS,
    commitment_pb2.RULING_DECISION_LAPSE,
)


def _run(v: Verifier, *statements: VerifiedStatement) -> None:
    for vs in statements:
        v.accept(vs.envelope)


class Bonded:
    """A contract between Alice (proposer) and Bob (acceptor), both bonded with the escrow agent."""

    def __init__(self, v: Verifier, alice: Party, bob: Party, escrow: Party, **terms: Any) -> None:
        self.v, self.alice, self.bob, self.escrow = v, alice, bob, escrow
        proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, **terms)
        self.offer = alice.offer(bob, proposal)
        self.accept = bob.accept(self.offer)
        _run(v, self.offer, self.accept)

    def lock_both(self) -> None:
        for p in (self.alice, self.bob):
            self.v.accept(_escrow_says(self.escrow, "bond_lock", self.accept, p).envelope)

    @property
    def state(self) -> State:
        return _state(self.v, self.offer)

    @property
    def deadline(self) -> int:
        return self.offer.statement.offer.gives[0].deadline_ms


# --- the table ------------------------------------------------------------------------------------


@pytest.mark.req("NEG-001")
def test_transition_table_covers_every_state_and_only_known_events() -> None:
    """The literal table has a row for every State, only Events in it, targets that are States, and
    the terminal states are exactly those no transition leaves."""
    assert set(TRANSITIONS) == set(State)
    for row in TRANSITIONS.values():
        assert all(isinstance(e, Event) and isinstance(s, State) for e, s in row.items())
    assert INITIAL_STATE is State.PROPOSED
    terminal = {
        State.REJECTED,
        State.WITHDRAWN,
        State.FULFILLED,
        State.BREACHED,
        State.REVOKED,
        State.EXPIRED,
    }
    assert set(TERMINAL_STATES) == terminal
    assert {State.PROPOSED, State.COUNTERED} == BARGAINING_STATES


@pytest.mark.req("NEG-001", "NEG-002", "NEG-011")
def test_offer_then_accept_forms_the_contract(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Alice offers, Bob accepts; expect PROPOSED then ACCEPTED, Alice initiator and Bob responder, and
    a contract named by the Accept's digest that pairs the two statements."""
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    neg = auditor.negotiations.get(offer.header.negotiation_id)
    assert (neg.state, neg.initiator, neg.responder) == (State.PROPOSED, alice.did, bob.did)
    accept = bob.accept(offer)
    auditor.accept(accept.envelope)
    c = neg.contract
    assert neg.state is State.ACCEPTED and c is not None
    assert c.id == accept.digest
    assert (c.offer.digest, c.accept.digest) == (offer.digest, accept.digest)
    assert (c.proposer, c.acceptor) == (alice.did, bob.did)
    assert [i.category for i in c.gives(alice.did)] == ["code-review"]
    assert [i.category for i in c.gives(bob.did)] == ["copy-editing"]
    assert neg.history[-1][:3] == (State.PROPOSED, Event.ACCEPT, State.ACCEPTED)


@pytest.mark.req("NEG-001", "NEG-013")
def test_second_offer_in_an_open_negotiation_is_an_illegal_transition(
    auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Alice sends a fresh Offer under the same negotiation_id: an offer's id derives from its issuer and
    nonce, so a second one under it is HEADER_INVALID (NEG-013); the table has no OFFER row either (only
    the first Offer opens; later proposals are Counters)."""
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    with pytest.raises(HeaderInvalid) as err:
        alice.offer(bob, negotiation_id=offer.header.negotiation_id)
    assert err.value.requirement == "NEG-013"
    assert all(Event.OFFER not in row for row in TRANSITIONS.values())


@pytest.mark.req("NEG-001", "NEG-025")
@pytest.mark.parametrize("end", ["reject", "withdraw"])
def test_nothing_follows_a_rejected_or_withdrawn_offer(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party, end: str
) -> None:
    """After Bob rejects (or Alice withdraws), Bob tries to accept; nothing follows. Of an offer naming an
    escrow, after his own Reject, his Accept is held with no event until that escrow's Stamp orders the two
    (NEG-025): still REJECTED (without an escrow NEG-021 takes it, higher in his chain, superseded: below);
    after Alice's Withdraw of an offer naming none, ILLEGAL_TRANSITION."""
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did) if end == "reject" else None)
    closing = bob.reject(offer) if end == "reject" else alice.withdraw(offer)
    _run(auditor, offer, closing)
    assert _state(auditor, offer) is (State.REJECTED if end == "reject" else State.WITHDRAWN)
    accept = bob.accept(offer)
    if end == "withdraw":
        _refused(auditor, accept, IllegalTransition)
        return
    _run(auditor, accept)
    neg = auditor.negotiations.get(offer.header.negotiation_id)
    assert neg.state is State.REJECTED and neg.contract is None and accept.digest in neg.superseded


@pytest.mark.req("NEG-021", "NEG-018")
def test_an_accept_above_the_acceptors_own_reject_is_taken_superseded(
    auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Of an offer naming no escrow, Bob's Accept after his own Reject is his second answer to it, higher in
    his chain: taken with no event (NEG-021, NEG-018), the negotiation still REJECTED; and shown before the
    Reject, the Reject takes its place."""
    offer = alice.offer(bob)
    reject = bob.reject(offer)
    accept = bob.accept(offer)
    _run(auditor, offer, reject, accept)
    neg = auditor.negotiations.get(offer.header.negotiation_id)
    assert neg.state is State.REJECTED and neg.contract is None and accept.digest in neg.superseded
    other = Verifier()
    for env in (*alice.setup, *bob.setup):
        other.accept(env)
    _run(other, offer, accept, reject)
    neg = other.negotiations.get(offer.header.negotiation_id)
    assert neg.state is State.REJECTED and neg.contract is None and accept.digest in neg.superseded


@pytest.mark.req("NEG-001")
def test_delivery_before_any_contract_is_an_illegal_transition(
    auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Alice 'delivers' against an offer nobody accepted; expect ILLEGAL_TRANSITION."""
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    fake_delivery = alice.sign(
        "delivery",
        commitment_pb2.Delivery(contract=offer.digest, item_index=0),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
    )
    _refused(auditor, fake_delivery, IllegalTransition, "NEG-001")


# --- NEG-002..NEG-005: who may say what, about what ----------------------------------------------


@pytest.mark.req("NEG-002")
def test_statement_for_an_unknown_negotiation_is_refused(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Bob accepts an offer the verifier never saw (so no negotiation exists); expect UNKNOWN_NEGOTIATION."""
    offer = alice.offer(bob)
    auditor.accept(alice.offer(bob).envelope)  # some other negotiation exists
    _refused(auditor, bob.accept(offer), UnknownNegotiation, "NEG-002")


@pytest.mark.req("NEG-002")
def test_negotiation_starts_only_with_an_offer(alice: Party, bob: Party) -> None:
    """Building a negotiation from an Accept, or checking a statement of another negotiation; expect
    UNKNOWN_NEGOTIATION."""
    offer = alice.offer(bob)
    with pytest.raises(UnknownNegotiation):
        Negotiation(bob.accept(offer))
    neg = Negotiation(offer)
    with pytest.raises(UnknownNegotiation):
        neg.check(bob.accept(alice.offer(bob)))
    with pytest.raises(UnknownNegotiation):
        Negotiations().get(b"\x00" * 16)


@pytest.mark.req("NEG-003")
def test_offer_must_be_addressed_to_another_party(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Alice offers to nobody (public) or to herself; expect WRONG_PARTY."""
    public = alice.sign("offer", alice.proposal())
    _refused(auditor, public, WrongParty, "NEG-003")
    to_self = alice.sign("offer", alice.proposal(), audience=alice.did)
    _refused(auditor, to_self, WrongParty, "NEG-003")


@pytest.mark.req("NEG-003")
def test_outsider_cannot_counter_or_accept(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Carol, not a party, accepts and counters the offer between Alice and Bob; expect WRONG_PARTY."""
    carol = Party("carol", clock)
    auditor.accept(carol.setup[0])
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    _refused(auditor, carol.accept(offer), WrongParty, "NEG-003")
    _refused(auditor, carol.counter(offer, carol.proposal()), WrongParty, "NEG-003")


@pytest.mark.req("NEG-003")
def test_trade_statement_addressed_to_a_third_party_is_refused(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Bob accepts Alice's offer but addresses the Accept to Carol; expect WRONG_PARTY."""
    carol = Party("carol", clock)
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    misaddressed = bob.sign(
        "accept",
        trade_pb2.Accept(offer=offer.digest),
        audience=carol.did,
        negotiation_id=offer.header.negotiation_id,
    )
    _refused(auditor, misaddressed, WrongParty, "NEG-003")


def _own(party: Party, body: str, offer: VerifiedStatement, to: Party) -> VerifiedStatement:
    """``party`` answers its own outstanding offer (properly addressed to the other side)."""
    msg = {
        "accept": trade_pb2.Accept(offer=offer.digest),
        "reject": trade_pb2.Reject(offer=offer.digest),
        "counter": trade_pb2.Counter(offer=offer.digest, proposal=party.proposal()),
    }[body]
    return party.sign(body, msg, audience=to.did, negotiation_id=offer.header.negotiation_id)


@pytest.mark.req("NEG-004")
@pytest.mark.parametrize("body", ["accept", "reject", "counter"])
def test_offerer_cannot_answer_own_offer(auditor: Verifier, alice: Party, bob: Party, body: str) -> None:
    """Alice accepts (rejects, counters) her own offer, addressed to Bob; expect WRONG_PARTY (NEG-004)."""
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    _refused(auditor, _own(alice, body, offer, bob), WrongParty, "NEG-004")


@pytest.mark.req("NEG-004")
def test_only_the_offerer_may_withdraw(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Bob withdraws Alice's offer; expect WRONG_PARTY. Alice withdrawing it works."""
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    bobs = bob.sign(
        "withdraw",
        trade_pb2.Withdraw(offer=offer.digest),
        audience=alice.did,
        negotiation_id=offer.header.negotiation_id,
    )
    _refused(auditor, bobs, WrongParty, "NEG-004")
    auditor.accept(alice.withdraw(offer).envelope)
    assert _state(auditor, offer) is State.WITHDRAWN


@pytest.mark.req("NEG-004", "NEG-005", "ERR-002")
def test_after_a_counter_the_roles_flip(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Bob counters; now Bob cannot accept his own counter (WRONG_PARTY), nobody can accept the
    superseded offer (STALE_REFERENCE, reported before Bob's wrong role: SPEC 8.8 step 3), and Alice
    accepting the counter forms a contract whose proposer is Bob."""
    offer = alice.offer(bob)
    counter = bob.counter(offer, bob.proposal())
    _run(auditor, offer, counter)
    assert _state(auditor, offer) is State.COUNTERED
    _refused(auditor, _own(bob, "accept", counter, alice), WrongParty, "NEG-004")
    stale = alice.sign(
        "accept",
        trade_pb2.Accept(offer=offer.digest),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
    )
    _refused(auditor, stale, StaleReference, "NEG-005")
    # Bob's own Accept of the offer he countered: his second answer to it, higher in his chain (NEG-021)
    late = bob.accept(offer)
    auditor.accept(late.envelope)
    neg = auditor.negotiations.get(offer.header.negotiation_id)
    assert neg.state is State.COUNTERED and late.digest in neg.superseded
    accept = alice.accept(counter)
    auditor.accept(accept.envelope)
    c = auditor.negotiations.get(offer.header.negotiation_id).contract
    assert c is not None and (c.proposer, c.acceptor) == (bob.did, alice.did)


@pytest.mark.req("NEG-005")
def test_commitment_statements_must_reference_this_contract(
    auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Alice delivers under Bob's Accept of another negotiation (wrong contract digest); and Bob
    receipts a delivery that does not exist; expect STALE_REFERENCE both times."""
    offer, other = alice.offer(bob), alice.offer(bob)
    accept, other_accept = bob.accept(offer), bob.accept(other)
    _run(auditor, offer, other, accept, other_accept)
    wrong = alice.sign(
        "delivery",
        commitment_pb2.Delivery(contract=other_accept.digest, item_index=0),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
    )
    _refused(auditor, wrong, StaleReference, "NEG-005")
    ghost = alice.deliver(accept, bob)  # never sent to the verifier
    _refused(auditor, bob.receipt(ghost), StaleReference, "NEG-005")


# --- NEG-006, NEG-007: acceptance ---------------------------------------------------------------


@pytest.mark.req("NEG-006", "NEG-025")
def test_acceptance_is_exclusive(auditor: Verifier, alice: Party, bob: Party, escrow: Party) -> None:
    """Bob accepts twice (two different Accept statements) an offer naming an escrow that witnessed neither:
    the second is held with no event until that escrow's Stamp orders the two (NEG-025, NEG-006), the first
    the contract. Of one naming no escrow the second is taken superseded (NEG-021): the first, lower in
    Bob's chain, is the contract."""
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    first = bob.accept(offer)
    second = bob.accept(offer)
    _run(auditor, offer, first, second)
    neg = auditor.negotiations.get(offer.header.negotiation_id)
    assert neg.contract is not None and neg.contract.id == first.digest and second.digest in neg.superseded
    bare = alice.offer(bob)
    first, second = bob.accept(bare), bob.accept(bare)
    _run(auditor, bare, first, second)
    neg = auditor.negotiations.get(bare.header.negotiation_id)
    assert neg.contract is not None and neg.contract.id == first.digest and second.digest in neg.superseded


@pytest.mark.req("NEG-007")
def test_accept_at_the_offers_expiry_is_in_time_and_one_ms_later_is_not(
    clock: FixedClock, alice: Party, bob: Party, auditor: Verifier
) -> None:
    """An offer expires at E. An Accept issued at E forms a contract; in a twin negotiation an Accept
    issued at E + 1 is ILLEGAL_TRANSITION (NEG-007), and the negotiation is EXPIRED."""
    in_time, too_late = alice.offer(bob), alice.offer(bob)
    expiry = in_time.header.expires_at_ms
    _run(auditor, in_time, too_late)
    auditor.accept(bob.accept(in_time, issued_at_ms=expiry).envelope)
    assert _state(auditor, in_time) is State.ACCEPTED
    _refused(auditor, bob.accept(too_late, issued_at_ms=expiry + 1), IllegalTransition, "NEG-007")
    neg = auditor.negotiations.get(too_late.header.negotiation_id)
    assert neg.expire_due(expiry + 1) and neg.state is State.EXPIRED
    assert not neg.expire_due(expiry + 2)


# --- NEG-008: commitment roles ---------------------------------------------------------------


@pytest.mark.req("NEG-008")
def test_only_the_named_escrow_may_lock_bonds(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Bob signs a BondLock for himself; expect WRONG_PARTY (only terms.escrow issues escrow bodies)."""
    deal = Bonded(auditor, alice, bob, escrow)
    _refused(auditor, _escrow_says(bob, "bond_lock", deal.accept, bob), WrongParty, "NEG-008")


@pytest.mark.req("NEG-008")
def test_escrow_statement_must_name_a_contract_party(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """The escrow locks a bond for Carol, who is not in the contract; expect BODY_INVALID."""
    deal = Bonded(auditor, alice, bob, escrow)
    _refused(
        auditor, _escrow_says(escrow, "bond_lock", deal.accept, Party("carol", clock)), BodyInvalid, "NEG-008"
    )


@pytest.mark.req("NEG-008")
def test_delivery_roles(clock: FixedClock, auditor: Verifier, alice: Party, bob: Party) -> None:
    """Carol delivers under Alice and Bob's contract (WRONG_PARTY); Alice delivers item 1 of a single
    item list (BODY_INVALID); Alice addresses her delivery to herself (WRONG_PARTY)."""
    carol = Party("carol", clock)
    auditor.accept(carol.setup[0])
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    _run(auditor, offer, accept)
    _refused(auditor, carol.deliver(accept, bob), WrongParty, "NEG-008")
    _refused(auditor, alice.deliver(accept, bob, item_index=1), BodyInvalid, "NEG-008")
    _refused(auditor, alice.deliver(accept, alice), WrongParty, "NEG-008")


@pytest.mark.req("NEG-008")
def test_only_the_receiving_party_issues_a_receipt(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Alice 'receipts' her own delivery; expect WRONG_PARTY. Bob's receipt is accepted."""
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    delivery = alice.deliver(accept, bob)
    _run(auditor, offer, accept, delivery)
    _refused(auditor, alice.receipt(delivery), WrongParty, "NEG-008")
    auditor.accept(bob.receipt(delivery).envelope)


@pytest.mark.req("NEG-008", "CMT-002")
def test_breach_claim_roles(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """An outsider files a breach claim (WRONG_PARTY); a claim about an item the accused does not owe
    (BODY_INVALID)."""
    carol = Party("carol", clock)
    auditor.accept(carol.setup[0])
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    accept = bob.accept(offer)
    _run(auditor, offer, accept)
    clock.advance(2 * DAY_MS)
    _refused(auditor, _breach_claim(carol, accept, bob), WrongParty, "NEG-008")
    _refused(auditor, _breach_claim(alice, accept, bob, item=3), BodyInvalid, "NEG-008")


# --- NEG-009: exclusive keys ------------------------------------------------------------------


@pytest.mark.req("NEG-009")
def test_issuer_cannot_commit_one_exclusive_key_twice(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Alice offers the same GPU slot (exclusive_key) to Bob and to Carol; both may bargain, Bob
    accepts, then Carol's Accept is EXCLUSIVE_CONFLICT."""
    carol = Party("carol", clock)
    auditor.accept(carol.setup[0])
    to_bob = alice.offer(bob, alice.proposal(exclusive_key=b"gpu-slot-7"))
    to_carol = alice.offer(carol, alice.proposal(exclusive_key=b"gpu-slot-7"))
    _run(auditor, to_bob, to_carol, bob.accept(to_bob))
    _refused(auditor, carol.accept(to_carol), ExclusiveConflict, "NEG-009")


@pytest.mark.req("NEG-009")
def test_exclusive_key_is_free_again_once_its_contract_ended(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party
) -> None:
    """The first contract on a key is fulfilled; expect a new contract on the same key to form."""
    carol = Party("carol", clock)
    auditor.accept(carol.setup[0])
    first = alice.offer(bob, alice.proposal(exclusive_key=b"k"))
    accept = bob.accept(first)
    d1, d2 = alice.deliver(accept, bob), bob.deliver(accept, alice)
    _run(auditor, first, accept, d1, d2, bob.receipt(d1), alice.receipt(d2))
    assert _state(auditor, first) is State.FULFILLED
    second = alice.offer(carol, alice.proposal(exclusive_key=b"k"))
    _run(auditor, second, carol.accept(second))


@pytest.mark.req("NEG-009")
def test_late_statement_on_an_ended_contract_does_not_free_a_key_held_by_a_live_one(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Contract 1 on key K is revoked (ended), contract 2 on K forms, then a late Delivery arrives on
    contract 1 (REVOKED accepts deliveries). Expect K still held by contract 2, so a third contract
    on K is EXCLUSIVE_CONFLICT."""
    carol, dave = Party("carol", clock), Party("dave", clock)
    for p in (carol, dave):
        auditor.accept(p.setup[0])
    revocable = trade_pb2.Revocation(allowed=True)
    first = alice.offer(bob, alice.proposal(exclusive_key=b"K", revocation=revocable, escrow=escrow.did))
    accept1 = bob.accept(first)
    revoke = _revoke(alice, accept1, bob)
    _run(auditor, first, accept1, _stamp(escrow, revoke), revoke)
    second = alice.offer(carol, alice.proposal(exclusive_key=b"K"))
    _run(auditor, second, carol.accept(second))
    auditor.accept(bob.deliver(accept1, alice).envelope)  # owed under notice, arrives late
    third = alice.offer(dave, alice.proposal(exclusive_key=b"K"))
    auditor.accept(third.envelope)
    _refused(auditor, dave.accept(third), ExclusiveConflict, "NEG-009")


# --- NEG-010, CMT-003: revocation ------------------------------------------------------------


@pytest.mark.req("NEG-010")
def test_revoke_without_revocation_allowed_is_refused(auditor: Verifier, alice: Party, bob: Party) -> None:
    """Alice revokes a contract whose terms do not allow it; expect REVOCATION_NOT_ALLOWED."""
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    _run(auditor, offer, accept)
    _refused(auditor, _revoke(alice, accept, bob), RevocationNotAllowed, "NEG-010")


@pytest.mark.req("NEG-010", "CMT-003")
def test_revocation_with_forfeit_pays_the_revokers_bond_to_the_other_party(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Revocable terms with forfeit_bond: Bob revokes; expect REVOKED, then the escrow forfeits Bob's
    bond to Alice (citing the Revoke) and releases Alice's. Forfeiting Alice's bond instead is refused."""
    deal = Bonded(
        auditor, alice, bob, escrow, revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    )
    deal.lock_both()
    revoke = _revoke(bob, deal.accept, alice)
    _run(auditor, revoke, _stamp(escrow, revoke))  # the stamp, arriving second, makes it effective
    assert deal.state is State.REVOKED
    wrong = _escrow_says(escrow, "forfeit", deal.accept, alice, beneficiary=bob.did, cause=revoke.digest)
    _refused(auditor, wrong, BodyInvalid, "CMT-003")
    _run(
        auditor,
        _escrow_says(escrow, "forfeit", deal.accept, bob, beneficiary=alice.did, cause=revoke.digest),
        _escrow_says(escrow, "release", deal.accept, alice),
    )
    assert deal.state is State.REVOKED


@pytest.mark.req("CMT-003")
def test_revocation_without_forfeit_terms_forfeits_nothing(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Revocable terms without forfeit_bond: after Bob revokes, a Forfeit of Bob's bond is refused; the
    escrow returns both bonds."""
    deal = Bonded(auditor, alice, bob, escrow, revocation=trade_pb2.Revocation(allowed=True))
    deal.lock_both()
    revoke = _revoke(bob, deal.accept, alice)
    _run(auditor, _stamp(escrow, revoke), revoke)
    forfeit = _escrow_says(escrow, "forfeit", deal.accept, bob, beneficiary=alice.did, cause=revoke.digest)
    _refused(auditor, forfeit, BodyInvalid, "CMT-003")
    _run(auditor, *(_escrow_says(escrow, "release", deal.accept, p) for p in (alice, bob)))


@pytest.mark.req("CMT-003")
def test_obligations_under_notice_can_still_be_performed_after_revocation(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Terms with a notice period: Alice revokes, then both still deliver and receipt what was due;
    expect every statement accepted and the contract to stay REVOKED."""
    terms = trade_pb2.Revocation(allowed=True, notice_ms=DAY_MS)
    offer = alice.offer(bob, alice.proposal(revocation=terms, escrow=escrow.did))
    accept = bob.accept(offer)
    revoke = _revoke(alice, accept, bob)
    _run(auditor, offer, accept, _stamp(escrow, revoke), revoke)
    d1, d2 = alice.deliver(accept, bob), bob.deliver(accept, alice)
    _run(auditor, d1, d2, bob.receipt(d1), alice.receipt(d2))
    assert _state(auditor, offer) is State.REVOKED


# --- NEG-012, CMT-001: bonds and the happy path ---------------------------------------------------


@pytest.mark.req("NEG-012", "CMT-001", "NEG-008")
def test_bonded_trade_from_offer_to_release(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """The full commitment flow: contract, the escrow locks both bonds (ACCEPTED, then BONDED), both
    deliver (PERFORMING), both receipt (FULFILLED), the escrow releases both bonds (stays FULFILLED)."""
    deal = Bonded(auditor, alice, bob, escrow)
    auditor.accept(_escrow_says(escrow, "bond_lock", deal.accept, alice).envelope)
    assert deal.state is State.ACCEPTED
    auditor.accept(_escrow_says(escrow, "bond_lock", deal.accept, bob).envelope)
    assert deal.state is State.BONDED
    d1 = alice.deliver(deal.accept, bob)
    auditor.accept(d1.envelope)
    assert deal.state is State.PERFORMING
    d2 = bob.deliver(deal.accept, alice)
    _run(auditor, d2, bob.receipt(d1))
    assert deal.state is State.PERFORMING
    auditor.accept(alice.receipt(d2).envelope)
    assert deal.state is State.FULFILLED
    _run(auditor, *(_escrow_says(escrow, "release", deal.accept, p) for p in (alice, bob)))
    assert deal.state is State.FULFILLED
    events = [e for _, e, _, _ in auditor.negotiations.get(deal.offer.header.negotiation_id).history]
    assert events == [
        Event.ACCEPT, Event.BOND_LOCK, Event.BOND_COMPLETE, Event.DELIVERY, Event.DELIVERY,
        Event.RECEIPT, Event.RECEIPT_COMPLETE, Event.RELEASE, Event.RELEASE,
    ]  # fmt: skip


@pytest.mark.req("NEG-012")
def test_one_sided_bond_is_bonded_after_its_single_lock(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Only Bob posts a bond; expect BONDED right after the escrow locks it, and a lock for Alice
    (bond 0) to be BODY_INVALID."""
    offer = alice.offer(bob, alice.proposal(audience_bond=BOND, escrow=escrow.did))
    accept = bob.accept(offer)
    _run(auditor, offer, accept)
    _refused(auditor, _escrow_says(escrow, "bond_lock", accept, alice), BodyInvalid, "NEG-012")
    auditor.accept(_escrow_says(escrow, "bond_lock", accept, bob).envelope)
    assert _state(auditor, offer) is State.BONDED


@pytest.mark.req("NEG-012")
@pytest.mark.parametrize("amount", [BOND - 1, BOND + 1])
def test_bond_lock_must_match_the_terms(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party, amount: int
) -> None:
    """The escrow locks 99 or 101 of a 100 bond; expect BODY_INVALID."""
    deal = Bonded(auditor, alice, bob, escrow)
    _refused(
        auditor, _escrow_says(escrow, "bond_lock", deal.accept, alice, amount=amount), BodyInvalid, "NEG-012"
    )


@pytest.mark.req("NEG-012")
def test_bond_is_locked_once(auditor: Verifier, alice: Party, bob: Party, escrow: Party) -> None:
    """The escrow locks Alice's bond twice; expect the second BODY_INVALID."""
    deal = Bonded(auditor, alice, bob, escrow)
    auditor.accept(_escrow_says(escrow, "bond_lock", deal.accept, alice).envelope)
    _refused(auditor, _escrow_says(escrow, "bond_lock", deal.accept, alice), BodyInvalid, "NEG-012")


@pytest.mark.req("NEG-012")
def test_no_delivery_until_every_bond_is_locked(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Only Alice's bond is locked and she starts delivering; expect ILLEGAL_TRANSITION (NEG-012)."""
    deal = Bonded(auditor, alice, bob, escrow)
    auditor.accept(_escrow_says(escrow, "bond_lock", deal.accept, alice).envelope)
    _refused(auditor, alice.deliver(deal.accept, bob), IllegalTransition, "NEG-012")


@pytest.mark.req("CMT-001")
def test_bond_is_not_released_before_the_contract_is_fulfilled(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Only Alice's side is receipted and the escrow releases her bond: money statements never change a
    contract's state (SPEC 8.9), so every verifier records it and the state stays PERFORMING; that the
    release was not due is the audit's finding (RELEASE_NOT_DUE, tests/test_escrow.py)."""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    d1 = alice.deliver(deal.accept, bob)
    _run(auditor, d1, bob.receipt(d1))
    assert deal.state is State.PERFORMING
    auditor.accept(_escrow_says(escrow, "release", deal.accept, alice).envelope)
    assert deal.state is State.PERFORMING


@pytest.mark.req("CMT-001", "NEG-012")
def test_release_returns_the_locked_amount_once(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """After fulfilment, a release of the wrong amount and a second release are BODY_INVALID."""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    d1, d2 = alice.deliver(deal.accept, bob), bob.deliver(deal.accept, alice)
    _run(auditor, d1, d2, bob.receipt(d1), alice.receipt(d2))
    _refused(auditor, _escrow_says(escrow, "release", deal.accept, alice, amount=BOND + 1), BodyInvalid)
    auditor.accept(_escrow_says(escrow, "release", deal.accept, alice).envelope)
    _refused(auditor, _escrow_says(escrow, "release", deal.accept, alice), BodyInvalid)


# --- CMT-002: breach --------------------------------------------------------------------------------


@pytest.mark.req("CMT-002")
def test_breach_claim_upheld_forfeits_the_accused_bond(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Alice delivers, Bob never does. After his deadline Alice claims: held, no effect until the escrow
    stamps it (DISPUTED); a ruling before the response window is refused; then the escrow upholds it
    (BREACHED), forfeits Bob's bond to Alice and releases Alice's bond."""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    auditor.accept(alice.deliver(deal.accept, bob).envelope)
    clock.advance(DAY_MS + 1)
    claim = _breach_claim(alice, deal.accept, bob)
    auditor.accept(claim.envelope)
    assert deal.state is State.PERFORMING  # held, not effective (WIT-005)
    auditor.accept(_stamp(escrow, claim).envelope)
    assert deal.state is State.DISPUTED
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS - 1)
    _refused(auditor, _ruling(escrow, deal.accept, claim, UPHOLD), IllegalTransition, "CMT-002")
    clock.advance(1)
    auditor.accept(_ruling(escrow, deal.accept, claim, UPHOLD).envelope)
    assert deal.state is State.BREACHED
    forfeit = _escrow_says(escrow, "forfeit", deal.accept, bob, beneficiary=alice.did, cause=claim.digest)
    auditor.accept(forfeit.envelope)
    assert deal.state is State.BREACHED
    auditor.accept(_escrow_says(escrow, "release", deal.accept, alice).envelope)
    assert deal.state is State.BREACHED


@pytest.mark.req("CMT-002", "WIT-003")
def test_a_ruling_while_a_delivery_could_still_be_timely_is_refused(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Terms with a 1 ms response window, chosen by the offerer. Alice claims 1 ms after Bob's deadline
    and the escrow stamps it at once: stamp + window passes 1 ms later, but a Delivery by Bob stamped
    up to the clock tolerance after his deadline is still timely (WIT-003). A Ruling dated at the
    deadline + the tolerance is refused (CMT-002); one a millisecond later is taken."""
    proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.terms.response_window_ms = 1
    offer = alice.offer(bob, proposal)
    accept = bob.accept(offer)
    _run(auditor, offer, accept)
    for p in (alice, bob):
        auditor.accept(_escrow_says(escrow, "bond_lock", accept, p).envelope)
    deadline = offer.statement.offer.wants[0].deadline_ms
    clock.now_ms = deadline + 1
    claim = _breach_claim(alice, accept, bob)
    auditor.accept(claim.envelope)
    auditor.accept(_stamp(escrow, claim).envelope)
    clock.now_ms = deadline + CLOCK_TOLERANCE_MS
    _refused(auditor, _ruling(escrow, accept, claim, UPHOLD), IllegalTransition, "CMT-002")
    clock.advance(1)
    auditor.accept(_ruling(escrow, accept, claim, UPHOLD).envelope)
    assert _state(auditor, offer) is State.BREACHED


@pytest.mark.req("CMT-002")
def test_breach_claim_before_the_deadline_is_refused(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Alice claims at exactly Bob's deadline (still in time); expect ILLEGAL_TRANSITION (CMT-002)."""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    wants_deadline = deal.offer.statement.offer.wants[0].deadline_ms
    early = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=deal.accept.digest, item_index=0),
        audience=bob.did,
        negotiation_id=deal.offer.header.negotiation_id,
        issued_at_ms=wants_deadline,
    )
    _refused(auditor, early, IllegalTransition, "CMT-002")


@pytest.mark.req("CMT-002")
@pytest.mark.parametrize("fault", ["claimant-bond", "wrong-beneficiary", "no-claim"])
def test_forfeit_must_follow_an_upheld_claim_against_that_party(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party, fault: str
) -> None:
    """Alice's claim against Bob is pending. The escrow forfeits Alice's (the claimant's) bond, pays
    Bob's bond to the escrow itself, or cites no claim at all; expect BODY_INVALID each time."""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    alice.clock.advance(DAY_MS + 1)
    claim = _breach_claim(alice, deal.accept, bob)
    _run(auditor, _stamp(escrow, claim), claim)
    party, beneficiary, cause = {
        "claimant-bond": (alice, bob, claim.digest),
        "wrong-beneficiary": (bob, escrow, claim.digest),
        "no-claim": (bob, alice, deal.accept.digest),
    }[fault]
    forfeit = _escrow_says(escrow, "forfeit", deal.accept, party, beneficiary=beneficiary.did, cause=cause)
    _refused(auditor, forfeit, BodyInvalid, "CMT-002")
    assert deal.state is State.DISPUTED


@pytest.mark.req("CMT-002")
def test_claim_against_an_item_delivered_in_time_is_not_upheld(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Bob delivered before his deadline but never got a receipt; Alice claims a breach anyway. The
    escrow dismisses the claim citing the timely Delivery (back to PERFORMING); a Forfeit of Bob's bond
    is BODY_INVALID without an upheld claim. (Whether the dismissal cites a timely Delivery is the
    audit's to check, AUD-004: a verifier follows the ruling whether or not it holds the evidence.)"""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    delivery = bob.deliver(deal.accept, alice)
    _run(auditor, _stamp(escrow, delivery), delivery)
    clock.advance(DAY_MS + 1)
    claim = _breach_claim(alice, deal.accept, bob)
    _run(auditor, _stamp(escrow, claim), claim)
    forfeit = _escrow_says(escrow, "forfeit", deal.accept, bob, beneficiary=alice.did, cause=claim.digest)
    _refused(auditor, forfeit, BodyInvalid, "CMT-002")
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    auditor.accept(_ruling(escrow, deal.accept, claim, DISMISS, evidence=delivery.digest).envelope)
    assert deal.state is State.PERFORMING
    _refused(auditor, forfeit, BodyInvalid, "CMT-002")


@pytest.mark.req("CMT-002")
def test_late_delivery_during_a_dispute_can_still_fulfil(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Bob delivers after the claim and everything is receipted: the dispute does not end by itself
    (DISPUTED), the escrow's ruling ends it. Bob's delivery was late, so the claim is upheld: BREACHED,
    whatever was receipted (SPEC 8.9: the ruling outranks completion)."""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    d1 = alice.deliver(deal.accept, bob)
    auditor.accept(d1.envelope)
    clock.advance(DAY_MS + 1)
    claim = _breach_claim(alice, deal.accept, bob)
    _run(auditor, _stamp(escrow, claim), claim)
    d2 = bob.deliver(deal.accept, alice)
    _run(auditor, d2, bob.receipt(d1), alice.receipt(d2))
    assert deal.state is State.DISPUTED
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    auditor.accept(_ruling(escrow, deal.accept, claim, UPHOLD).envelope)
    assert deal.state is State.BREACHED


# --- CMT-004: lapse -------------------------------------------------------------------------------


@pytest.mark.req("CMT-006")
def test_an_escrowed_contract_without_bonds_lapses_only_after_the_claim_window(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Nobody delivers or claims under terms that name an escrow and no bond. A contract never expires
    by the parties' statement times; the escrow declares the lapse (CMT-006): at last deadline +
    CLAIM_WINDOW_MS a LAPSE ruling is refused, 1 ms later it is accepted (EXPIRED)."""
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    accept = bob.accept(offer)
    _run(auditor, offer, accept)
    lapse = offer.statement.offer.gives[0].deadline_ms + CLAIM_WINDOW_MS
    neg = auditor.negotiations.get(offer.header.negotiation_id)
    clock.now_ms = lapse
    _refused(auditor, _ruling(escrow, accept, None, LAPSE), IllegalTransition, "CMT-006")
    assert not neg.expire_due(lapse + 1) and neg.state is State.ACCEPTED
    clock.now_ms = lapse + 1
    auditor.accept(_ruling(escrow, accept, None, LAPSE).envelope)
    assert neg.state is State.EXPIRED


@pytest.mark.req("CMT-004", "CMT-006", "ESC-010")
def test_unperformed_contract_expires_after_the_claim_window_and_bonds_are_refunded(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Nobody delivers or claims under bonded terms. The escrow may lapse them from the bonding cutoff
    on (a contract not bonded by then never will be, ESC-010; whether this one was is for the audit,
    AUD-004, so that no verifier's view depends on the locks it happens to hold): a LAPSE ruling at the
    cutoff is refused, 1 ms later it is accepted (EXPIRED) and both bonds are refunded (CMT-004)."""
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    cutoff = deal.offer.header.expires_at_ms + BOND_GRACE_MS
    neg = auditor.negotiations.get(deal.offer.header.negotiation_id)
    clock.now_ms = cutoff
    _refused(auditor, _ruling(escrow, deal.accept, None, LAPSE), IllegalTransition, "CMT-006")
    assert deal.state is State.BONDED
    clock.now_ms = cutoff + 1
    auditor.accept(_ruling(escrow, deal.accept, None, LAPSE).envelope)
    assert deal.state is State.EXPIRED
    for p in (alice, bob):
        auditor.accept(_escrow_says(escrow, "refund", deal.accept, p).envelope)
    assert deal.state is State.EXPIRED and neg.history[-3][1:3] == (Event.LAPSE, State.EXPIRED)


@pytest.mark.req("CMT-010", "NEG-012")
@pytest.mark.parametrize("after_cutoff_ms", [0, 1])
def test_a_bond_lock_after_the_bonding_cutoff_is_refused(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party, *, after_cutoff_ms: int
) -> None:
    """Alice's bond is locked at once; Bob's only at the bonding cutoff -- the accepted offer's expiry
    + 30 s, a time both signed -- or 1 ms after it. At the cutoff: BONDED. After it: ILLEGAL_TRANSITION
    (CMT-010) and the contract stays ACCEPTED, where nobody may deliver: otherwise the party that funds
    last would choose when bonding ends, and leave the other no time to perform before its deadline."""
    deal = Bonded(auditor, alice, bob, escrow)
    auditor.accept(_escrow_says(escrow, "bond_lock", deal.accept, alice).envelope)
    clock.now_ms = deal.offer.header.expires_at_ms + BOND_GRACE_MS + after_cutoff_ms
    late = _escrow_says(escrow, "bond_lock", deal.accept, bob)
    if not after_cutoff_ms:
        auditor.accept(late.envelope)
        assert deal.state is State.BONDED
        return
    _refused(auditor, late, IllegalTransition, "CMT-010")
    assert deal.state is State.ACCEPTED


@pytest.mark.req("CMT-005", "WIT-005")
def test_no_breach_claim_without_an_escrow_or_after_the_claim_window(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """A claim under terms that name no arbiter is ILLEGAL_TRANSITION (CMT-005). A claim the escrow
    stamps after the claim window closed never takes effect, whichever arrives first."""
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    _run(auditor, offer, accept)
    clock.advance(DAY_MS + 1)
    _refused(auditor, _breach_claim(alice, accept, bob), IllegalTransition, "CMT-005")
    deal = Bonded(auditor, alice, bob, escrow)
    deal.lock_both()
    clock.advance(DAY_MS + 1)
    claim = _breach_claim(alice, deal.accept, bob)
    clock.advance(CLAIM_WINDOW_MS)
    _run(auditor, claim, _stamp(escrow, claim))
    assert deal.state is State.BONDED


# --- the machine in isolation ------------------------------------------------------------------


@pytest.mark.req("NEG-001", "ERR-003")
def test_check_changes_nothing_and_apply_records_history(alice: Party, bob: Party) -> None:
    """Negotiation.check on a legal Accept reports ACCEPT and leaves the state; apply moves it and logs
    (from, event, to, digest)."""
    offer = alice.offer(bob)
    neg = Negotiation(offer)
    accept = bob.accept(offer)
    assert neg.check(accept) is Event.ACCEPT
    assert (neg.state, neg.contract, neg.history) == (State.PROPOSED, None, [])
    assert neg.apply(accept) is State.ACCEPTED
    assert neg.history == [(State.PROPOSED, Event.ACCEPT, State.ACCEPTED, accept.digest)]
    assert neg.is_terminal is False
    assert neg.parties == (alice.did, bob.did) and neg.other(alice.did) == bob.did


@pytest.mark.req("NEG-001")
def test_items_with_zero_value_and_multiple_items_track_every_obligation(
    auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Alice gives two items; the contract is FULFILLED only when both of hers and Bob's one are receipted."""
    deadline = alice.clock.now_ms + DAY_MS
    proposal = alice.proposal(
        gives=[
            service("code-review", value=0, deadline_ms=deadline),
            service("testing", value=5, deadline_ms=deadline),
        ]
    )
    offer = alice.offer(bob, proposal)
    accept = bob.accept(offer)
    a0, a1, b0 = alice.deliver(accept, bob, 0), alice.deliver(accept, bob, 1), bob.deliver(accept, alice)
    _run(auditor, offer, accept, a0, a1, b0, bob.receipt(a0), alice.receipt(b0))
    assert _state(auditor, offer) is State.PERFORMING
    auditor.accept(bob.receipt(a1).envelope)
    assert _state(auditor, offer) is State.FULFILLED


# --- ERR-002: the order of negotiation checks (SPEC 8.8) ---------------------------------------------


@pytest.mark.req("ERR-002", "NEG-008", "NEG-012", "CMT-002")
def test_negotiation_faults_are_reported_in_spec_order(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party, escrow: Party
) -> None:
    """Pairs of faults in one statement; expect the earlier check of SPEC 8.8 each time: an escrow
    body from a non-escrow about a non-party is WRONG_PARTY; a Delivery of a missing item before the
    bonds are locked is BODY_INVALID; a BreachClaim about a missing item before any deadline is
    BODY_INVALID."""
    carol = Party("carol", clock)
    deal = Bonded(auditor, alice, bob, escrow)
    _refused(auditor, _escrow_says(bob, "bond_lock", deal.accept, carol), WrongParty, "NEG-008")
    _refused(auditor, alice.deliver(deal.accept, bob, item_index=5), BodyInvalid, "NEG-008")
    _refused(auditor, _breach_claim(alice, deal.accept, bob, item=5), BodyInvalid, "NEG-008")
    _refused(auditor, alice.deliver(deal.accept, bob), IllegalTransition, "NEG-012")
    _refused(auditor, _breach_claim(alice, deal.accept, bob), IllegalTransition, "CMT-002")


@pytest.mark.req("NEG-014")
def test_answers_are_not_dated_before_what_they_answer(
    clock: FixedClock, auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Bob accepts 1 ms before Alice's offer was issued; Alice then delivers 1 ms before Bob's Accept.
    Expect ILLEGAL_TRANSITION (NEG-014) both times, and the same statements dated at the instant they
    answer to pass (an answer may share its cause's millisecond)."""
    offer = alice.offer(bob)
    auditor.accept(offer.envelope)
    t = offer.header.issued_at_ms
    _refused(auditor, bob.accept(offer, issued_at_ms=t - 1), IllegalTransition, "NEG-014")
    accept = bob.accept(offer, issued_at_ms=t + 1_000)
    auditor.accept(accept.envelope)
    _refused(auditor, alice.deliver(accept, bob, issued_at_ms=t + 999), IllegalTransition, "NEG-014")
    auditor.accept(alice.deliver(accept, bob, issued_at_ms=t + 1_000).envelope)


@pytest.mark.req("BDY-016", "CMT-002")
def test_a_ruling_with_a_decision_v1_does_not_name_is_refused_not_read_as_a_dismissal(
    auditor: Verifier, alice: Party, bob: Party, escrow: Party, clock: FixedClock
) -> None:
    """The escrow's ruling on Alice's claim re-signed with decision 4; expect BODY_INVALID (BDY-016)
    and the contract still DISPUTED, where reading it as a dismissal would make it PERFORMING; the
    genuine UPHOLD then makes it BREACHED."""
    log = bonded_trade(alice, bob, escrow, clock, breach=True)
    at = next(i for i, vs in enumerate(log) if vs.body == "ruling")
    _run(auditor, *log[:at])
    ruling = log[at]
    assert _state(auditor, ruling) is State.DISPUTED
    stmt = Statement()
    stmt.CopyFrom(ruling.statement)
    stmt.ruling.decision = 4
    forged = sign_payload(encode_statement(stmt), escrow.agent.key)
    with pytest.raises(BodyInvalid) as err:
        auditor.accept(forged)
    assert err.value.requirement == "BDY-016"
    assert _state(auditor, ruling) is State.DISPUTED
    auditor.accept(ruling.envelope)
    assert _state(auditor, ruling) is State.BREACHED


# --- SPEC 4.5, 8.1: a contract is finished whatever order its statements came in ----------------------


@pytest.mark.req("NEG-009")
@pytest.mark.req("MND-010")
def test_a_fulfilled_contract_claimed_on_is_finished_in_every_arrival_order(
    clock: FixedClock, alice: Party, bob: Party, escrow: Party
) -> None:
    """Alice's contract (exclusive key K, with an escrow): both deliver, both receipt, and Alice's claim
    on Bob's item is stamped. Every order of the last Receipt, the claim and its Stamp leaves the same
    view: the contract is finished (every obligation receipted), so it neither holds K (NEG-009) nor
    counts toward Alice's exposure (MND-010) -- the claim moves a FULFILLED contract to DISPUTED, it does
    not revive it; and a contract holding a stamped claim before its last Receipt is finished all the
    same."""
    import itertools

    offer = alice.offer(bob, alice.proposal(escrow=escrow.did, exclusive_key=b"K"))
    accept = bob.accept(offer)
    da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
    rb, ra = bob.receipt(da), alice.receipt(db)
    clock.now_ms = offer.statement.offer.wants[0].deadline_ms + 1
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="late"),
        audience=bob.did,
        negotiation_id=offer.header.negotiation_id,
    )
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    views = set()
    for order in itertools.permutations((ra, claim, stamp)):
        v = Verifier()
        for env in (*alice.setup, *bob.setup, *escrow.setup):
            v.accept(env)
        for vs in (offer, accept, da, db, rb, *order):
            v.accept(vs.envelope)
        neg = v.negotiations.get(offer.header.negotiation_id)
        assert neg.contract_finished
        exposure = v.exposure.exposure(offer.mandate_digest)
        held = v.negotiations.exclusive_holder(alice.did, b"K")
        views.add((neg.state, tuple(exposure.open_contracts), held))
    assert views == {(State.DISPUTED, (), None)}
