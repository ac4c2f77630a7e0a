"""The peer core: strategies propose, the policy guard decides what is signed (MND-011).

Two in-process peers talk through direct calls here; the multi-process gRPC
tests live in tests/test_processes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.envelope import Envelope, ParsedEnvelope, parse_envelope
from a2a_coop.protocol.errors import MandateViolation, SignatureInvalid
from a2a_coop.protocol.mandate import side_value
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime import peer as peer_module
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.perform_time import TooLittleTimeToPerform
from a2a_coop.runtime.strategy import (
    Accept,
    ContractView,
    Counter,
    Deliver,
    DeliveryView,
    OfferView,
    Reject,
    Reply,
)
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.mark.req("MND-011", "NEG-011")
def test_two_honest_peers_complete_a_trade(clock: FixedClock) -> None:
    """Alice offers a code review for copy editing; Bob's honest strategy accepts; both deliver and
    receipt; expect FULFILLED on both sides from the same statements."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    pa, pb = make_peer(alice, clock), make_peer(bob, clock)
    offer = pa.propose(pb.did, alice.proposal())
    sent = drive(pa, pb.exchange, offer)
    assert [s.body for s in sent] == ["offer", "delivery", "receipt"]
    nid = offer.header.negotiation_id
    assert pa.negotiation(nid).state is State.FULFILLED
    assert pb.negotiation(nid).state is State.FULFILLED
    assert pa.status()["outstanding_value"] == 0


@pytest.mark.req("MND-004", "MND-011")
def test_guard_refuses_an_offer_over_the_per_deal_cap_before_signing(clock: FixedClock) -> None:
    """Alice's deciding layer proposes a deal worth more than her mandate allows; expect
    MANDATE_VIOLATION and no statement signed (her chain does not advance)."""
    alice, bob = Party("alice", clock, {"max_per_deal": 400}), Party("bob", clock)
    pa = make_peer(alice, clock)
    with pytest.raises(MandateViolation) as info:
        pa.propose(bob.did, alice.proposal())  # gives a 500-credit code review
    assert info.value.requirement == "MND-004"
    assert pa.writer.next_seq == 0


@dataclass
class GreedyCounter:
    """A deciding layer that always counters, asking for far more than its mandate allows."""

    ask: int = 9_000

    def respond(self, offer: OfferView) -> Reply:
        gives = [service("copy-editing", value=self.ask, deadline_ms=offer.expires_at_ms + DAY_MS)]
        proposal = trade_pb2.Offer(gives=gives, wants=list(offer.proposal.gives), terms=offer.proposal.terms)
        return Counter(proposal)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        return []

    def rate(self, delivery: DeliveryView) -> int | None:
        return None


@pytest.mark.req("MND-011", "MND-004")
def test_guard_turns_a_strategy_counter_outside_the_mandate_into_a_reject(clock: FixedClock) -> None:
    """Bob's strategy counters with a 9000-credit item while his max_per_deal is 1000; expect the guard
    to refuse the counter, Bob to answer with a Reject naming the code, and the refusal kept locally."""
    alice, bob = Party("alice", clock), Party("bob", clock, {"max_per_deal": 1000})
    pa, pb = make_peer(alice, clock), make_peer(bob, clock, strategy=GreedyCounter())
    offer = pa.propose(pb.did, alice.proposal())
    answers = pb.exchange(offer.envelope, pa.send_context())
    pa.on_replies(answers)
    nid = offer.header.negotiation_id
    assert pb.negotiation(nid).state is State.REJECTED
    assert pa.negotiation(nid).state is State.REJECTED
    assert [e.code for e in pb.guard_refusals] == ["MANDATE_VIOLATION"]
    reject = next(vs for vs in pa.verifier.statements.values() if vs.body == "reject")
    assert "MANDATE_VIOLATION" in reject.statement.reject.reason


