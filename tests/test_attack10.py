"""Attacker's pass (tenth): who chose the value a rule relies on, and what they gain by lying (SPEC 8.6,
8.9, 9.2, 16.14).

Each test names the attack in its docstring; Mallory is the attacker, Bob the honest reference peer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from peers import make_peer
from test_attack9 import _restarted
from test_hidden_accept import (
    FUNDS,
    AcksOnly,
    AnswersTwice,
    DownOnce,
    Market,
    _big,
    _countered_and_hidden,
    _open_countering_bob,
    _restarted_bob_performs,
)

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, Negotiation, State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.strategy import Accept as StrategyAccept
from a2a_coop.runtime.strategy import ContractView, Deliver, HonestStrategy, OfferView, Reply
from a2a_coop.runtime.strategy import Counter as StrategyCounter
from a2a_coop.runtime.trade import ask_escrow_alone, carry_trade, contract_evidence
from a2a_coop.testing import LocalEscrow, Party, service
from a2a_coop.transport import TransportError

CAR = b"the-car"


@dataclass
class OneCar(HonestStrategy):
    """Bob's deciding layer: he owns one car (the item of category ``the-car``) and hands it over once,
    under the first contract he is asked to perform that gives it; everything else as HonestStrategy."""

    sold_to: bytes = b""
    withheld: list[bytes] = field(default_factory=list)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        gives_car = any(item.category == "the-car" for item in contract.my_items)
        if gives_car and self.sold_to and self.sold_to != contract.contract_id:
            self.withheld.append(contract.contract_id)
            return []
        if gives_car:
            self.sold_to = contract.contract_id
        return super().perform(contract)


def _car(m: Market, escrow: str, *, bond: int) -> trade_pb2.Offer:
    """Bob's terms giving the car under ``exclusive_key`` CAR, at ``escrow`` with ``bond`` each side."""
    deadline = m.clock.now_ms + 3_600_000
    return m.bob.proposal(
        issuer_bond=bond,
        audience_bond=bond,
        escrow=escrow,
        gives=[service("the-car", value=500, deadline_ms=deadline)],
        wants=[service("copy-editing", value=450, deadline_ms=deadline)],
        exclusive_key=CAR,
    )


def _car_market() -> tuple[Market, LocalEscrow, Party, OneCar]:
    """Bob trusts E1 (``m.escrow``) and E2; Mallory and Carol (Mallory's other key, or an honest buyer)
    are funded at both."""
    m = Market()
    carol = Party("carol", m.clock)
    funds = {m.mallory.did: FUNDS, m.bob.did: FUNDS, carol.did: FUNDS}
    e2 = LocalEscrow(Party("escrow-2", m.clock), funds=funds)
    m.escrow.escrow.deposit(carol.did, FUNDS, "credit", "test funding", m.clock.now_ms)
    strategy = OneCar()
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], strategy=strategy)
    return m, e2, carol, strategy


def _sell_to_carol(m: Market, e2: LocalEscrow, carol: Party, where: str) -> VerifiedStatement | None:
    """Bob offers the car again to Carol -- bonded at E2, or with no escrow -- and she accepts; the
    contract is bonded at E2 and Bob performs it (the car goes to Carol). None if his guard refused."""
    escrow = e2.did if where == "other-escrow" else ""
    try:
        to_carol = m.b.propose(carol.did, _car(m, escrow, bond=100 if escrow else 0))
    except CoopError as refused:
        assert refused.code == "EXCLUSIVE_CONFLICT", refused
        return None
    carols = carol.accept(to_carol)
    ours = [vs for vs in m.b.on_replies([*carol.setup, carols.envelope]) if vs.body == "delivery"]
    neg = m.b.negotiation(to_carol.negotiation_id)
    assert neg.contract is not None
    if escrow:
        m.b.hold(e2.submit(contract_evidence(m.b, neg)))
    ours += m.b.perform(neg.id)
    assert [vs.body for vs in ours] == ["delivery"]
    if escrow:
        e2.submit([vs.envelope for vs in ours])
    return carols


