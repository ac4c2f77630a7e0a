"""Red team 32: a Stamp signed with the escrow's revoked key told served Bob's witness that E took his
Delivery, and his bond went to Alice (WIT-007, ESC-022, KEY-004).

Red team 31 made the witness give a Delivery up only on "a Stamp naming it signed by that escrow's key":
the key named in the witness's configuration (the escrow's Mandate fetched when the node started). An
escrow hands its contracts over when that key leaks (ESC-022): its principal revokes it and appoints a
successor N, which takes the old key's ledger over. The key's thief -- answering for E's address, as
red team 31's man in the middle did -- answers Bob's Submit of his Delivery with a Stamp of it that it
signs with E's key. The witness checked the signature and the key's name, never whether that key still
spoke for the escrow in Bob's own view: it gave up, though Bob's peer held the revocation and the
hand-over, and N, never shown the Delivery, forfeited Bob's bond on Alice's claim.

Who chose the value: the Stamp's signer, time and seq are whoever holds E's key -- after the revocation,
its thief. What Alice (or the thief working for her) gains: Bob's bond and his work. Now a Stamp counts
only when Bob's verifier reads it as the escrow's: E's key where no revocation held reaches it, or a
successor's from the hand-over's time on (``WitnessIndex.acts_for``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from peers import Successor
from test_attack26_cut_back_accept import _bodies
from test_attack27_cut_off_counter import _mirror
from test_cutoff27_withdraw_everywhere import BOND, _counters, _node, _opening, _World
from test_hidden_accept import _within

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock, LocalEscrow, Party


class _ThiefAnswersForE:
    """Bob's witness's way to E. Until Bob's first Delivery, E answers. Then E's key is stolen: E's principal
    revokes it and hands E's contracts to N, and Bob's peer hears of both (``node`` holds them, as gossip or
    N's first answer to anyone brings them). That first Submit of the Delivery is answered by the thief,
    with E's Mandate and a Stamp of the Delivery it signs with E's key; every later Submit reaches N."""

    def __init__(self, e: LocalEscrow) -> None:
        self.e, self.node, self.successor = e, None, None
        self.deliveries = 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if self.successor is not None:
            if "delivery" in _bodies(list(envelopes)):
                self.deliveries += 1
            return self.successor.submit(envelopes)
        if "delivery" not in _bodies(list(envelopes)):
            return self.e.submit(envelopes)
        self.deliveries += 1
        n = Successor(self.e, self.e.clock.now_ms + 1)
        assert isinstance(self.node, PeerNode)
        self.node.peer.hold([n.revocation.envelope, n.handover.envelope])
        self.successor = n
        self.e.clock.advance(1_000)
        delivered = [vs.digest for vs in map(verify_statement, envelopes) if vs.body == "delivery"]
        stamp = commitment_pb2.Stamp(statements=delivered)
        forged = self.e.party.sign("stamp", stamp)  # with E's key, in the thief's hands
        return [self.e.mandate, forged.envelope]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.e, name)


@pytest.mark.req("WIT-007", "ESC-022", "KEY-004")
def test_a_stamp_by_the_escrows_revoked_key_does_not_end_the_witness(tmp_path: Path) -> None:
    """Served Bob accepts Alice's bonded Counter naming E and delivers; E's key is then revoked and handed
    over to N, and the thief answers the witness's Submit of the Delivery with a Stamp by E's key. Expect
    the witness to submit again, N to stamp the Delivery, and Alice's claim at N to take nothing. Before,
    the witness took the thief's Stamp as E's, gave up, and N forfeited Bob's bond to Alice."""
    w = _World(FixedClock())
    way = _ThiefAnswersForE(w.escrow)
    node = way.node = _node(w, tmp_path / "bob.db", witness=True, via=way, lock_wait_s=0.005)
    try:
        offer = _opening(w)
        (c1,) = _counters(node.exchange(offer.envelope, w.alice.setup))
        w.clock.advance(1_000)
        named = _mirror(c1)
        named.terms.escrow, named.terms.issuer_bond, named.terms.audience_bond = w.party.did, BOND, BOND
        c2 = w.alice.counter(c1, named)
        w.clock.advance(1_000)
        answered = map(verify_statement, node.exchange(c2.envelope, ()))
        (accept,) = [vs for vs in answered if vs.body == "accept"]
        _within(10, lambda: way.successor is not None)
        assert node.peer.verifier.successors(w.party.did) is not None, "Bob's view honours the hand-over"
        c = node.peer.negotiation(offer.negotiation_id).contract
        assert c is not None
        (delivery,) = [d for d, (by, _) in c.deliveries.items() if by == w.bob.did]
        n = way.successor
        assert n is not None
        _within(10, lambda: n.escrow.verifier.witness.stamp_time(w.party.did, delivery) is not None)
    finally:
        node.close()
    assert way.deliveries >= 2
    w.escrow = n
    w.alice_claims(accept, w.bob, proposal_of(c2).wants[0].deadline_ms)


@pytest.mark.req("WIT-007", "KEY-005")
def test_a_stamp_by_the_escrows_key_above_its_rotation_is_not_the_escrows(tmp_path: Path) -> None:
    """The rotated key's kin: Bob's node holds E's KeyRotation; a Stamp E's key signs above it (its chain
    ended there, KEY-005 -- whoever still holds the old key) is not E's word to the witness, one below it
    is. Before, both were."""
    w = _World(FixedClock())
    node = _node(w, tmp_path / "bob.db", witness=True)
    try:
        before = w.party.sign("stamp", commitment_pb2.Stamp(statements=[b"\x01" * 32]))
        w.clock.advance(1_000)
        rotation = w.party.sign(
            "key_rotation", identity_pb2.KeyRotation(new_key=Party("escrow-new", w.clock).did)
        )
        node.peer.hold([rotation.envelope])
        assert w.party.did in node.peer.verifier.rotated
        w.clock.advance(1_000)
        after = w.party.sign("stamp", commitment_pb2.Stamp(statements=[b"\x01" * 32]))
        assert node.escrows_stamp(before)
        assert not node.escrows_stamp(after), "a Stamp above the escrow key's rotation ended the witness"
    finally:
        node.close()