@pytest.mark.req("RPL-002")
def test_replayed_request_is_refused_without_a_second_answer(clock: FixedClock) -> None:
    """Alice's offer reaches Bob twice (no journal, so no stored answer to repeat); expect REPLAYED the
    second time and exactly one Accept signed by Bob."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    pa, pb = make_peer(alice, clock), make_peer(bob, clock)
    offer = pa.propose(pb.did, alice.proposal())
    pb.exchange(offer.envelope, pa.send_context())
    seq = pb.writer.next_seq
    with pytest.raises(Exception) as info:
        pb.exchange(offer.envelope, pa.send_context())
    assert getattr(info.value, "code", "") == "REPLAYED"
    assert pb.writer.next_seq == seq


@dataclass
class RandomStrategy:
    """Hypothesis-driven deciding layer: accepts, rejects or counters with arbitrary values."""

    choices: list[tuple[int, int, str]]
    peer_dids: list[str]
    index: int = 0
    proposals: list[trade_pb2.Offer] = field(default_factory=list)

    def respond(self, offer: OfferView) -> Reply:
        kind, value, category = self.choices[self.index % len(self.choices)]
        self.index += 1
        if kind == 0:
            return Accept()
        if kind == 1:
            return Reject("no")
        deadline = offer.expires_at_ms + DAY_MS
        proposal = trade_pb2.Offer(
            gives=[service(category, value=value, deadline_ms=deadline)],
            wants=list(offer.proposal.gives),
            terms=offer.proposal.terms,
        )
        return Counter(proposal)

    def perform(self, contract: ContractView) -> Sequence[Deliver]:
        return [Deliver(i) for i in range(len(contract.my_items)) if i not in contract.delivered_by_me]

    def rate(self, delivery: DeliveryView) -> int | None:
        return 50


@pytest.mark.req("MND-011", "MND-004", "MND-006", "MND-010")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    choices=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3_000), st.sampled_from(["copy-editing", "gambling"])),
        min_size=1,
        max_size=6,
    ),
    offers=st.lists(st.integers(0, 3_000), min_size=1, max_size=5),
)
def test_no_strategy_gets_a_statement_outside_its_mandate_signed(
    choices: list[tuple[int, int, str]], offers: list[int]
) -> None:
    """Whatever Bob's deciding layer proposes (accept, reject, counters of any value and category),
    every statement Bob signs stays inside his mandate: per-deal cap, categories and ratchet cap."""
    clock = FixedClock()
    caps = {
        "max_per_deal": 1_500,
        "max_outstanding": 2_000,
        "allowed_categories": ["code-review", "copy-editing"],
    }
    alice, bob = Party("alice", clock), Party("bob", clock, caps)
    pa = make_peer(alice, clock)
    pb = make_peer(bob, clock, strategy=RandomStrategy(choices, [alice.did]))
    for value in offers:
        deadline = clock.now_ms + DAY_MS
        proposal = alice.proposal(
            gives=[service("code-review", value=value, deadline_ms=deadline)],
            wants=[service("copy-editing", value=value // 2, deadline_ms=deadline)],
        )
        try:
            offer = pa.propose(pb.did, proposal)
        except MandateViolation:
            continue
        drive(pa, pb.exchange, offer)
        clock.advance(1_000)
    mandate: identity_pb2.Mandate = pb.mandate_vs.statement.mandate
    for vs in pb.verifier.statements.values():
        if vs.issuer != pb.did:
            continue
        proposal_msg = None
        if vs.body == "counter":
            proposal_msg, own_side = vs.statement.counter.proposal, True
        elif vs.body == "accept":
            accepted = pb.verifier.statements[vs.statement.accept.offer]
            proposal_msg = (
                accepted.statement.offer if accepted.body == "offer" else accepted.statement.counter.proposal
            )
            own_side = False
        if proposal_msg is None:
            continue
        assert side_value(proposal_msg, own_side) <= mandate.max_per_deal
        assert {i.category for i in [*proposal_msg.gives, *proposal_msg.wants]} <= set(
            mandate.allowed_categories
        )
    exposure = pb.verifier.exposure.exposure(pb.mandate_vs.digest)
    assert exposure.outstanding(clock.now_ms) <= mandate.max_outstanding


@pytest.mark.req("RPC-002", "BDY-013")
def test_exchange_answers_an_offer_with_mandate_then_accept_and_acks_a_receipt(clock: FixedClock) -> None:
    """Alice opens with an offer: expect Bob's mandate first, then his Accept and his Delivery. Alice's
    Receipt then gets exactly one Ack naming it (Bob has nothing else to say)."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    pa, pb = make_peer(alice, clock), make_peer(bob, clock)
    offer = pa.propose(pb.did, alice.proposal())
    answers = pb.exchange(offer.envelope, pa.send_context())
    bodies = [verify_statement(a).body for a in answers]
    assert answers[0] == pb.mandate_vs.envelope
    assert bodies == ["mandate", "accept", "delivery"]
    ours = pa.on_replies(answers)
    receipt = next(vs for vs in ours if vs.body == "receipt")
    delivery = next(vs for vs in ours if vs.body == "delivery")
    pb.exchange(delivery.envelope, pa.send_context())  # Bob receipts Alice's delivery
    ack = pb.exchange(receipt.envelope, pa.send_context())
    assert [verify_statement(a).body for a in ack] == ["ack"]
    assert verify_statement(ack[0]).statement.ack.statement == receipt.digest


