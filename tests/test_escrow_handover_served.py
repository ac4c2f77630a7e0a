"""A served peer (`serve --escrow`, in process: a PeerNode with an EscrowWitness) against an escrow's
successor (ESC-022, ESC-023): restarted with the successor as its escrow, it gives the successor the
evidence it owes of the contracts the successor took over (WIT-007)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest
from peers import Successor, make_peer, peer_node
from test_hidden_accept import _within

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime import node as node_module
from a2a_coop.runtime.node import EscrowWitness, PeerNode
from a2a_coop.runtime.peer import drive
from a2a_coop.runtime.strategy import DeliveryView, WithholdingStrategy
from a2a_coop.runtime.trade import claim_breach, contract_evidence, relay_escrow_answers
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party
from a2a_coop.transport import TransportError

BOND = 100


class Receiptless(WithholdingStrategy):
    """An initiator bent on a bond: receipts nothing."""

    def rate(self, delivery: DeliveryView) -> int | None:
        return None


class Down:
    """K1 stolen and stopped: unreachable."""

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        raise TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")


class _Bonded:
    """Alice, bent on Bob's bond, and Bob, served on ``tmp_path``/bob.db with K1 as his escrow, in a contract
    K1 bonded (Alice submitted it); Bob's witness gave his Delivery to K1 or, ``k1_down``, could not."""

    def __init__(self, tmp_path: Path, *, k1_down: bool, retry_s: float) -> None:
        self.clock = clock = FixedClock()
        alice, self.bob = Party("alice", clock), Party("bob", clock)
        bob = self.bob
        self.k1 = k1 = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, bob.did: 1_000})
        self.pa = pa = make_peer(alice, clock, context=[k1.mandate], strategy=Receiptless(every=1))
        self.journal = tmp_path / "bob.db"
        node = self.bob_node(EscrowWitness(Down() if k1_down else k1, k1.did, retry_s=retry_s), [k1.mandate])
        try:
            offer = pa.propose(bob.did, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=k1.did))
            drive(pa, node.exchange, offer)
            self.neg = pa.negotiation(offer.header.negotiation_id)
            relay_escrow_answers(pa, node, k1.submit(contract_evidence(pa, self.neg)))  # type: ignore[arg-type]
            node.witness.flush()  # type: ignore[union-attr]
        finally:
            node.close()
        self.delivery = next(vs for vs in pa.verifier.statements.values() if vs.body == "delivery")

    def bob_node(self, witness: EscrowWitness, context: list[bytes]) -> PeerNode:
        """Bob (re)started on his journal, asking ``witness``'s escrow."""
        return peer_node(self.bob, self.clock, self.journal, context=context, witness=witness)

    def stolen(self) -> LocalEscrow:
        """A second on, K1 is stolen (its principal hands its contracts over, :class:`peers.Successor`)."""
        self.clock.advance(1_000)
        return self.k1


@pytest.mark.req("ESC-022", "ESC-023", "WIT-007")
def test_a_served_peer_restarted_on_the_successor_gives_it_the_delivery_it_owes(tmp_path: Path) -> None:
    # Bob serves with K1 as his escrow; K1 locks the bonds (Alice submitted the contract) and is stolen:
    # Bob's witness cannot reach it with his Delivery. K1's principal revokes it and hands over to K2;
    # Bob's operator restarts him with K2 as his escrow. He owes K2 his Delivery (WIT-007): before, his
    # witness skipped every contract naming K1, and K2 upheld Alice's lie that he never delivered.
    s = _Bonded(tmp_path, k1_down=True, retry_s=0.0)
    clock, k1, pa, neg, delivery = s.clock, s.k1, s.pa, s.neg, s.delivery
    assert neg.state is State.PERFORMING
    assert k1.escrow.verifier.witness.stamp_time(k1.did, delivery.digest) is None  # never reached K1
    k2 = Successor(s.stolen())
    clock.advance(1)
    # Bob restarted with K2 as his escrow: what it answers an empty Submit (its Mandate, the hand-over's
    # revocation with its binding) is his context, as `serve --escrow` fetches it.
    node = s.bob_node(EscrowWitness(k2, k2.did, retry_s=0.0), k2.submit([]))
    try:
        assert node.witness_owed() == 1
        node.witness.flush()  # type: ignore[union-attr]
    finally:
        node.close()
    assert k2.escrow.verifier.witness.stamp_time(k2.did, delivery.digest) == clock.now_ms
    # Alice's lie is dismissed, citing Bob's Delivery.
    clock.advance(DAY_MS + 60_000)
    k2.submit([claim_breach(pa, neg, 0, "bob never delivered (a lie)").envelope])
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    ruling = next(vs for vs in k2.escrow.tick(clock.now_ms) if vs.body == "ruling").statement.ruling
    assert ruling.decision == commitment_pb2.RULING_DECISION_DISMISS
    assert ruling.evidence == delivery.digest
    assert verify_statement(k2.handover.envelope).statement.mandate.succeeds == k1.did


class _Counting(Successor):
    """The successor, counting the Submits carrying a Delivery; past ``cut`` of them the witness's clock is
    moved past the contract's last deadline + 30 s, where it gives up whatever it met."""

    def __init__(self, e: LocalEscrow, past_ms: int, cut: int) -> None:
        super().__init__(e)
        self.past_ms, self.cut, self.deliveries = past_ms, cut, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if any(verify_statement(e).body == "delivery" for e in envelopes):
            self.deliveries += 1
            if self.deliveries >= self.cut:
                self.clock.now_ms = max(self.clock.now_ms, self.past_ms)
        return super().submit(envelopes)


@pytest.mark.req("ESC-022", "ESC-023", "WIT-006", "WIT-007")
def test_a_served_peer_restarted_on_the_successor_asks_once_for_a_delivery_the_old_key_stamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob's witness gives K1 his Delivery, which K1 stamps; K1's principal hands over to K2, and Bob is
    restarted with K2 as his escrow. His restart gives K2 what he owes of the unfinished contract (Alice
    never receipts). Expect K2 to answer with the Stamp K1 signed before the hand-over, held in the ledger
    it took over (WIT-006), Bob's witness to take it as the escrow's word (ESC-022), and one Submit of the
    Delivery. Before, K2 answered with no Stamp of it (only its own key's were looked up), the witness
    counted only Stamps by K2's key, and it asked K2 again at its doubling waits, then at most
    ESCROW_ASK_CAP_S apart, until the contract's last deadline + 30 s (here cut off after 30: some
    300 Submits for a deadline a day away)."""
    monkeypatch.setattr(node_module, "ESCROW_ASK_CAP_S", 0.001)
    s = _Bonded(tmp_path, k1_down=False, retry_s=0.001)
    clock, k1, neg, delivery = s.clock, s.k1, s.neg, s.delivery
    assert k1.escrow.verifier.witness.stamp_time(k1.did, delivery.digest) is not None  # K1 took it
    assert neg.contract is not None
    k2 = _Counting(s.stolen(), neg.contract.last_deadline_ms + 31_000, cut=30)
    clock.advance(1)
    node = s.bob_node(EscrowWitness(k2, k2.did, retry_s=0.001), k2.submit([]))
    try:
        assert node.witness_owed() == 1
        witness = node.witness
        assert witness is not None
        _within(10, lambda: (witness.flush(), witness.watching == 0)[1])  # every retry it set has run
    finally:
        node.close()
    assert k2.deliveries == 1, f"{k2.deliveries} Submits of a Delivery the escrow had stamped"
