"""redteam29: a fork proof too large for one swap's 60,000 bytes (ATT-023) still travels by gossip.

ATT-023 bounds what a swap carries and what a peer takes from one at 60,000 bytes of envelopes, fork proofs
counted. The forker chooses the size of the statements its proof is made of (each up to 65,536 bytes,
ENV-008): the reveal-later acceptor (section 16.14) wrote a 60,000-character reason into the Reject she kept
back, and the answer proof of her Reject and Accept, which Bob's peer holds (ATT-022), fit no swap: Bob's
peer skipped it in every swap it sent or answered, so no third party ever learned it -- the proof ATT-022
has travel "to peers that never met her" stayed with the one peer she wronged, for the price of a long
string. Who chose the values: Alice, her Reject's size. Now a swap's response may carry, beyond the 60,000
bytes and last among its proofs, the first-ranked proof that did not fit them, and the peer that asked takes
it (a request still fits the least receive limit, RPC-008: a proof travels when a peer swaps with its
holder).
"""

from __future__ import annotations

import pytest
from peers import make_peer
from test_attack24_reveal_later import _bobs_offer

from a2a_coop.protocol.forks import verify_fork_proof
from a2a_coop.runtime import gossip
from a2a_coop.testing import Party
from a2a_coop.transport import CooperationClient, serve

REASON = "kept back" * 6_700  # about 60,300 bytes: the Reject alone fills a swap


def _bob_holds_an_oversized_proof():  # type: ignore[no-untyped-def]
    clock, alice, bob, peer, offer = _bobs_offer()
    kept = alice.reject(offer, REASON)
    clock.advance(1_000)
    accept = alice.accept(offer)
    assert [vs.body for vs in peer.on_replies([*alice.setup, accept.envelope])] == ["delivery"]
    clock.advance(1_000)
    peer.exchange(kept.envelope, [])  # revealed: the contract gives way, the pair is a proof (ATT-022)
    proof = peer.verifier.forks[alice.did]
    assert len(proof.first) + len(proof.second) > gossip.BUDGET_BYTES
    return clock, alice, bob, peer


@pytest.mark.req("ATT-023", "ATT-022", "ATT-011")
@pytest.mark.parametrize("over", ["process", "grpc"])
def test_an_answer_proof_padded_past_a_swaps_bytes_reaches_a_peer_swapping_with_its_holder(
    over: str,
) -> None:
    clock, alice, bob, peer = _bob_holds_an_oversized_proof()
    carols = make_peer(Party("carol", clock), clock)
    if over == "process":
        convicted = gossip.swap(carols, peer, bob.did)
    else:
        with serve(peer, None) as server, CooperationClient(server.target, tls=None) as client:  # type: ignore[arg-type]
            convicted = gossip.swap(carols, client, bob.did)
    assert convicted == [alice.did]  # before: [] -- the proof never left Bob's peer
    assert carols.reputation.score(alice.did).faulty


@pytest.mark.req("ATT-023")
def test_a_request_still_fits_the_bound_and_a_server_takes_no_proof_beyond_it() -> None:
    """The oversized proof goes in responses only: Bob's own swap request stays within 60,000 bytes (the
    least receive limit), and a server taking a request beyond the bound still drops it unread."""
    clock, alice, _, peer = _bob_holds_an_oversized_proof()
    envelopes, proofs = gossip.outgoing(peer)
    assert sum(map(len, envelopes)) + sum(len(p.first) + len(p.second) for p in proofs) <= gossip.BUDGET_BYTES
    served = make_peer(Party("dave", clock), clock)
    assert gossip.take(served, [], [peer.verifier.forks[alice.did]]) == []
    assert verify_fork_proof(peer.verifier.forks[alice.did]) == alice.did