def test_on_replies_skips_a_held_statement_before_its_signature_whatever_that_signature(
    clock: FixedClock,
) -> None:
    """Bob's mandate comes with each of his answers: Alice, who holds it, skips it without verifying
    it again -- also when it comes with another (here, a forged) signature, which she neither keeps
    nor acts on. A statement she does not hold with that forged signature is still refused."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    pa, pb = make_peer(alice, clock), make_peer(bob, clock)
    offer = pa.propose(pb.did, alice.proposal())
    answers = pb.exchange(offer.envelope, pa.send_context())
    assert answers[0] == pb.mandate_vs.envelope
    pa.on_replies(answers)
    held = dict(pa.verifier.statements)

    def forged(envelope: bytes) -> bytes:
        env = Envelope.FromString(envelope)
        env.signatures[0].sig = bytes(64)
        return env.SerializeToString(deterministic=True)

    accepted = pa.verifier.accepted
    assert pa.on_replies([forged(pb.mandate_vs.envelope), pb.mandate_vs.envelope]) == []
    assert pa.verifier.accepted == accepted
    assert dict(pa.verifier.statements) == held  # the envelope kept is the one first verified
    assert pa.verifier.statements[pb.mandate_vs.digest].envelope == pb.mandate_vs.envelope
    fresh = pb.propose(pa.did, bob.proposal())
    with pytest.raises(SignatureInvalid):
        pa.on_replies([forged(fresh.envelope)])


@dataclass
class EscrowSwap(GreedyCounter):
    """A deciding layer that counters with the same deal under another escrow."""

    escrow: str = ""

    def respond(self, offer: OfferView) -> Reply:
        proposal = trade_pb2.Offer()
        proposal.CopyFrom(offer.proposal)
        proposal.terms.escrow = self.escrow
        return Counter(proposal)


@pytest.mark.req("MND-011", "MND-015")
def test_peer_signs_no_terms_naming_an_escrow_it_was_not_given(clock: FixedClock) -> None:
    """Bob is configured with the real escrow's mandate only. Proposing under another escrow is a
    caller error (nothing signed); an offer naming one is rejected, saying why, without asking the
    strategy; his strategy's counter naming one becomes such a reject. Under the real escrow he accepts."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    real, other = Party("escrow", clock), Party("other-escrow", clock)
    pa = make_peer(alice, clock, context=[real.mandate_vs.envelope, other.mandate_vs.envelope])
    pb = make_peer(bob, clock, context=[real.mandate_vs.envelope])
    assert pb.trusted_escrows == {real.did}
    with pytest.raises(ValueError, match=f"escrow {other.did} is not trusted"):
        pb.propose(alice.did, bob.proposal(escrow=other.did))
    assert pb.writer.next_seq == 0

    def answer(escrow: str) -> list[str]:
        offer = pa.propose(pb.did, alice.proposal(issuer_bond=10, audience_bond=10, escrow=escrow))
        answers = pb.exchange(offer.envelope, pa.send_context())
        bodies = [verify_statement(a).body for a in answers]
        if bodies[-1] == "reject":
            assert verify_statement(answers[-1]).statement.reject.reason == (
                f"escrow {other.did} is not trusted here (no mandate of it was configured)"
            )
        return bodies

    assert answer(other.did) == ["mandate", "reject"]
    assert answer(real.did) == ["mandate", "accept"]
    pb.strategy = EscrowSwap(escrow=other.did)
    assert answer(real.did) == ["mandate", "reject"]


