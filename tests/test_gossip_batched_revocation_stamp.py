"""ATT-024 (sparing33): the escrow's Stamp of P's revocation that a swap carries with a proof batches the
revocation with other statements -- an honest escrow stamps what it has in one Stamp (WIT-001 (a)).

K counters Bob's offer twice under escrow E (an answer proof); P revokes K back over both; E stamps the
revocation in a Stamp that names another statement too, then the two Counters. Dave's peer, holding it
all, spares P: E witnessed the revocation first (KEY-009), and sends that Stamp with the proof. Carol's peer
holds E's Stamp of the Counters but not the revocation's. It took a carried Stamp only if it named nothing
but revocations, so it dropped E's and convicted P, whom Dave spares. Now it reads that Stamp for the
revocation alone: verified, and held as no statement -- the other entries would move what the sender
chose, when it chose (ATT-019).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import make_peer, trusting
from test_attack27b_thief_frames_principal import _countered_twice

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.runtime import gossip
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import Party


def _dave_and_carol(
    carol_journal: Journal | None = None, *, ours: bool = False
) -> tuple[Party, Peer, Peer, bytes, list[bytes], Party]:
    """The story above. ``ours``: the other statement E's Stamp of the revocation names is Carol's own
    Checkpoint. Returns (Alice, Dave's peer, Carol's, that other statement's digest, what Carol held,
    Carol)."""
    clock, alice, escrow, setup, _, one, two = _countered_twice()  # a peer holds no offer to Alice
    carol, zoe = Party("carol", clock), Party("zoe", clock)
    carols = trusting(make_peer(carol, clock, journal=carol_journal), escrow.did)  # both trade under E
    checkpoint = identity_pb2.Checkpoint(log_root=merkle_root([]))
    signer = carol if ours else zoe
    other = carols.sign("checkpoint", checkpoint) if ours else zoe.sign("checkpoint", checkpoint)
    back = identity_pb2.KeyRevocation(key=alice.did, effective_ms=one.issued_at_ms - 1, reason="over it")
    revocation = alice.principal.sign("key_revocation", back)
    clock.advance(1_000)
    batched = escrow.sign("stamp", commitment_pb2.Stamp(statements=[other.digest, revocation.digest]))
    clock.advance(1_000)
    pair = escrow.sign("stamp", commitment_pb2.Stamp(statements=[one.digest, two.digest]))
    daves = trusting(make_peer(Party("dave", clock), clock), escrow.did)  # both trade under E
    daves.hold([*setup, *signer.setup, other.envelope, revocation.envelope, batched.envelope, pair.envelope])
    assert daves.verifier.take_fork_proof(ForkProof(one.envelope, two.envelope)) == alice.did
    assert alice.principal.did not in daves.reputation.faulty()
    held = [*setup, pair.envelope]
    carols.hold(held)
    _, proofs = gossip.outgoing(daves)
    (sent,) = [p for p in proofs if verify_fork_proof(p) == alice.did]
    assert sent.revocations == (revocation.envelope, batched.envelope)
    return alice, daves, carols, other.digest, held, carol


@pytest.mark.req("ATT-024", "ATT-013", "KEY-009")
@pytest.mark.parametrize("ours", [False, True], ids=["a-strangers-statement", "our-own-statement"])
def test_a_batched_stamp_of_the_revocation_spares_the_principal_at_the_receiver(ours: bool) -> None:
    """Carol swaps with Dave. Expect P spared there as at Dave's, and E's Stamp read for the revocation alone:
    its other entry -- a stranger's statement, or Carol's own -- is not stamped in Carol's view."""
    alice, daves, carols, other, _, _ = _dave_and_carol(ours=ours)
    gossip.swap(carols, daves, daves.did)
    assert alice.did in carols.verifier.forks
    assert alice.principal.did not in carols.reputation.faulty(), "the sender's sparing lost at the receiver"
    (escrow,) = carols.trusted_escrows
    assert carols.verifier.witness.recorded_stamp_time(escrow, other) is None


@pytest.mark.req("ATT-024", "ATT-013")
def test_a_stamp_read_for_the_revocation_alone_is_kept_across_a_restart_and_sent_on(tmp_path: Path) -> None:
    """Carol's journaled peer restarts after the swap: P stays spared. Then Erin, trading under E too and
    holding what Carol held, swaps with Carol alone: the Stamp travels on with the proof, and she spares P
    as well."""
    journal = Journal.open(tmp_path / "carol.db")
    alice, daves, carols, _, held, carol = _dave_and_carol(journal)
    gossip.swap(carols, daves, daves.did)
    journal.close()
    journal = Journal.open(tmp_path / "carol.db")
    clock = carol.clock
    (escrow,) = carols.trusted_escrows
    restarted = trusting(make_peer(carol, clock, journal=journal, run=1), escrow)
    assert alice.did in restarted.verifier.forks
    assert alice.principal.did not in restarted.reputation.faulty()
    erins = trusting(make_peer(Party("erin", clock), clock), escrow)
    erins.hold(held)
    gossip.swap(erins, restarted, restarted.did)
    journal.close()
    assert alice.did in erins.verifier.forks
    assert alice.principal.did not in erins.reputation.faulty()
