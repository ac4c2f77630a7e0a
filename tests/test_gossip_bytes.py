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
from a2a_coop.runtime import evidence, gossip
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport.limits import MAX_REQUEST_BYTES

REASON_BYTES = 20_000


def _big_fork(
    party: Party, reason_bytes: int = REASON_BYTES, *, tags: str = "ab", back_ms: int = 0
) -> ForkProof:
    """Two Rejects of ``party``'s key at seq 0, each with a 20,000-byte reason: a valid fork proof of
    about 40,000 bytes, which anyone can make against a key of its own (dated ``back_ms`` before now)."""
    offer = hashlib.sha256(party.did.encode()).digest()
    to, signed = Party("to", party.clock).did, []
    for tag in tags:
        party.agent.writer.next_seq, party.agent.writer.prev = 0, b""
        msg = trade_pb2.Reject(offer=offer, reason=tag * reason_bytes)
        at = party.clock.now_ms - back_ms
        signed.append(party.sign("reject", msg, audience=to, negotiation_id=offer[:16], issued_at_ms=at))
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


def _size(proof: ForkProof) -> int:
    return len(proof.first) + len(proof.second)


@pytest.mark.req("ATT-018")
def test_proofs_against_keys_outside_the_dealings_are_bounded_in_bytes() -> None:
    """Swap after swap, a flooder sends one proof of about 40,000 bytes against a fresh key of its own, one
    more than 20,000,000 bytes hold. Expect all but the last kept, and the bytes kept within the bound.
    Before the fix ATT-018 bounded their number alone: 10,000 proofs of up to 60,000 bytes (600 MB) --
    of up to 2 x 65,536 bytes taken as two conflicting statements -- all kept for good."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    probe = _big_fork(Party("probe", clock))
    n = evidence.MAX_FOREIGN_FORK_BYTES // _size(probe) + 1
    assert n < evidence.MAX_FOREIGN_FORK_PROOFS  # the count alone would keep them all
    flood = [_big_fork(Party(f"sybil-{i}", clock)) for i in range(n)]
    assert len({_size(p) for p in flood}) == 1
    for proof in flood:
        gossip.take(peer, [], [proof])
    assert len(peer.verifier.forks) == n - 1
    assert verify_fork_proof(flood[-1]) not in peer.verifier.forks
    assert peer.verifier.foreign_fork_bytes == sum(map(_size, flood[:-1])) <= evidence.MAX_FOREIGN_FORK_BYTES


@pytest.mark.req("ATT-018", "ATT-013")
def test_honest_proofs_meet_the_count_before_the_bytes() -> None:
    """Two Rejects of ordinary size (a 40-byte reason) are a proof of about 1,000 bytes: 10,000 of them --
    the count bound -- are well within the byte bound, so the byte bound changes nothing for them."""
    clock = FixedClock()
    honest = _big_fork(Party("someone", clock), 20)
    assert evidence.MAX_FOREIGN_FORK_PROOFS * 2 * _size(honest) <= evidence.MAX_FOREIGN_FORK_BYTES


@pytest.mark.req("ATT-018", "ATT-013")
def test_a_larger_first_ranked_proof_past_the_byte_bound_leaves_the_held_one() -> None:
    """With room for about two 40,000-byte proofs: one against S and one against T kept. A first-ranked
    proof against S (dated earlier, ATT-013 (c)) of the same size replaces S's; one twice the size, which
    would take the bytes past the bound, does not -- S stays convicted by the proof held, and the bytes
    stay within the bound (else a key re-forking with ever larger, earlier-dated pairs grew them without
    bound); a smaller one always replaces it."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    s, t = Party("s", clock), Party("t", clock)
    first = _big_fork(s)
    peer.verifier.max_foreign_fork_bytes = 2 * _size(first) + 1_000
    gossip.take(peer, [], [first])
    gossip.take(peer, [], [_big_fork(t)])
    same = _big_fork(s, tags="cd", back_ms=1_000)
    peer.verifier.take_fork_proof(same)
    assert peer.verifier.forks[s.did] == same
    larger = _big_fork(s, 2 * REASON_BYTES, tags="ef", back_ms=2_000)
    peer.verifier.take_fork_proof(larger)
    assert peer.verifier.forks[s.did] == same
    assert peer.verifier.foreign_fork_bytes <= peer.verifier.max_foreign_fork_bytes
    smaller = _big_fork(s, 20, tags="gh", back_ms=3_000)
    peer.verifier.take_fork_proof(smaller)
    assert peer.verifier.forks[s.did] == smaller
    assert peer.verifier.foreign_fork_bytes == _size(smaller) + _size(peer.verifier.forks[t.did])