@pytest.mark.req("MND-011", "MND-015", "NEG-012")
def test_peer_restarted_without_an_escrows_mandate_performs_nothing_under_it(
    clock: FixedClock, tmp_path: Path
) -> None:
    """Bob accepts a bonded contract under an escrow he trusts, then restarts from his journal
    configured without that escrow. When its BondLocks arrive he delivers nothing: he performs only
    against bonds held by an escrow he trusts now."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, bob.did: 1_000})
    pa = make_peer(alice, clock, context=[escrow.mandate])
    with Journal.open(tmp_path / "bob.db") as journal:
        pb = make_peer(bob, clock, context=[escrow.mandate], journal=journal)
        offer = pa.propose(pb.did, alice.proposal(issuer_bond=10, audience_bond=10, escrow=escrow.did))
        pa.on_replies(pb.exchange(offer.envelope, pa.send_context()))
    neg = pa.negotiation(offer.header.negotiation_id)
    _, *locks = escrow.submit(
        [*alice.setup, *bob.setup, neg.contract.offer.envelope, neg.contract.accept.envelope]
    )
    with Journal.open(tmp_path / "bob.db") as journal:
        pb = Peer(bob.agent.key, bob.mandate_vs.envelope, clock=lambda: clock.now_ms, journal=journal)
        pb.hold([escrow.mandate])  # he can still verify the escrow's statements; he does not trust it
        answers = [a for lock in locks for a in pb.exchange(lock, [escrow.mandate])]
    assert pb.negotiation(neg.id).state is State.BONDED
    assert "delivery" not in [verify_statement(a).body for a in answers]
    assert pb.guard_refusals == []  # not refused by the guard: never asked of it


def test_context_held_already_is_recognised_by_its_bytes_and_memory_stays_bounded(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice's mandate rides along with every request. Expect Bob to parse and hash it once, not at
    every exchange; once his memory no longer holds it (rebuilt without it), to take it again through
    the full path (verified and held); and the remembered context never to exceed its bound."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    pa, pb = make_peer(alice, clock), make_peer(bob, clock)
    first = pa.propose(pb.did, alice.proposal())
    answers = pb.exchange(first.envelope, pa.send_context())
    parsed: list[bytes] = []

    def counting(envelope: bytes) -> ParsedEnvelope:
        parsed.append(envelope)
        return parse_envelope(envelope)

    monkeypatch.setattr(peer_module, "parse_envelope", counting)
    delivery = next(vs for vs in pa.on_replies(answers) if vs.body == "delivery")
    pb.exchange(delivery.envelope, pa.send_context())
    assert alice.mandate_vs.envelope not in parsed
    pb.verifier = pb._new_verifier()  # memory without alice's mandate (as after a failed write)
    pb.verifier.accept(bob.mandate_vs.envelope)
    pb.hold(pa.send_context())
    assert alice.mandate_vs.envelope in parsed
    assert dict.__contains__(pb.verifier.statements, alice.mandate_vs.digest)
    for i in range(peer_module.MAX_REMEMBERED_CONTEXT + 5):
        pb._remember_context(i.to_bytes(4, "big"), b"x")
    assert len(pb._context_digests) <= peer_module.MAX_REMEMBERED_CONTEXT


@pytest.mark.req("ESC-010", "MND-011")
def test_guard_signs_no_bonded_terms_that_leave_too_little_time_after_the_bonding_cutoff(
    clock: FixedClock,
) -> None:
    """Bob needs a minute to perform (``min_time_to_perform_ms``). Alice offers for five minutes: the
    bonding cutoff is then 5 min 30 s away, and she may fund her bond as late as that. Bonded terms
    due 6 min from now leave Bob 30 s after it: rejected, saying why. Due 7 min: accepted. The same
    short deadline without a bond (nothing to wait for): accepted. Alice, with the same minimum,
    cannot propose bonded terms that leave her own items 30 s: nothing signed."""
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    context = [escrow.mandate_vs.envelope]
    pa = make_peer(alice, clock, context=context)
    pb = make_peer(bob, clock, context=context, min_time_to_perform_ms=60_000)

    def terms(due_in_ms: int, bond: int) -> trade_pb2.Offer:
        deadline = clock.now_ms + due_in_ms
        return alice.proposal(
            gives=[service("code-review", value=500, deadline_ms=deadline)],
            wants=[service("copy-editing", value=450, deadline_ms=deadline)],
            issuer_bond=bond,
            audience_bond=bond,
            escrow=escrow.did,
        )

    def answer(proposal: trade_pb2.Offer) -> trade_pb2.Reject | str:
        offer = pa.propose(pb.did, proposal, ttl_ms=5 * 60_000)
        answers = [verify_statement(e) for e in pb.exchange(offer.envelope, pa.send_context())]
        reject = next((vs.statement.reject for vs in answers if vs.body == "reject"), None)
        return reject or ("accept" if any(vs.body == "accept" for vs in answers) else "nothing")

    refused = answer(terms(6 * 60_000, bond=10))
    assert isinstance(refused, trade_pb2.Reject)
    assert "policy guard refused our accept" in refused.reason and "bonding cutoff" in refused.reason
    assert answer(terms(7 * 60_000, bond=10)) == "accept"
    assert answer(terms(6 * 60_000, bond=0)) == "accept"
    careful = make_peer(Party("alice", clock), clock, context=context, min_time_to_perform_ms=60_000)
    with pytest.raises(TooLittleTimeToPerform, match="our item 0"):
        careful.propose(bob.did, terms(6 * 60_000, bond=10), ttl_ms=5 * 60_000)
    assert careful.writer.next_seq == 0


def test_the_mandate_opening_each_answer_is_parsed_once_not_per_trade(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice trades with Bob three times; each of Bob's answers to an Offer starts with his mandate,
    which she holds after the first; expect her to parse those bytes once more (to learn she holds
    them), not once per trade, and every trade to complete."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    pa, pb = make_peer(alice, clock), make_peer(bob, clock)
    parsed: list[bytes] = []

    def counting(envelope: bytes) -> ParsedEnvelope:
        parsed.append(envelope)
        return parse_envelope(envelope)

    monkeypatch.setattr(peer_module, "parse_envelope", counting)
    for _ in range(3):
        offer = pa.propose(pb.did, alice.proposal())
        drive(pa, pb.exchange, offer)
        assert pa.negotiation(offer.header.negotiation_id).state is State.FULFILLED
    assert parsed.count(pb.mandate_vs.envelope) == 2  # taken (parsed, verified), then known as held
