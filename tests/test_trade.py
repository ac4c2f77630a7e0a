"""The initiator's flows with an escrow (a2a_coop.runtime.trade), in process on a fixed clock."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import CoopError, Replayed
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Negotiation, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import DeliveryView, HonestStrategy
from a2a_coop.runtime.trade import (
    claim_breach,
    contract_evidence,
    relay_escrow_answers,
    resume_trade,
    settle_with_escrow,
    unfinished,
)
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party

FUNDS, BOND = 1_000, 100


class NoReceipts(HonestStrategy):
    def rate(self, delivery: DeliveryView) -> int | None:
        return None


def _locked(bob_strategy: HonestStrategy) -> tuple[FixedClock, LocalEscrow, Peer, Peer, Negotiation]:
    """Alice offers Bob a bonded trade and has the escrow lock both bonds, relaying its answers (so
    both perform); she does not settle."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    bob = make_peer(bob_party, clock, context=[escrow.mandate], strategy=bob_strategy)
    terms = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    offer = alice.propose(bob.did, terms)
    drive(alice, bob.exchange, offer)
    neg = alice.negotiation(offer.header.negotiation_id)
    relay_escrow_answers(alice, bob, escrow.submit(contract_evidence(alice, neg)))  # type: ignore[arg-type]
    return clock, escrow, alice, bob, neg


@pytest.mark.req("WIT-002", "WIT-003", "WIT-007", "CMT-002")
def test_settle_sends_the_counterpartys_ack_that_witnesses_our_delivery_in_time() -> None:
    """Alice's Delivery reached Bob a day before her deadline; he acked it but never receipted it, and
    the escrow did not see it then (the contract went to the escrow, Alice's settle after the trade
    never did). After the deadline Bob claims she never delivered, and Alice settles: her Delivery is
    stamped late now, but Bob's own Ack goes with it and witnesses it in time (WIT-002), so the
    escrow dismisses the claim."""
    clock, escrow, alice, bob, neg = _locked(NoReceipts())
    held = alice.verifier.statements.values()
    mine = next(vs for vs in held if vs.body == "delivery" and vs.issuer == alice.did)
    assert neg.state is State.PERFORMING and alice.verifier.ack_of(bob.did, mine.digest) is not None
    clock.advance(DAY_MS + 60_000)
    claim = claim_breach(bob, bob.negotiation(neg.id), 0, "alice never delivered (a lie)")
    stamped = escrow.submit([claim.envelope])
    alice.hold(stamped[:1])
    alice.exchange(claim.envelope, stamped[1:])
    settle_with_escrow(alice, bob, escrow, neg)  # type: ignore[arg-type]
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    ruling = verify_statement(escrow.tick()[0]).statement.ruling
    assert (ruling.decision, ruling.evidence) == (commitment_pb2.RULING_DECISION_DISMISS, mine.digest)


def test_settle_sends_nothing_the_escrow_stamped_or_signed() -> None:
    """Once the escrow stamped every statement of a trade (and signed its locks and releases),
    settling again sends it nothing: the Stamps Alice holds say it has it all."""
    _, escrow, alice, bob, neg = _locked(HonestStrategy())
    settled = settle_with_escrow(alice, bob, escrow, neg)  # type: ignore[arg-type]
    assert [verify_statement(e).body for e in settled] == ["stamp", "release", "release"]
    sent: list[list[bytes]] = []
    submit = escrow.submit
    escrow.submit = lambda envelopes: sent.append(list(envelopes)) or submit(envelopes)  # type: ignore[method-assign]
    assert settle_with_escrow(alice, bob, escrow, neg) == []  # type: ignore[arg-type]
    assert sent == [[]] and neg.state is State.FULFILLED


class CountingBob:
    """Bob's ``exchange`` as a counterparty, counting the Exchanges and the context each carried; with
    ``refuse_batches``, it refuses a relay of several of the escrow's statements REPLAYED, as a peer
    does when one of them is held only in its journal."""

    def __init__(self, bob: Peer, *, refuse_batches: bool = False) -> None:
        self.bob, self.refuse_batches = bob, refuse_batches
        self.contexts: list[int] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        self.contexts.append(len(context))
        if self.refuse_batches and len(context) > 2:  # more than the two mandates Alice's own carry
            raise Replayed("one of these is held in the journal only")
        return self.bob.exchange(envelope, context)


def _bonded_offer(tmp_path: Path) -> tuple[LocalEscrow, Peer, Peer, Journal, Negotiation]:
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    journal = Journal.open(tmp_path / "bob.db")
    bob = make_peer(bob_party, clock, context=[escrow.mandate], journal=journal)
    offer = alice.propose(
        bob.did, alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    )
    drive(alice, bob.exchange, offer)
    return escrow, alice, bob, journal, alice.negotiation(offer.header.negotiation_id)


