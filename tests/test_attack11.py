"""Attacker's pass (eleventh): the hold of NEG-020 and section 4.5 (until the escrow was asked), mandate
renewal (MND-017), the escrow's precheck outside its lock (SPEC 16.14).

Each test names the attack in its docstring; Mallory is the attacker, Bob the honest reference peer.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from peers import make_peer
from test_attack10 import OneCar, _car, _car_market
from test_hidden_accept import Market, bobs_offer_at_a_served_escrow

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.strategy import Counter as StrategyCounter
from a2a_coop.runtime.strategy import OfferView, Reply
from a2a_coop.runtime.trade import ask_escrow_alone
from a2a_coop.testing import Party


@pytest.mark.req("NEG-020", "ESC-013")
@pytest.mark.parametrize("fork", ["seq", "nonce"])
def test_a_reject_forked_at_the_escrow_does_not_keep_the_key_held(fork: str) -> None:
    """Mallory answers Bob's bonded offer of his car (exclusive_key, at E1) with a Reject, after showing
    E1 another statement of hers at the Reject's seq (her own offer to Carol naming E1). Every Submit of
    Bob's line is refused at the Reject (EQUIVOCATION: E1 holds the other statement), so Bob's runtime
    never took an answer of E1 and never recorded the ask past the cutoff: his car stayed held until his
    offer's last deadline + the claim window (a day and more) for the price of one fork, and his bonded
    value with it. E1 took his Offer before the Reject it refused, and holds no Accept of it: asked again
    with the line up to his offer, it says so, and the key is free."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    if fork == "seq":
        writer = copy.deepcopy(m.mallory.agent.writer)
        reject = m.mallory.reject(offer, "no")
        m.mallory.agent.writer = writer  # the same seq again: a fork of her chain
        other = m.mallory.offer(carol, m.mallory.proposal(escrow=m.escrow.did))
        assert other.header.seq == reject.header.seq
    else:  # the next seq, with the nonce of the statement before it (RPL-001)
        other = m.mallory.offer(carol, m.mallory.proposal(escrow=m.escrow.did))
        reject = m.mallory.reject(offer, "no", nonce=other.header.nonce)
    m.escrow.submit([*m.mallory.setup, other.envelope])
    m.b.on_replies([*m.mallory.setup, reject.envelope])
    m.clock.now_ms = offer.header.expires_at_ms + 60_001  # past the cutoff and the tolerance: ask (ESC-013)
    with pytest.raises(CoopError) as refused:  # the line, as Bob's runtime submitted it before
        m.escrow.submit([*m.bob.setup, *m.mallory.setup, offer.envelope, reject.envelope])
    assert refused.value.code == ("EQUIVOCATION" if fork == "seq" else "NONCE_REUSED")
    assert ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id)) == []
    assert m.b.propose(carol.did, _car(m, e2.did, bond=100)).body == "offer"


class SlowAnswer:
    """E1 takes Bob's Submit at once, but its answer reaches him only past the offer's cutoff plus the
    clock tolerance (a slow network, a loaded escrow); meanwhile Mallory has E1 stamp her Accept, still
    before the cutoff."""

    def __init__(self, m: Market, offer: VerifiedStatement) -> None:
        self.m, self.offer = m, offer
        self.accept: VerifiedStatement | None = None

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        answer = self.m.escrow.submit(envelopes)
        self.m.clock.now_ms = self.offer.header.expires_at_ms + 29_000  # E1 still stamps an Accept
        self.accept = self.m.hide_accept(self.offer, held_ms=30_000)  # signed before the expiry
        self.m.clock.now_ms = self.offer.header.expires_at_ms + 60_001  # the answer arrives
        return answer


