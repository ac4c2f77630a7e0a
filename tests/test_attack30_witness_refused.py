"""redteam30: one forged refusal kept a served node's Delivery from the escrow, and its bond went.

A served peer (`a2a-coop serve --escrow E`) gives E every Delivery it signs under a contract naming E
(WIT-007) through its escrow witness (``EscrowWitness``): only E's Stamp by the deadline + 30 s makes the
Delivery timely (WIT-003) when the counterparty withholds its Receipt and Ack. The witness tried a
submission again when E was out of reach or refused it with a code a repeat may pass (``RETRIED_REFUSALS``),
and gave it up on any other refusal -- which is unsigned (RPC-005): whoever answered for E once (a man in
the middle on a plaintext channel, a proxy, a wrong `--escrow`) refusing that one Submit
`ILLEGAL_TRANSITION` kept Bob's Delivery from E for good. Alice took it, never receipted it, claimed Bob's
item after the deadline, and E, holding no Delivery, forfeited Bob's bond to her. Red team 29's forged
refusal of a Withdraw, on the path every served contract takes. Who chose the value: whoever answered the
Submit (the code). What Alice gains: Bob's bond and his work. Now a submission carrying our Deliveries is
tried again after any refusal, at doubling waits capped at ``ESCROW_ASK_CAP_S``, until it could be timely no
more; an escrow that truly refuses it costs a Submit every few minutes until the contract's last deadline +
30 s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from peers import Intercepted, raising
from test_cutoff27_withdraw_everywhere import _bonded_counter, _counters, _node, _opening, _World
from test_hidden_accept import _within

from a2a_coop.protocol.errors import IllegalTransition
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.testing import FixedClock


@pytest.mark.req("WIT-007", "WIT-003")
def test_a_forged_refusal_does_not_keep_a_served_nodes_delivery_from_the_escrow(tmp_path: Path) -> None:
    """Served Bob accepts Alice's bonded Counter naming E and delivers; his witness's first Submit of the
    Delivery meets a forged refusal: it submits again, E stamps the Delivery before its deadline, and
    Alice's claim takes nothing (before: given up, and E forfeited Bob's bond to her)."""
    w = _World(FixedClock())
    forger = Intercepted(
        w.escrow, "delivery", raising(IllegalTransition("the negotiation is not PERFORMING here"))
    )
    accept, c2 = served_bob_delivers(w, forger, tmp_path, lambda: True)
    assert forger.seen >= 2
    w.alice_claims(accept, w.bob, proposal_of(c2).wants[0].deadline_ms)


def served_bob_delivers(
    w: _World, via: Any, tmp_path: Path, submitted: Callable[[], bool]
) -> tuple[VerifiedStatement, VerifiedStatement]:
    """Served Bob, his escrow witness's Submits going ``via`` whoever answers for E, accepts Alice's bonded
    Counter naming E and delivers; returns once ``submitted()`` and E stamped the Delivery (failing if not
    within 10 s): Bob's Accept and Alice's Counter."""
    node = _node(w, tmp_path / "bob.db", witness=True, via=via, lock_wait_s=0.005)
    try:
        offer = _opening(w)
        (c1,) = _counters(node.exchange(offer.envelope, w.alice.setup))
        w.clock.advance(1_000)
        c2 = _bonded_counter(w, c1)
        w.clock.advance(1_000)
        answered = map(verify_statement, node.exchange(c2.envelope, ()))
        (accept,) = [vs for vs in answered if vs.body == "accept"]
        _within(10, lambda: bool(_bobs_deliveries(node, w, offer.negotiation_id)))
        (delivery,) = _bobs_deliveries(node, w, offer.negotiation_id)
        stamped = w.escrow.escrow.verifier.witness.stamp_time
        _within(10, submitted)
        _within(10, lambda: stamped(w.party.did, delivery) is not None)
    finally:
        node.close()
    return accept, c2


def _bobs_deliveries(node: PeerNode, w: _World, negotiation_id: bytes) -> list[bytes]:
    """The digests of the Deliveries Bob's node signed under the negotiation's contract."""
    c = node.peer.negotiation(negotiation_id).contract
    return [] if c is None else [d for d, (by, _) in c.deliveries.items() if by == w.bob.did]