@pytest.mark.req("NEG-020", "NEG-017", "NEG-019", "NEG-009")
@pytest.mark.parametrize("where", ["other-escrow", "no-escrow"])
def test_an_exclusive_key_rejected_beside_a_hidden_accept_is_not_sold_twice(where: str) -> None:
    """Bob offers Mallory his one car (exclusive_key), bonded at E1. She shows E1 an Accept of it and
    answers Bob with a Reject. Bob's guard took the key as free at the Reject, so he offered the car to
    Carol -- at E2, or with no escrow -- who accepted, and he handed it over. E1 then revealed Mallory's
    Accept, which binds him whatever NEG-009 says (NEG-019): bound twice for one car, he could not
    perform hers, and her claim took his bond at E1. Now the guard counts the key as held by his
    offer until E1 took its answer or its bonding cutoff passed (NEG-020): the second sale is refused
    EXCLUSIVE_CONFLICT, and Bob performs the contract E1 reveals."""
    m, e2, carol, strategy = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100))
    accept = m.hide_accept(offer)
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    sold = _sell_to_carol(m, e2, carol, where)
    ours = ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == accept.digest
    m.escrow.submit([vs.envelope for vs in ours or ()])
    m.bob_loses_nothing(neg.id, accept.digest)
    assert sold is None and strategy.sold_to == accept.digest and not strategy.withheld


@pytest.mark.req("NEG-020")
@pytest.mark.parametrize("where", ["other-escrow", "no-escrow"])
def test_an_exclusive_key_is_offered_again_once_its_escrow_took_the_reject(where: str) -> None:
    """No hidden Accept: once E1 stamped Mallory's Reject (Bob shows it, ESC-013), no Accept of the offer
    can bind any more (ESC-014), and the car may be offered elsewhere at once."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100))
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    with pytest.raises(CoopError):
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    assert _sell_to_carol(m, e2, carol, where) is not None


@pytest.mark.req("NEG-020", "NEG-017", "ESC-013")
@pytest.mark.parametrize("where", ["other-escrow", "no-escrow"])
def test_an_exclusive_key_stays_held_past_the_cutoff_until_the_escrow_is_asked(where: str) -> None:
    """Mallory shows E1 an Accept of Bob's offer of the car and rejects it; E1 is down when Bob's run
    asks, so the run ends with an error. The bonding cutoff passes: from then on E1 stamps no Accept of
    the offer, but the one it stamped before still binds. Before, Bob's guard freed the key at the
    cutoff, he sold the car to Carol, and `resume` then revealed Mallory's contract: bound twice, his bond
    at E1 went to her claim. Now the key stays held past the cutoff until E1 took the answer or was asked
    after the cutoff (or, nobody asking, until a contract of the offer could no longer be claimed)."""
    m, e2, carol, strategy = _car_market()
    mallorys = AnswersTwice(m, "reject")
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    with pytest.raises(TransportError):
        carry_trade(m.b, mallorys, offer, escrow=DownOnce(m.escrow))  # type: ignore[arg-type]
    assert mallorys.accept is not None
    m.clock.now_ms = offer.header.expires_at_ms + 30_001  # past the cutoff, and the skew
    sold = _sell_to_carol(m, e2, carol, where)
    m.clock.now_ms = offer.header.expires_at_ms + 60_001  # when `resume` asks again (ESC-013)
    ours = ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    m.escrow.submit([vs.envelope for vs in ours or ()])
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == mallorys.accept.digest
    m.bob_loses_nothing(neg.id, mallorys.accept.digest)
    assert sold is None and strategy.sold_to == mallorys.accept.digest


@pytest.mark.req("NEG-020", "ESC-013")
@pytest.mark.parametrize("answer", ["none", "reject"])
def test_an_exclusive_key_is_offered_again_once_the_escrow_was_asked_after_the_cutoff(answer: str) -> None:
    """No hidden Accept: Bob's offer of the car goes unanswered (or its Reject is not shown). Past the
    cutoff the key stays held until Bob asks E1 (ESC-013), which reveals nothing -- after the cutoff none
    can come -- or takes the Reject; the car is then offered at E2."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    if answer == "reject":
        m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    m.clock.now_ms = offer.header.expires_at_ms + 60_001
    with pytest.raises(CoopError):
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    assert ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id)) == []
    assert m.b.propose(carol.did, _car(m, e2.did, bond=100)).body == "offer"