@pytest.mark.req("NEG-020", "ESC-013")
def test_an_answer_arriving_past_the_cutoff_to_an_ask_sent_before_it_frees_nothing() -> None:
    """Bob asks E1 about his unanswered bonded offer of the car just before its bonding cutoff; E1 takes
    the Submit at once and holds no Accept then, but the answer reaches Bob only past the cutoff plus the
    clock tolerance. Bob's runtime recorded the ask at the answer's arrival, as past the cutoff, and freed
    the key -- while Mallory had E1 stamp an Accept after it took Bob's Submit, before the cutoff. He sold
    the car again; the Accept, revealed later, bound him twice. An ask counts as past the cutoff by the
    time it was sent."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    m.clock.now_ms = offer.header.expires_at_ms + 20_000
    slow = SlowAnswer(m, offer)
    assert ask_escrow_alone(m.b, slow, m.b.negotiation(offer.negotiation_id)) == []
    assert slow.accept is not None
    with pytest.raises(CoopError) as refused:
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    assert refused.value.code == "EXCLUSIVE_CONFLICT"
    ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))  # asked again: revealed
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == slow.accept.digest


@dataclass
class CountersWithTheCar(OneCar):
    """Bob answers a Counter with a Counter of his own offering the car (exclusive_key) at E1."""

    car: trade_pb2.Offer | None = None

    def respond(self, offer: OfferView) -> Reply:
        assert self.car is not None
        return StrategyCounter(self.car)


@pytest.mark.req("NEG-020", "ESC-013")
def test_a_fork_in_the_middle_of_the_line_does_not_keep_the_later_counter_held() -> None:
    """As the forked Reject, one step further: Mallory answers Bob's offer of the car with a Counter
    forked at E1, and Bob counters with the car again at E1. E1 refuses every Submit of the line at her
    Counter; asked again up to his first offer, it answers for that one, but his Counter stays held."""
    m, e2, carol, _ = _car_market()
    strategy = CountersWithTheCar(car=_car(m, m.escrow.did, bond=100))
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], strategy=strategy)
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    writer = copy.deepcopy(m.mallory.agent.writer)
    hers = m.mallory.proposal(escrow=m.escrow.did, issuer_bond=100, audience_bond=100)
    counter = m.mallory.counter(offer, hers, ttl_ms=60_000)
    m.mallory.agent.writer = writer
    other = m.mallory.offer(carol, m.mallory.proposal(escrow=m.escrow.did))
    m.escrow.submit([*m.mallory.setup, other.envelope])
    ours = m.b.on_replies([*m.mallory.setup, counter.envelope])
    assert [vs.body for vs in ours] == ["counter"]
    m.clock.now_ms = ours[0].header.expires_at_ms + 60_001
    with contextlib.suppress(CoopError):
        ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    assert m.b.propose(carol.did, _car(m, e2.did, bond=100)).body == "offer"


@pytest.mark.req("ESC-007", "ESC-012")
def test_a_repeated_submit_answers_nothing_the_journal_does_not_hold_yet(tmp_path: Path) -> None:
    """The escrow journals what a Submit took with the lock released (group commit), and answers it
    once durable. Bob's repeated Submit of his Offer (ESC-007), taken meanwhile, was answered from memory
    at once -- with Mallory's Accept and the locks another Submit had just signed, not yet on disk. A crash
    then, and the escrow, restarted, signs other statements at those ledger seqs: Bob holds two of its
    statements at one seq, an escrow fork (CHN-004), and locks it forgot. A repeat now waits, as a first
    answer does, until what was staged before it is durable."""
    m = Market()
    escrow_party = Party("escrow", m.clock)
    key, mandate = escrow_party.agent.key, escrow_party.mandate_vs.envelope
    node = EscrowNode(key, mandate, tmp_path / "e.db", clock=lambda: m.clock.now_ms)
    try:
        offer, submitted = bobs_offer_at_a_served_escrow(m, node)
        node.submit(submitted)
        accept = m.mallory.accept(offer)
        real = node.journal._transaction
        entered, release, durable = threading.Event(), threading.Event(), []

        def slow(fn: Any) -> None:
            entered.set()
            release.wait(10)
            real(fn)
            durable.append(True)

        node.journal._transaction = slow  # type: ignore[method-assign]
        seen: list[tuple[list[str], bool]] = []
        hers = threading.Thread(target=node.submit, args=([*m.mallory.setup, accept.envelope],))
        hers.start()
        assert entered.wait(10)
        his = threading.Thread(
            target=lambda: seen.append(
                ([verify_statement(e).body for e in node.submit(submitted)], bool(durable))
            )
        )
        his.start()
        his.join(0.5)
        release.set()
        hers.join(10)
        his.join(10)
        node.journal._transaction = real  # type: ignore[method-assign]
        ((bodies, was_durable),) = seen
        assert "accept" in bodies
        assert was_durable, "the repeat answered with statements the journal did not hold yet"
    finally:
        node.close()
