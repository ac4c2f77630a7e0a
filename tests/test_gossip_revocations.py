"""SPEC 10.5, ATT-024: a fork proof travels with the revocations its sender holds that spare a principal on
it (ATT-013 (b)) -- else a peer that holds the proof only by gossip convicts a principal the proof's holder
spares: a thief's (or a rival's) proof ruined an honest principal's standing with everyone downstream."""

from __future__ import annotations

import pytest
from peers import make_peer, trusting
from test_attack27b_thief_frames_principal import _countered_twice, _the_theft

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, service_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.runtime import gossip
from a2a_coop.testing import Party
from a2a_coop.transport.proofs import proof_message, proof_of


def _bobs_proof() -> tuple[object, Party, object, dict]:
    """The thief's Reject of Bob's offer, signed with Alice's key K after her principal P revoked K: Bob's
    peer refuses it `KEY_REVOKED` and keeps it, with K's honest Counter, as an answer proof against K --
    sparing P, whose revocation disowns the Reject (ATT-013 (b))."""
    clock, alice, bobs, s = _the_theft()
    with pytest.raises(CoopError):
        bobs.exchange(s["thief"].envelope, [])
    assert alice.did in bobs.verifier.forks
    assert alice.principal.did not in bobs.reputation.faulty()  # the holder spares P
    return clock, alice, bobs, s


@pytest.mark.req("ATT-024", "ATT-013", "ATT-011")
def test_a_proof_gossiped_on_spares_the_principal_its_holder_spares() -> None:
    """Carol's peer swaps with Bob's: it gets K's binding Checkpoint (after P's Mandate) and the proof. Expect
    Carol's view to hold K faulty and P not, as Bob's does. Before the fix the proof travelled alone:
    Carol's peer, never shown P's revocation, held P faulty -- and every key P binds, its new one too."""
    clock, alice, bobs, _ = _bobs_proof()
    carols = make_peer(Party("carol", clock), clock)
    gossip.swap(carols, bobs, bobs.did)
    assert alice.did in carols.verifier.forks  # the proof reached Carol
    assert alice.principal.did in carols.verifier.bound.get(alice.did, ())  # she knows K answers to P
    assert alice.did in carols.reputation.faulty()  # K signed both: faulty everywhere (ATT-013 (a))
    assert alice.principal.did not in carols.reputation.faulty()
    assert carols.verifier.revoked.get(alice.did) == bobs.verifier.revoked[alice.did]


@pytest.mark.req("ATT-024", "ATT-023")
def test_the_revocation_travels_with_the_proof_within_the_swaps_bytes() -> None:
    """What Bob's peer sends: the proof with P's revocation beside it, counted in the swap's 60,000 bytes."""
    _, alice, bobs, s = _bobs_proof()
    envelopes, proofs = gossip.outgoing(bobs)
    (sent,) = [p for p in proofs if verify_fork_proof(p) == alice.did]
    assert sent.revocations == (s["revocation"].envelope,)
    assert sum(map(len, envelopes)) + sum(map(gossip.swap_bytes, proofs)) <= gossip.BUDGET_BYTES
    assert gossip.swap_bytes(sent) == len(sent.first) + len(sent.second) + len(s["revocation"].envelope)


@pytest.mark.req("ATT-024", "ATT-013")
def test_a_proof_sent_without_its_revocation_convicts_until_the_revocation_comes() -> None:
    """A liar passes Bob's proof on without P's revocation: Carol's peer convicts P, as before this rule --
    it weighs what it holds -- and spares P once an honest swap brings the revocation (ATT-013 (b): the
    order the statements came in decides nothing)."""
    clock, alice, bobs, _ = _bobs_proof()
    carols = make_peer(Party("carol", clock), clock)
    envelopes, proofs = gossip.outgoing(bobs)
    bare = [ForkProof(p.first, p.second) for p in proofs]
    gossip.take(carols, envelopes, bare)
    assert {alice.did, alice.principal.did} <= carols.reputation.faulty()
    gossip.take(carols, envelopes, proofs)
    assert alice.did in carols.reputation.faulty()
    assert alice.principal.did not in carols.reputation.faulty()