@pytest.mark.req("NEG-020")
def test_an_exclusive_key_nobody_asked_about_is_free_once_no_claim_can_come() -> None:
    """Nobody asks E1 (a bare Peer): the key stays held until a contract of the offer could no longer be
    claimed under (its last deadline + the claim window), then frees itself."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    last = max(i.deadline_ms for i in (*offer.statement.offer.gives, *offer.statement.offer.wants))
    m.clock.now_ms = last + CLAIM_WINDOW_MS
    with pytest.raises(CoopError):
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    m.clock.now_ms += 1
    assert m.b.propose(carol.did, _car(m, e2.did, bond=100)).body == "offer"


@pytest.mark.req("NEG-020", "NEG-009")
@pytest.mark.parametrize("first", ["outstanding", "contract"])
def test_an_exclusive_key_that_may_bind_at_one_escrow_is_not_offered_at_another(first: str) -> None:
    """Bob's car is in a bonded offer at E1 still outstanding (Mallory may hold an Accept of it E1
    witnessed), or in a live contract of his: an offer of it naming E2 could be accepted at E2 alone and
    bind him there whatever NEG-009 says in his view (NEG-019). Refused; an offer naming no escrow only
    while the one at E1 may still bind (a contract he holds keeps the key by NEG-009 in his own view)."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100))
    if first == "contract":
        m.b.on_replies([*m.mallory.setup, m.mallory.accept(offer).envelope])
        m.b.hold(m.escrow.submit(contract_evidence(m.b, m.b.negotiation(offer.negotiation_id))))
    for escrow, refused in ((e2.did, True), ("", first == "outstanding")):
        try:
            m.b.propose(carol.did, _car(m, escrow, bond=100 if escrow else 0))
        except CoopError as exc:
            assert refused and exc.code == "EXCLUSIVE_CONFLICT"
        else:
            assert not refused


@pytest.mark.req("NEG-020")
def test_offers_of_one_exclusive_key_naming_no_escrow_may_still_run_side_by_side() -> None:
    """Without an escrow nothing can bind Bob behind his back: NEG-009 in his own view refuses the second
    Accept. Several live offers of one key stay signable, as before (SPEC 8.6)."""
    m, _, carol, _ = _car_market()
    m.b.propose(m.mallory.did, _car(m, "", bond=0))
    assert m.b.propose(carol.did, _car(m, "", bond=0)).body == "offer"


@pytest.mark.req("NEG-020")
def test_a_restart_keeps_the_exclusive_key_held(tmp_path: Path) -> None:
    """Bob, journaled, is answered with a Reject beside a hidden Accept and restarts before showing E1
    the Reject: the key stays held after the restart (rebuilt from the journal), as the value does."""
    m, e2, carol, _ = _car_market()
    m.b = make_peer(
        m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], journal=Journal.open(tmp_path / "b.db")
    )
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100))
    m.hide_accept(offer)
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    m.b.journal.close()  # type: ignore[union-attr]
    with Journal.open(tmp_path / "b.db") as journal:
        again = _restarted(m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], journal=journal)
        with pytest.raises(CoopError) as refused:
            again.propose(carol.did, _car(m, e2.did, bond=100))
        assert refused.value.code == "EXCLUSIVE_CONFLICT"


