"""SPEC 10.5's byte bound on a swap (ATT-023): what a peer sends in one swap, and what it takes from one,
is at most 60,000 bytes of envelopes -- so one swap fits one request at the least receive limit a server
may keep (RPC-008), and a counterparty that sends more (a flooder answering our swap, whose response our
client takes up to 4 MiB, or a caller of a server that raised its receive limit) gets no more taken."""

from __future__ import annotations

import hashlib

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2, service_pb2, trade_pb2
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.runtime import evidence, gossip
from a2a_coop.runtime.peer import Peer
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
    more than 20,000,000 bytes hold at the most a proof weighs (ATT-018 (e)). Expect all but the last kept,
    and their bytes within the bound. Before rating29 ATT-018 bounded their number alone: 10,000 proofs of
    up to 60,000 bytes (600 MB) -- of up to 2 x 65,536 bytes taken as two conflicting statements -- all kept
    for good."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    n = evidence.MAX_FOREIGN_FORK_BYTES // evidence.MAX_PROOF_BYTES + 1
    assert n < evidence.MAX_FOREIGN_FORK_PROOFS  # the count alone would keep them all
    flood = [_big_fork(Party(f"sybil-{i}", clock)) for i in range(n)]
    for proof in flood:
        gossip.take(peer, [], [proof])
    assert len(peer.verifier.forks) == peer.verifier.foreign_forks == n - 1
    assert verify_fork_proof(flood[-1]) not in peer.verifier.forks
    assert sum(map(_size, peer.verifier.forks.values())) <= evidence.MAX_FOREIGN_FORK_BYTES


@pytest.mark.req("ATT-018", "ATT-013")
def test_each_proof_that_counts_is_charged_the_most_a_proof_weighs() -> None:
    """Proofs of ordinary size (two Rejects with a 20-byte reason, about 1,000 bytes) count against the byte
    bound as the largest would -- with room for three, the fourth is refused; the reference's 20,000,000
    bytes hold 152 --, the price of a first-ranked proof always replacing the one held (ATT-013 (c),
    ATT-018 (e)). No proof weighs more than that charge: two statements of ENV-008's largest."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    peer.verifier.max_foreign_fork_bytes = 3 * evidence.MAX_PROOF_BYTES
    honest = [_big_fork(Party(f"someone-{i}", clock), 20) for i in range(4)]
    assert [peer.verifier.take_fork_proof(p) is not None for p in honest] == [True, True, True, False]
    assert evidence.MAX_FOREIGN_FORK_BYTES // evidence.MAX_PROOF_BYTES == 152
    largest = _big_fork(Party("largest", clock), 65_000)
    assert _size(largest) <= evidence.MAX_PROOF_BYTES < _size(largest) + 2_000


@pytest.mark.req("ATT-018", "ATT-013")
def test_a_first_ranked_proof_replaces_the_held_one_whatever_its_size() -> None:
    """With room for two proofs: one against S and one against T kept, a third refused. First-ranked proofs
    against S (each dated earlier, ATT-013 (c)) of the same size, twice the size and a thousandth of it each
    replace S's, the count unchanged: none weighs more than the charge S's proof made when it first counted.
    Before, one twice the size past the bytes left the held one in place (ATT-018 (e)'s Left open)."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    s, t = Party("s", clock), Party("t", clock)
    peer.verifier.max_foreign_fork_bytes = 2 * evidence.MAX_PROOF_BYTES
    gossip.take(peer, [], [_big_fork(s)])
    gossip.take(peer, [], [_big_fork(t)])
    assert peer.verifier.take_fork_proof(_big_fork(Party("u", clock))) is None  # the bound is reached
    sizes = [(REASON_BYTES, "cd"), (2 * REASON_BYTES, "ef"), (20, "gh")]
    for back, (reason, tags) in enumerate(sizes, 1):
        ranked_first = _big_fork(s, reason, tags=tags, back_ms=1_000 * back)
        peer.verifier.take_fork_proof(ranked_first)
        assert peer.verifier.forks[s.did] == ranked_first
        assert peer.verifier.foreign_forks == 2


def _flooded_then_first_ranked(flood: bool) -> tuple[Party, Peer]:
    """ATT-018 (e)'s Left open (links32): a dishonest principal P revokes its key K back a few seconds, shows
    a view (K outside its dealings) a small pair K signed after the revocation -- disowned, it spares P --,
    has a flood (when ``flood``) fill the view's bound, then shows its first-ranked larger pair, dated before
    the revocation's reach, which convicts P. Returns (K's party, the view's peer)."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    peer.verifier.max_foreign_fork_bytes = 2 * evidence.MAX_PROOF_BYTES  # room for two proofs charged whole
    k = Party("k", clock)
    binding = k.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    for env in (*k.setup, binding.envelope):
        peer.verifier.accept(env)
    small = _big_fork(k, 20, tags="ab")
    assert peer.verifier.take_fork_proof(small) == k.did
    if flood:  # two proofs of about 129,000 bytes each: the bytes the small one leaves, all but 4,000
        for i in range(2):
            peer.verifier.take_fork_proof(_big_fork(Party(f"sybil-{i}", clock), 64_000))
    larger = _big_fork(k, REASON_BYTES, tags="cd", back_ms=10_000)
    peer.verifier.take_fork_proof(larger)
    back = identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms - 5_000, reason="over it")
    peer.verifier.accept(k.principal.sign("key_revocation", back).envelope)
    return k, peer


@pytest.mark.req("ATT-018", "ATT-013")
def test_a_flood_does_not_keep_a_first_ranked_proof_out() -> None:
    """A view flooded between P's disowned small pair and its larger first-ranked one holds P faulty, as a
    view that was not flooded does (ATT-013 (c)), and its bytes within the bound: each proof that counts is
    charged the most a proof weighs, so a replacement always fits. Before, the larger pair did not fit beside
    the flood and the small one stayed: P was spared in the flooded view alone."""
    for flood in (False, True):
        k, peer = _flooded_then_first_ranked(flood)
        assert k.principal.did in peer.reputation.faulty(), flood
        held = peer.verifier.forks[k.did]
        assert _size(held) > 2 * REASON_BYTES  # the larger pair, ranked first
        assert peer.verifier.foreign_forks * evidence.MAX_PROOF_BYTES <= peer.verifier.max_foreign_fork_bytes
