"""ATT-011: a peer opening many trades with one counterparty swaps gossip with it once per minute."""

from __future__ import annotations

from a2a_coop.runtime import gossip
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party


def _peer(clock: FixedClock) -> Peer:
    alice = Party("alice", clock)
    return Peer(alice.agent.key, alice.mandate_vs.envelope, clock=lambda: clock.now_ms)


def test_a_swap_is_due_once_per_counterparty_per_interval() -> None:
    clock = FixedClock()
    peer = _peer(clock)
    assert gossip.swap_due(peer, "did:key:bob")
    assert not gossip.swap_due(peer, "did:key:bob")  # the next trade, at once: no second swap
    assert gossip.swap_due(peer, "did:key:carol")  # another counterparty has its own interval
    clock.advance(gossip.SWAP_EVERY_MS - 1)
    assert not gossip.swap_due(peer, "did:key:bob")
    clock.advance(1)
    assert gossip.swap_due(peer, "did:key:bob")
    assert gossip.swap_due(peer, "")  # no counterparty named: always