def test_an_escrow_answer_is_relayed_in_one_exchange_and_one_commit(tmp_path: Path) -> None:
    """The escrow answers the contract with a Stamp and two BondLocks: Alice relays them in ONE
    Exchange, the last as the request and the others before it as context (SPEC 13.2); Bob takes all
    three, answers with his Delivery as he would to the last lock alone, and journals them with the
    request in one transaction, durably: reopened, his journal holds every one."""
    escrow, alice, bob, journal, neg = _bonded_offer(tmp_path)
    answer = escrow.submit(contract_evidence(alice, neg))
    assert [verify_statement(e).body for e in answer[1:]] == ["stamp", "bond_lock", "bond_lock"]
    transactions: list[int] = []
    run = journal._transaction
    journal._transaction = lambda fn: transactions.append(1) or run(fn)  # type: ignore[method-assign]
    counterparty = CountingBob(bob)
    relay_escrow_answers(alice, counterparty, answer)  # type: ignore[arg-type]
    # The relay, then Alice's Delivery and her Receipt of Bob's, each its own Exchange.
    assert counterparty.contexts[0] == 3  # the escrow's Mandate, the Stamp and the first lock
    assert counterparty.contexts[1:] == [2, 2]
    assert neg.state is State.FULFILLED and bob.negotiation(neg.id).state is State.FULFILLED
    assert len(transactions) == 3  # one per Exchange: the context went with its request
    journal.close()
    with Journal.open(tmp_path / "bob.db", lock=False) as reopened:
        for env in answer[1:]:
            assert reopened.by_digest(verify_statement(env).digest) == env


def test_a_relay_the_counterparty_refuses_as_a_batch_goes_one_statement_at_a_time(tmp_path: Path) -> None:
    """A counterparty that refuses the batch REPLAYED (it holds one of them only in its journal) gets
    the escrow's statements one Exchange each, as before, and the trade carries on."""
    escrow, alice, bob, _, neg = _bonded_offer(tmp_path)
    counterparty = CountingBob(bob, refuse_batches=True)
    relay_escrow_answers(alice, counterparty, escrow.submit(contract_evidence(alice, neg)))  # type: ignore[arg-type]
    assert counterparty.contexts[:4] == [3, 1, 1, 1]
    assert neg.state is State.FULFILLED and bob.negotiation(neg.id).state is State.FULFILLED


@pytest.mark.req("RPC-015", "ERR-003")
def test_context_of_a_refused_request_is_neither_held_nor_journaled(tmp_path: Path) -> None:
    """The Mandate Bob was handed for a request he then refuses (here on its freshness) is held only
    provisionally and dropped with the refusal: neither in his memory nor, reopened, in his journal
    (memory and journal agree, as when context was taken and journaled all the same). Context the
    request does not depend on (a Stamp of another negotiation) is not taken at all (RPC-015)."""
    escrow, alice, bob, journal, neg = _bonded_offer(tmp_path)
    stamp = escrow.submit(contract_evidence(alice, neg))[1]
    stale = FixedClock()
    stale.advance(-10 * DAY_MS)
    carol = Party("carol", stale)
    offer = carol.offer(Party("bob", FixedClock()))  # ten days old: refused on its freshness
    with pytest.raises(CoopError) as refused:
        bob.exchange(offer.envelope, [carol.mandate_vs.envelope, stamp])
    assert refused.value.code == "EXPIRED"
    assert carol.mandate_vs.digest not in bob.verifier.statements
    journal.close()
    with Journal.open(tmp_path / "bob.db", lock=False) as reopened:
        assert reopened.by_digest(carol.mandate_vs.digest) is None
        assert reopened.by_digest(verify_statement(stamp).digest) is None
        assert reopened.by_digest(offer.digest) is None


