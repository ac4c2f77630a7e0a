"""witness33: a served node that had not heard of its escrow's hand-over gave its Delivery to the successor
answering at the escrow's address until the contract's last deadline + 30 s (ESC-022, WIT-007).

Bob serves with escrow K1 (`serve --escrow`); K1's key is stolen, its principal revokes it and hands its
contracts to K2 (ESC-023), which its operator starts at K1's address. Bob's node, never told, submits his
Delivery there: K2 stamps it and answers with its Mandate (the hand-over), the revocation and K1's binding
-- and Bob's witness, reading only Stamps its view took as K1's, asked again at its doubling waits, then
every few minutes, until the deadline + 30 s (no loss: K2 held the Delivery; some 300 Submits for a
deadline a day away). Now the witness takes the hand-over the answer carries into Bob's view, where the
verifier honours it only as ESC-022 says (a Mandate signed by the principal K1 is bound to, naming K1 in
`succeeds`, with a revocation of K1 held) and then reads K2's Stamp as the escrow's: one Submit. Who chose
the values: K1's principal (the hand-over and its time); whoever answers for K1's address chooses the
rest, and a thief there -- holding K1's key, so able to sign K1's revocation, not a Mandate of its
principal -- redirects nothing: its hand-over to an escrow of its own is honoured by no one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from test_escrow_handover_served import _Bonded, _Counting
from test_hidden_accept import _within

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime import node as node_module
from a2a_coop.runtime.node import EscrowWitness, PeerNode
from a2a_coop.testing import DAY_MS, FixedClock, Party

CUT = 30  # Submits of the Delivery after which the witness's clock is moved past the deadline + 30 s


def _asks(node: PeerNode) -> None:
    """Let Bob's restarted node give what it owes, and every retry it sets run."""
    assert node.witness_owed() == 1
    witness = node.witness
    assert witness is not None
    _within(10, lambda: (witness.flush(), witness.watching == 0)[1])


@pytest.mark.req("ESC-022", "ESC-023", "WIT-007")
def test_a_node_that_never_heard_of_the_hand_over_learns_it_from_the_successors_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob's witness could not reach K1 with his Delivery; K1 is handed over to K2, which answers at K1's
    address; Bob is restarted as he was (K1 his escrow, nothing told). Expect one Submit of the Delivery:
    K2 stamps it, and its answer's hand-over makes Bob's view read K2's Stamp as the escrow's. Before, 30
    (cut here: Submits until the deadline + 30 s)."""
    monkeypatch.setattr(node_module, "ESCROW_ASK_CAP_S", 0.001)
    s = _Bonded(tmp_path, k1_down=True, retry_s=0.001)
    clock, k1, neg, delivery = s.clock, s.k1, s.neg, s.delivery
    assert neg.contract is not None
    k2 = _Counting(s.stolen(), neg.contract.last_deadline_ms + 31_000, CUT)
    clock.advance(1)
    node = s.bob_node(EscrowWitness(k2, k1.did, retry_s=0.001), [k1.mandate])  # k2 at K1's address
    try:
        _asks(node)
        honoured = node.peer.verifier.successors(k1.did)
    finally:
        node.close()
    assert k2.escrow.verifier.witness.stamp_time(k2.did, delivery.digest) is not None
    assert k2.deliveries == 1, f"{k2.deliveries} Submits of a Delivery the successor stamped"
    assert honoured is not None and k2.did in honoured[0], "Bob's view honours the hand-over"


class _Thief:
    """K1's thief answering for K1's address: K1 revoked by K1 itself (the thief holds the key), a Mandate of
    the thief's own principal naming its escrow key X as K1's successor, and X's Stamp of what it is
    given; counting the Submits carrying a Delivery as :class:`_Counting` does."""

    def __init__(self, k1: Party, clock: FixedClock, past_ms: int) -> None:
        self.clock, self.past_ms, self.deliveries = clock, past_ms, 0
        self.x = Party("thiefs-escrow", clock)
        m = identity_pb2.Mandate()
        m.CopyFrom(self.x.mandate_vs.statement.mandate)
        m.succeeds = k1.did
        self.handover = self.x.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
        self.revocation = k1.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=k1.did, effective_ms=clock.now_ms)
        )

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        delivered = [vs.digest for vs in map(verify_statement, envelopes) if vs.body == "delivery"]
        if delivered:
            self.deliveries += 1
            if self.deliveries >= CUT:
                self.clock.now_ms = max(self.clock.now_ms, self.past_ms)
        stamp = self.x.sign("stamp", commitment_pb2.Stamp(statements=delivered), mandate=self.handover.digest)
        return [self.handover.envelope, self.revocation.envelope, stamp.envelope]


@pytest.mark.req("ESC-022", "WIT-007", "KEY-004")
def test_a_forged_hand_over_in_an_answer_for_the_escrows_address_is_not_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thief answers Bob's Submits at K1's address with K1's self-revocation, a hand-over of K1 its own
    principal signed to its escrow X, and X's Stamp of the Delivery. Expect Bob's view to honour no
    hand-over of K1, X's Stamp not to end the witness (it asks on, to the cut), and none of X's Stamps to
    be the escrow's word. (Before this change the same held: the node learnt nothing from an answer.)"""
    monkeypatch.setattr(node_module, "ESCROW_ASK_CAP_S", 0.001)
    s = _Bonded(tmp_path, k1_down=True, retry_s=0.001)
    clock, k1, neg = s.clock, s.k1, s.neg
    assert neg.contract is not None
    clock.advance(1_000)
    thief = _Thief(k1.party, clock, neg.contract.last_deadline_ms + 31_000)
    node = s.bob_node(EscrowWitness(thief, k1.did, retry_s=0.001), [k1.mandate])
    try:
        _asks(node)
        assert node.peer.verifier.successors(k1.did) is None, "a thief's hand-over honoured"
        stamp = verify_statement(thief.submit([s.delivery.envelope])[-1])
        assert not node.escrows_stamp(stamp)
    finally:
        node.close()
    assert thief.deliveries >= CUT, (
        f"the witness gave up after {thief.deliveries} Submits on the thief's word"
    )
