"""SPEC 10.5's byte bound on a swap (ATT-023): what a peer sends in one swap, and what it takes from one,
is at most 60,000 bytes of envelopes -- so one swap fits one request at the least receive limit a server
may keep (RPC-008), and a counterparty that sends more (a flooder answering our swap, whose response our
client takes up to 4 MiB, or a caller of a server that raised its receive limit) gets no more taken."""

from __future__ import annotations

import hashlib

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import service_pb2, trade_pb2
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.runtime import gossip
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport.limits import MAX_REQUEST_BYTES

REASON_BYTES = 20_000


def _big_fork(party: Party) -> ForkProof:
    """Two Rejects of ``party``'s key at seq 0, each with a 20,000-byte reason: a valid fork proof of
    about 40,000 bytes, which anyone can make against a key of its own."""
    offer = hashlib.sha256(party.did.encode()).digest()
    to, signed = Party("to", party.clock).did, []
    for tag in ("a", "b"):
        party.agent.writer.next_seq, party.agent.writer.prev = 0, b""
        msg = trade_pb2.Reject(offer=offer, reason=tag * REASON_BYTES)
        signed.append(party.sign("reject", msg, audience=to, negotiation_id=offer[:16]))
    return ForkProof(signed[0].envelope, signed[1].envelope)


@pytest.mark.req("ATT-023", "ATT-011")
def test_a_swap_above_the_byte_bound_is_taken_up_to_it() -> None:
    """A flooder's swap carries four fork proofs of about 40,000 bytes each against fresh keys of its own
    (160,000 bytes: what a swap's response may carry, our client taking up to 4 MiB). Expect only what
    fits in 60,000 bytes taken -- the first proof -- and the rest dropped unread, as proofs beyond the 32 a
    swap carries are. Before the fix every proof was taken (the bound was the sender's alone): a flooder
    made us verify and keep up to 32 proofs of up to 2 x 65,536 bytes per swap."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    flood = [_big_fork(Party(f"sybil-{i}", clock)) for i in range(4)]
    sizes = [len(p.first) + len(p.second) for p in flood]
    assert sizes[0] <= gossip.BUDGET_BYTES < sum(sizes[:2])  # the story: one fits, two do not
    assert all(verify_fork_proof(p) for p in flood)  # each a valid proof
    convicted = gossip.take(peer, [], flood)
    assert convicted == [verify_fork_proof(flood[0])]
    assert set(peer.verifier.forks) == {verify_fork_proof(flood[0])}


@pytest.mark.req("ATT-023", "ATT-011")
def test_an_honest_swap_is_taken_whole() -> None:
    """What a peer sends (:func:`gossip.outgoing`, within 60,000 bytes) another peer takes whole: the byte
    bound on receipt drops nothing an honest sender sends -- here the one of two proofs of about 40,000
    bytes that the sender's 60,000 hold, after its head Checkpoint."""
    clock = FixedClock()
    sender = make_peer(Party("sender", clock), clock)
    receiver = make_peer(Party("receiver", clock), clock)
    big, small = Party("big", clock), Party("other", clock)
    gossip.take(sender, [], [_big_fork(big)])
    gossip.take(sender, [], [_big_fork(small)])  # a swap of its own: it fits
    envelopes, proofs = gossip.outgoing(sender)
    assert sum(map(len, envelopes)) + sum(len(p.first) + len(p.second) for p in proofs) <= gossip.BUDGET_BYTES
    request = service_pb2.GossipRequest(
        envelopes=envelopes, proofs=[service_pb2.ForkProof(first=p.first, second=p.second) for p in proofs]
    )
    assert request.ByteSize() <= MAX_REQUEST_BYTES  # one request at the least receive limit (RPC-008)
    gossip.take(receiver, envelopes, proofs)
    assert {verify_fork_proof(p) for p in proofs} <= set(receiver.verifier.forks)
    assert sender.did in receiver.verifier.checkpoints