@pytest.mark.req("RPC-004", "ESC-007")
def test_resume_settles_a_contract_that_formed_during_the_resume() -> None:
    """Alice's client signed (and journaled) a bonded Offer and was killed before Bob took it. Resuming
    sends it again, Bob accepts, and the contract forms during the resume: expect the resume to take it
    to the escrow too and finish the trade (FULFILLED, both bonds released). It once settled only a
    contract it held before it started, so this trade stopped in ACCEPTED and needed a second resume."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    bob = make_peer(bob_party, clock, context=[escrow.mandate])
    terms = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    offer = alice.propose(bob.did, terms)  # signed; the process died before sending it
    neg = alice.negotiation(offer.header.negotiation_id)
    assert neg.contract is None
    resume_trade(alice, bob, neg, escrow=escrow)  # type: ignore[arg-type]
    assert (neg.state, unfinished(neg)) == (State.FULFILLED, "")
    assert escrow.get_balance(alice.did)[:2] == (FUNDS, 0)


class LosesReceipts:
    """Bob's ``exchange`` as a counterparty, on a link that goes down for every Receipt of Alice's: she
    signed (and journaled) it, and it never reached him."""

    def __init__(self, bob: Peer) -> None:
        self.bob = bob

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        if verify_statement(envelope).body == "receipt":
            raise ConnectionError("the link went down")
        return self.bob.exchange(envelope, context)


@pytest.mark.req("TIM-006", "RPC-004")
def test_resume_settles_with_the_escrow_what_the_counterparty_refuses_as_dated_back() -> None:
    """Alice's Receipt of Bob's Delivery never reached him (her process died), and the escrow, down
    then, never stamped it. Resumed more than the skew later, Bob refuses it ISSUED_IN_PAST (TIM-006),
    and always will. The escrow verifies evidence offline (TIM-005): expect the resume to settle with it
    all the same -- her Receipt stamped, both bonds released, the trade finished -- and the refusal
    still raised to the caller. It once raised at the refusal, the escrow never saw her Receipt, and
    every later resume stopped there: both bonds locked for good."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    bob = make_peer(bob_party, clock, context=[escrow.mandate])
    terms = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    offer = alice.propose(bob.did, terms)
    drive(alice, bob.exchange, offer)
    neg = alice.negotiation(offer.header.negotiation_id)
    with pytest.raises(ConnectionError):
        relay_escrow_answers(alice, LosesReceipts(bob), escrow.submit(contract_evidence(alice, neg)))  # type: ignore[arg-type]
    assert any(vs.body == "receipt" and vs.issuer == alice.did for vs in alice.verifier.statements.values())
    clock.advance(31_000)
    with pytest.raises(CoopError) as refused:
        resume_trade(alice, bob, neg, escrow=escrow)  # type: ignore[arg-type]
    assert refused.value.code == "ISSUED_IN_PAST"
    assert unfinished(neg) == ""
    assert [escrow.get_balance(p.did)[:2] for p in (alice, bob)] == [(FUNDS, 0), (FUNDS, 0)]


class _Gone:
    """Alice's address as Bob reaches it after her process died: nothing answers."""

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        raise ConnectionError("nothing answers")


class _ServedBob:
    """Bob as a served node reaches Alice: a Delivery it signed on its own (its witness fetched the
    locks, ESC-009) and could send to nobody goes with its answer to her next request in that
    negotiation (PeerNode._with_unsent)."""

    def __init__(self, bob: Peer, unsent: list[bytes]) -> None:
        self.bob, self.unsent = bob, unsent

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        answers = self.bob.exchange(envelope, context)
        unsent, self.unsent = self.unsent, []
        return [*unsent, *answers]


@pytest.mark.req("TIM-006", "WIT-002")
def test_resume_takes_a_delivery_the_escrow_witnessed_in_time_however_late_it_reaches_us() -> None:
    """Alice's `offer` was stopped (Ctrl-C, a crash) after Bob accepted and before his Delivery reached
    her; Bob's node delivered on its own, through the escrow, which stamped it then. Resumed more than
    the skew later, Bob answers her first request with that Delivery, and her own verifier refused it
    ISSUED_IN_PAST (TIM-006: "not witnessed then") -- she held no Stamp of it: the resume raised before
    it asked the escrow anything, and every later one stopped there, both bonds locked. Expect the
    resume to ask the escrow for its Stamp of it (WIT-006) and the trade to finish: FULFILLED, both
    bonds released."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    bob = make_peer(bob_party, clock, context=[escrow.mandate])
    terms = alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    offer = alice.propose(bob.did, terms)
    alice.on_replies(bob.exchange(offer.envelope, alice.send_context()))  # Bob's Accept: ACCEPTED
    neg = alice.negotiation(offer.header.negotiation_id)
    # Bob's node submits the contract itself (ESC-009); the locks make his Delivery due, which goes to
    # the escrow first (WIT-007), then to Alice, who is gone.
    with pytest.raises(ConnectionError):
        relay_escrow_answers(
            bob, _Gone(), escrow.submit(contract_evidence(bob, bob.negotiation(neg.id))), escrow=escrow
        )  # type: ignore[arg-type]
    delivery = next(vs for vs in bob.verifier.statements.values() if vs.body == "delivery")
    clock.advance(60_000)
    neg = resume_trade(alice, _ServedBob(bob, [delivery.envelope]), neg, escrow=escrow)  # type: ignore[arg-type]
    assert (neg.state, unfinished(neg)) == (State.FULFILLED, "")
    assert [escrow.get_balance(p.did)[:2] for p in (alice, bob)] == [(FUNDS, 0), (FUNDS, 0)]