def _any_witnessed_accept(self: Negotiation, accept: VerifiedStatement, ref: bytes) -> bool:
    """An escrow that counts the Stamp it is giving an Accept as witnessing it (SPEC 8.9: it must not)
    takes an Accept of an offer after another answer it took (test_conformance_escrow's fault)."""
    offer = next((o for o in self.offers if o.digest == ref), None)
    if offer is None or self.contract is not None:
        return False
    return self._stamps(proposal_of(offer).terms.escrow, accept.digest) is not None


@pytest.mark.req("AUD-003", "ESC-014")
@pytest.mark.parametrize("honest", [True, False], ids=["honest", "faulty"])
@pytest.mark.parametrize("order", ["reject-first", "accept-first"])
def test_the_audit_names_an_escrow_that_took_two_answers_to_one_offer(
    order: str, honest: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An escrow that stamps two answers to one offer -- a Reject and then an Accept, or an Accept and
    then the Reject it supersedes -- lets the acceptor choose again which one binds (ESC-014). The audit
    showed it only as the second answer refused in the auditor's view (ILLEGAL_TRANSITION) and what
    followed from it; it now has a finding of its own, ANSWER_TAKEN_TWICE, naming both answers, the
    second first. An honest escrow, shown the same two answers, takes one: no such finding."""
    m = Market()
    offer = m.b.propose(m.mallory.did, m.proposal())
    accept, reject = m.mallory.accept(offer), m.mallory.reject(offer, "no")
    first, second = (reject, accept) if order == "reject-first" else (accept, reject)
    m.escrow.submit([*m.mallory.setup, *m.bob.setup, offer.envelope, first.envelope])
    if not honest and order == "reject-first":
        monkeypatch.setattr(Negotiation, "_takes_precedence", _any_witnessed_accept)
    elif not honest:  # it stamps the Reject beside the Accept it witnessed
        monkeypatch.setattr(m.escrow.escrow, "_superseded_by", lambda vs, cut_off: None)
        monkeypatch.setattr(Negotiation, "_answers_superseded", lambda self, vs, ref, **kw: True)
    with contextlib.suppress(CoopError):  # an honest escrow refuses the Accept (or skips the Reject)
        m.escrow.submit([second.envelope])
    monkeypatch.undo()
    transcript = m.escrow.escrow.transcript()
    assert (second.envelope in transcript) is not honest
    twice = [f.digests for f in audit_ledger(transcript).findings if f.code == "ANSWER_TAKEN_TWICE"]
    assert twice == ([] if honest else [(second.digest, first.digest)])


@pytest.mark.req("MND-010", "NEG-017", "ESC-013")
@pytest.mark.parametrize("answer", ["reject", "none"])
def test_a_bonded_offers_value_stays_counted_past_the_cutoff_until_the_escrow_is_asked(answer: str) -> None:
    """Bob's cap is 10 000; he offers Mallory 6 000, bonded at E1. She shows E1 an Accept of it and answers
    Bob with a Reject (or nothing); E1 is down when Bob's run asks. Before, his guard freed the offer's
    value once the bonding cutoff passed (expires + 30 s) -- but the Accept E1 stamped before the cutoff
    binds however late it is revealed: Bob offered Carol 6 000 more, and asking E1 again then bound him
    past his principal's cap. Now the value stays counted past the cutoff until E1, asked after it, has
    answered (ESC-013), as the exclusive_key does (NEG-020)."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate])
    mallorys = AnswersTwice(m, "reject") if answer == "reject" else AcksOnly(m, hide=True)
    offer = m.b.propose(m.mallory.did, _big(m), ttl_ms=60_000)
    with pytest.raises(TransportError):
        carry_trade(m.b, mallorys, offer, escrow=DownOnce(m.escrow))  # type: ignore[arg-type]
    assert mallorys.accept is not None
    m.clock.now_ms = offer.header.expires_at_ms + 30_001
    with pytest.raises(CoopError) as refused:
        m.b.propose(Party("carol", m.clock).did, _big(m))
    assert refused.value.code == "MANDATE_VIOLATION"
    m.clock.now_ms = offer.header.expires_at_ms + 60_001
    ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == mallorys.accept.digest
    assert m.b.verifier.exposure.exposure(offer.mandate_digest).outstanding(m.clock.now_ms) <= 10_000


@pytest.mark.req("MND-010", "ESC-013")
def test_a_served_peers_unanswered_bonded_counter_is_freed_by_its_ask_past_the_cutoff(tmp_path: Path) -> None:
    """No hidden Accept: served Bob's bonded Counter goes unanswered. Its value counts past the bonding
    cutoff, until the watch the node set for then (expires + 60 s) asks the escrow, which reveals
    nothing: then it is free (not a day later), and that ask sets no other."""
    m = Market()
    node = _open_countering_bob(m, tmp_path)
    try:
        opening, answers = m.mallory_opens(node)
        counter = next(vs for vs in answers if vs.body == "counter")
        exposure = node.peer.verifier.exposure.exposure(counter.mandate_digest)
        m.clock.now_ms = counter.header.expires_at_ms + 60_000
        assert exposure.outstanding(m.clock.now_ms) >= proposal_of(counter).gives[0].value
        assert node.ask_about_offer(opening.negotiation_id)
        assert node.peer.negotiation(opening.negotiation_id).contract is None
        assert exposure.outstanding(m.clock.now_ms) == 0
        # Asked at the check time itself: not asked again (a clock standing still would ask forever).
        assert opening.negotiation_id not in node._exposed_watches
    finally:
        node.close()


@pytest.mark.req("MND-010", "MND-011", "TIM-006")
def test_a_chain_dated_ahead_does_not_shorten_the_guards_grace() -> None:
    """Bob's cap is 10 000; he offers Mallory 6 000 (no escrow), expiring at X. An Accept issued at X may
    reach him up to the skew later and is still taken (TIM-006), so his guard counts the offer until
    X + skew -- measured from the time of the statement it checks. Mallory's other key sends Bob, 5 s after
    X, an Offer dated 29 s ahead (within the skew); his answer to it is dated as far ahead (NEG-014), and
    so is everything he signs next (CHN-005). Before, his guard then judged his offer of 6 000 to Carol at
    X + 34 s and let it through; Mallory's Accept, issued at X, arrived a second later and bound him past
    his cap. Now the grace also covers how far the statement is dated ahead of the guard's clock."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate])
    big = _big(m)
    big.terms.escrow, big.terms.issuer_bond, big.terms.audience_bond = "", 0, 0
    offer = m.b.propose(m.mallory.did, big, ttl_ms=60_000)
    accept = m.mallory.accept(offer, issued_at_ms=offer.header.expires_at_ms)
    m.clock.now_ms = offer.header.expires_at_ms + 5_000
    dave = Party("dave", m.clock)
    ahead = dave.offer(m.bob, dave.proposal(), issued_at_ms=m.clock.now_ms + 29_000)
    m.b.exchange(ahead.envelope, dave.setup)  # answered, dated 29 s ahead
    with pytest.raises(CoopError) as refused:
        m.b.propose(Party("carol", m.clock).did, big)
    assert refused.value.code == "MANDATE_VIOLATION"
    m.clock.now_ms += 1_000
    m.b.on_replies([*m.mallory.setup, accept.envelope])
    assert m.b.negotiation(offer.negotiation_id).contract is not None
    assert m.b.verifier.exposure.exposure(offer.mandate_digest).outstanding(m.clock.now_ms) <= 10_000


@pytest.mark.req("NEG-020", "TIM-006")
def test_a_chain_dated_ahead_does_not_free_an_exclusive_key_early() -> None:
    """The same for the key: Bob's offer of the car naming no escrow may still be accepted until its
    expiry plus the skew, by his clock; with his chain pushed 29 s ahead his guard still refuses to offer
    the car at E2 5 s after that expiry."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, "", bond=0), ttl_ms=60_000)
    m.clock.now_ms = offer.header.expires_at_ms + 5_000
    dave = Party("dave", m.clock)
    m.b.exchange(
        dave.offer(m.bob, dave.proposal(), issued_at_ms=m.clock.now_ms + 29_000).envelope, dave.setup
    )
    with pytest.raises(CoopError) as refused:
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    assert refused.value.code == "EXCLUSIVE_CONFLICT"


@pytest.mark.req("AUD-003", "ESC-014", "NEG-017")
def test_the_audit_does_not_blame_an_escrow_for_answers_to_an_offer_naming_another() -> None:
    """Mallory's Counter C of Bob's offer names E2. E1 (Bob's offer's escrow) is shown Bob's Counter D of
    C, and later Bob's Accept of C with E2's Stamp of it: witnessed by C's own escrow, that Accept takes
    precedence over D in every view (NEG-017), E1's included, so E1 takes it. E1 took two answers to C,
    but C's escrow is E2, whose order decides (ESC-014 is about offers naming the escrow): no finding."""
    m = Market()
    e2 = LocalEscrow(Party("escrow-2", m.clock), funds={m.mallory.did: FUNDS, m.bob.did: FUNDS})
    bob, mallory = m.bob, m.mallory
    offer = bob.offer(mallory, m.proposal())
    theirs = trade_pb2.Offer(gives=proposal_of(offer).wants, wants=proposal_of(offer).gives)
    theirs.terms.CopyFrom(proposal_of(offer).terms)
    theirs.terms.escrow = e2.did
    counter = mallory.counter(offer, theirs)
    again = trade_pb2.Offer()
    again.CopyFrom(proposal_of(offer))
    again.wants[0].value = 400
    recounter = bob.counter(counter, again)
    accept = bob.accept(counter)
    setup = [*mallory.setup, *bob.setup]
    m.escrow.submit([*setup, offer.envelope, counter.envelope, recounter.envelope])
    witnessed = e2.submit([*setup, offer.envelope, counter.envelope, accept.envelope])
    stamps = [e for e in witnessed if verify_statement(e).body == "stamp"]
    m.escrow.submit([*e2.party.setup, *stamps, accept.envelope])
    transcript = m.escrow.escrow.transcript()
    assert accept.envelope in transcript and recounter.envelope in transcript
    assert [f for f in audit_ledger(transcript).findings if f.code == "ANSWER_TAKEN_TWICE"] == []


@pytest.mark.req("NEG-020", "MND-010")
def test_only_the_escrow_an_offer_names_frees_it_past_the_cutoff() -> None:
    """An answer from E1 says nothing of what E2 witnessed: Bob's offer of the car bonded at E2 stays held
    (its value and its key) after his runtime asked E1 about that negotiation, until E2 is asked."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, e2.did, bond=100), ttl_ms=60_000)
    exposure = m.b.verifier.exposure.exposure(offer.mandate_digest)
    m.clock.now_ms = offer.header.expires_at_ms + 60_000
    word = {offer.digest: m.clock.now_ms}  # a Checkpoint naming it past its cutoff (ESC-013 (i))
    m.b.asked_escrow(offer.negotiation_id, m.escrow.did, vouched=word)
    assert exposure.outstanding(m.clock.now_ms) > 0
    with pytest.raises(CoopError):
        m.b.propose(carol.did, _car(m, m.escrow.did, bond=100))
    m.b.asked_escrow(offer.negotiation_id, e2.did, vouched=word)
    assert exposure.outstanding(m.clock.now_ms) == 0
    assert m.b.propose(carol.did, _car(m, m.escrow.did, bond=100)).body == "offer"


@pytest.mark.req("ESC-013", "NEG-017")
def test_a_node_restarted_after_the_check_time_still_asks_about_its_unanswered_bonded_counter(
    tmp_path: Path,
) -> None:
    """Served Bob's bonded Counter goes unanswered; Mallory shows the escrow an Accept of it alone. The
    node's watch for past the cutoff (expires + 60 s) died with the process, which was down then. Before,
    the restarted node took a check time already past as "asked past the cutoff already" and never asked:
    Bob never learnt of the witnessed contract, and her claim took his bond. Now it asks at once."""
    m = Market()
    node = _open_countering_bob(m, tmp_path)
    try:
        opening, counter, accept = _countered_and_hidden(m, node)
    finally:
        node.close()
    m.clock.now_ms = counter.header.expires_at_ms + 90_000  # back up after the check time
    _restarted_bob_performs(m, tmp_path, opening, accept)


@pytest.mark.req("MND-010", "NEG-020", "ESC-013")
def test_what_the_escrow_answered_past_the_cutoff_is_kept_across_a_restart(tmp_path: Path) -> None:
    """Liveness of the holding: Bob's bonded offer of 6 000 (and of the car) went unanswered, and his run
    asked the escrow past the cutoff, which revealed nothing: freed. A restart rebuilds the holding from
    the journal, where nothing says the escrow was asked; it must not hold the value and the key again
    until the offer's last deadline plus the claim window."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=Journal.open(tmp_path / "b.db"))
    big = _big(m)
    big.exclusive_key = CAR
    offer = m.b.propose(m.mallory.did, big, ttl_ms=60_000)
    m.clock.now_ms = offer.header.expires_at_ms + 60_000
    assert ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id)) == []
    m.b.journal.close()  # type: ignore[union-attr]
    with Journal.open(tmp_path / "b.db") as journal:
        again = _restarted(m.bob, m.clock, context=[m.escrow.mandate], journal=journal)
        assert again.verifier.exposure.exposure(offer.mandate_digest).outstanding(m.clock.now_ms) == 0
        assert again.propose(Party("carol", m.clock).did, big).body == "offer"


