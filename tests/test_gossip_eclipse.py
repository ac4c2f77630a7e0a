"""ATT-011: what a peer gossips on is ranked by what it received last, never by a time the issuer chose.

A Checkpoint's issued_at_ms is its issuer's claim, and gossip takes future-dated Checkpoints like any
other (a fork proof needs no freshness). Keys and Mandates are free, so ranking by it would let a few
keys dated years ahead hold every gossip slot of every peer they reach, for good.
"""

from __future__ import annotations

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.trust import DAY_MS
from a2a_coop.runtime import gossip
from a2a_coop.testing import FixedClock, Party

YEAR_MS = 365 * DAY_MS


def _checkpoint(party: Party, *, ahead_ms: int = 0) -> list[bytes]:
    cp = party.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=b""),
        ttl_ms=DAY_MS,
        issued_at_ms=party.clock.now_ms + ahead_ms,
    )
    return [party.mandate_vs.envelope, cp.envelope]


@pytest.mark.req("ATT-011")
def test_checkpoints_dated_years_ahead_do_not_crowd_out_what_we_received_since() -> None:
    """32 fresh keys, each under a Mandate valid for 20 years, gossip us Checkpoints dated 10 years
    ahead; then an honest key's Checkpoint, dated now, arrives. Expect the honest Checkpoint among what
    we gossip on (ranked by issued_at_ms, the 32 took every slot), first of the others'."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    for i in range(gossip.MAX_CHECKPOINTS):
        sybil = Party(f"sybil-{i}", clock, mandate_caps={"valid_until_ms": clock.now_ms + 20 * YEAR_MS})
        peer.gossip(_checkpoint(sybil, ahead_ms=10 * YEAR_MS), [])
    assert len(peer.verifier.checkpoints) == gossip.MAX_CHECKPOINTS + 1  # theirs and our own head
    clock.advance(60_000)
    honest = Party("honest", clock)
    peer.gossip(_checkpoint(honest), [])
    envelopes, _ = gossip.outgoing(peer)
    others = [vs.issuer for vs in map(verify_statement, envelopes) if vs.body == "checkpoint"][1:]
    assert len(others) == gossip.MAX_CHECKPOINTS and others[0] == honest.did
