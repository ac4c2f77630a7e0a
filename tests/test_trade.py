"""The initiator's flows with an escrow (a2a_coop.runtime.trade), in process on a fixed clock."""

from __future__ import annotations

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Negotiation, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import DeliveryView, HonestStrategy
from a2a_coop.runtime.trade import claim_breach, contract_evidence, relay_escrow_answers, settle_with_escrow
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