@dataclass
class CountersUnbonded(HonestStrategy):
    """Bob's strategy as a served node: it answers an offer with a Counter of its own naming ``escrow``
    as arbiter of claims only (no bond), and accepts a Counter of that."""

    escrow: str = ""

    def respond(self, offer: OfferView) -> Reply:
        if offer.round > 1:
            return StrategyAccept()
        mine = trade_pb2.Offer(gives=offer.proposal.wants, wants=offer.proposal.gives)  # his side
        mine.terms.currency, mine.terms.escrow = offer.proposal.terms.currency, self.escrow
        return StrategyCounter(mine)


@pytest.mark.req("NEG-017", "ESC-013")
def test_a_served_peers_unbonded_counter_accepted_beside_a_hidden_accept_is_performed(tmp_path: Path) -> None:
    """The served form of the closed xfail: Bob's node answers Mallory with an unbonded Counter naming
    its escrow; she shows the escrow an Accept of it alone and answers Bob with a Counter naming no
    escrow, which his strategy accepts and performs at once. Nothing asked the escrow about an unbonded
    offer, and her claim under the witnessed contract ended BREACHED. Now the node shows the escrow that
    line too (through its witness) and performs the contract it reveals."""
    m = Market()
    node = m.bob_node(tmp_path, CountersUnbonded(escrow=m.escrow.did))
    try:
        mallory = m.mallory
        opening, answers = m.mallory_opens(node)
        bobs = next(vs for vs in answers if vs.body == "counter")
        accept = mallory.accept(bobs)
        m.escrow.submit([*mallory.setup, *m.bob.setup, opening.envelope, bobs.envelope, accept.envelope])
        theirs = trade_pb2.Offer(gives=proposal_of(bobs).wants, wants=proposal_of(bobs).gives)
        theirs.terms.currency = proposal_of(bobs).terms.currency
        node.exchange(mallory.counter(bobs, theirs).envelope, mallory.setup)
        neg = m.witnessed_contract(node, opening.negotiation_id, accept)
        assert m.mallory_claims(neg.id, accept.digest) is not State.BREACHED
    finally:
        node.close()