@pytest.mark.req("ATT-024", "ATT-019")
def test_only_revocations_of_the_proofs_key_and_their_stamps_are_taken() -> None:
    """A liar adds, beside Bob's proof, a revocation of another key (its own principal's of its own agent),
    a Stamp of a negotiation statement and a Checkpoint: Carol's peer takes none of them -- only what may
    spare a principal of the proof's key."""
    clock, alice, bobs, s = _bobs_proof()
    carols = make_peer(Party("carol", clock), clock)
    mallory, escrow = Party("mallory", clock), Party("escrow", clock)
    other = mallory.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=mallory.did, effective_ms=clock.now_ms, reason="x")
    )
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[s["counter"].digest]))
    extra = (other.envelope, stamp.envelope, s["binding"].envelope)
    envelopes, proofs = gossip.outgoing(bobs)
    padded = [ForkProof(p.first, p.second, (*p.revocations, *extra)) for p in proofs]
    gossip.take(carols, [*mallory.setup, *escrow.setup], [])
    gossip.take(carols, envelopes, padded)
    assert mallory.did not in carols.verifier.revoked
    assert stamp.digest not in carols.verifier.statements
    assert alice.principal.did not in carols.reputation.faulty()  # the one that belongs is taken


@pytest.mark.req("ATT-024")
def test_a_proof_crosses_the_wire_with_its_revocations() -> None:
    """The ``revocations`` field of ``ForkProof`` (SPEC 13.5) carries the envelopes both ways; a message
    without it (an older peer's) is a proof with none."""
    _, _, bobs, _ = _bobs_proof()
    _, proofs = gossip.outgoing(bobs)
    wire = service_pb2.GossipResponse(proofs=[proof_message(p) for p in proofs]).SerializeToString()
    back = [proof_of(m) for m in service_pb2.GossipResponse.FromString(wire).proofs]
    assert [(p.first, p.second, p.revocations) for p in back] == [
        (p.first, p.second, p.revocations) for p in proofs
    ]
    old = service_pb2.ForkProof(first=proofs[0].first, second=proofs[0].second)
    assert proof_of(old).revocations == ()


@pytest.mark.req("ATT-024", "ATT-013", "KEY-009")
def test_the_escrows_stamp_of_the_revocation_travels_with_it() -> None:
    """K counters Bob's offer twice under escrow E (an answer proof); P revokes K back over both; E stamps
    the revocation, then the two Counters. Dave's peer, holding all of it, spares P: E witnessed the
    revocation first (KEY-009). Carol's peer holds E's Stamp of the Counters (evidence of its own) but not
    the revocation's: given the revocation alone it would convict P, E having witnessed the Counters at a
    place it cannot order against the revocation. Expect E's Stamp of the revocation carried too, and
    Carol's view to spare P as Dave's does."""
    clock, alice, escrow, setup, _, one, two = _countered_twice()  # a live peer holds no offer to Alice
    back = identity_pb2.KeyRevocation(key=alice.did, effective_ms=one.issued_at_ms - 1, reason="over it")
    revocation = alice.principal.sign("key_revocation", back)
    clock.advance(1_000)
    first = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
    clock.advance(1_000)
    pair = escrow.sign("stamp", commitment_pb2.Stamp(statements=[one.digest, two.digest]))
    daves = trusting(make_peer(Party("dave", clock), clock), escrow.did)  # both trade under E
    daves.hold([*setup, revocation.envelope, first.envelope, pair.envelope])
    assert daves.verifier.take_fork_proof(ForkProof(one.envelope, two.envelope)) == alice.did
    assert alice.principal.did not in daves.reputation.faulty()
    carols = trusting(make_peer(Party("carol", clock), clock), escrow.did)
    carols.hold([*setup, pair.envelope])
    envelopes, proofs = gossip.outgoing(daves)
    (sent,) = [p for p in proofs if verify_fork_proof(p) == alice.did]
    assert sent.revocations == (revocation.envelope, first.envelope)
    gossip.take(carols, [], [ForkProof(sent.first, sent.second, sent.revocations[:1])])
    assert alice.principal.did in carols.reputation.faulty()  # the revocation alone: convicted
    gossip.take(carols, envelopes, proofs)
    assert alice.did in carols.reputation.faulty()
    assert alice.principal.did not in carols.reputation.faulty()
