"""PeerNode's read calls on a real journal: GetLog, GetCheckpoint, GetAttestations (SPEC.md 13.5)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from a2a_coop.protocol import merkle
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.testing import FixedClock, Party, derive


@pytest.fixture
def traded(tmp_path: Path) -> tuple[Party, Party, Peer, PeerNode, FixedClock]:
    """Alice (in memory) trades with Bob (a PeerNode with a journal) once, to FULFILLED."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    counter = itertools.count()
    pa = Peer(
        alice.agent.key,
        alice.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"n/a/{next(counter)}", 16),
    )
    node = PeerNode.open(
        bob.agent.key, bob.mandate_vs.envelope, tmp_path / "bob.db", clock=lambda: clock.now_ms
    )
    offer = pa.propose(node.peer.did, alice.proposal())
    drive(pa, node.exchange, offer)
    return alice, bob, pa, node, clock


@pytest.mark.req("CHN-007")
def test_checkpoint_commits_to_every_statement_of_the_chain(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """Bob signs a checkpoint after a trade; expect a valid Checkpoint at his next seq whose log_root is
    the RFC 6962 root of the digests of all his earlier statements, with an inclusion proof for each."""
    _, _, _, node, _ = traded
    seq_before = node.peer.writer.next_seq
    checkpoint = verify_statement(node.get_checkpoint())
    assert checkpoint.body == "checkpoint" and checkpoint.header.seq == seq_before
    own = [verify_statement(e).digest for e in node.journal.log_range(node.peer.did, 0, seq_before)]
    root = checkpoint.statement.checkpoint.log_root
    assert len(own) == seq_before and root == merkle.root(own)
    for i, digest in enumerate(own):
        assert merkle.verify_inclusion(digest, i, len(own), merkle.inclusion_proof(own, i), root)


def test_log_serves_public_statements_only(traded: tuple[Party, Party, Peer, PeerNode, FixedClock]) -> None:
    """A caller reads Bob's log without authenticating; expect only his public statements (the
    checkpoint), not the ones addressed to Alice, and the true head seq."""
    _, _, _, node, _ = traded
    node.get_checkpoint()
    envelopes, head = node.get_log(0, 100)
    assert [verify_statement(e).body for e in envelopes] == ["checkpoint"]
    assert head == node.peer.writer.next_seq - 1


@pytest.mark.req("ATT-001")
def test_attestations_come_with_the_contract_they_rest_on(
    traded: tuple[Party, Party, Peer, PeerNode, FixedClock],
) -> None:
    """Alice attests Bob's performance and sends it to him; expect GetAttestations(bob) to return a bundle
    (mandates, offer, accept, attestation) that verifies offline on its own, admissibility included."""
    alice, _, pa, node, _ = traded
    neg = next(iter(pa.verifier.negotiations.by_id.values()))
    contract = neg.contract
    assert contract is not None
    attestation = pa.sign("attestation", _attestation(contract.offer.digest, contract.id, node.peer.did))
    node.exchange(attestation.envelope, pa.send_context())
    bundles = node.get_attestations(node.peer.did)
    assert len(bundles) == 1
    report = verify_transcript(bundles[0])
    assert report.valid, report.error
    assert report.statements[-1].digest == attestation.digest
    assert node.get_attestations(alice.did) == []


def _attestation(offer: bytes, accept: bytes, subject: str) -> object:
    from a2a_coop._proto.a2acoop.v1 import reputation_pb2

    return reputation_pb2.Attestation(
        subject=subject, offer=offer, accept=accept, outcome=reputation_pb2.OUTCOME_FULFILLED
    )
