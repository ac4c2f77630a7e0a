"""redteam23: a fork that reuses the nonce of the statement it forks leaves no fork proof.

Asking whether an own revocation passed over in the archive (KEY-013 (a)) hides a fork
(``tests/test_attack23_archive_skip.py``) showed what does: the replay check (RPL-001, section 11 step 26)
runs before the chain check (step 27, ERR-002), so a second statement at a used seq that carries the first
one's nonce is refused ``NONCE_REUSED``, not ``EQUIVOCATION`` -- and a peer, a reputation view or an
escrow keeps a fork proof only from a refusal the chain check made (``fork_proof_from``: EQUIVOCATION,
CHAIN_BROKEN). X, equivocating, shows A one Offer and B another at the same seq with the same nonce; every
view that meets both refuses the second ``NONCE_REUSED`` and keeps nothing: X and its principal are never
held faulty (ATT-013), and no proof travels (ATT-011), where the same fork with a fresh nonce convicts X
everywhere. The refusal carries the two envelopes already (the nonce's holder, then the statement, ESC-015);
they are an equivocation proof (ATT-012), and now kept as one.
"""

from __future__ import annotations

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, fork_proof_from, verify_fork_proof
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.trust import DAY_MS
from a2a_coop.runtime import evidence as evidence_module
from a2a_coop.runtime import gossip
from a2a_coop.runtime import peer as peer_module
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.testing import FixedClock, Party


def _equivocation(same_nonce: bool) -> tuple[Party, VerifiedStatement, VerifiedStatement]:
    """X's key offers A a trade at seq 0 and B another at seq 0, with the first one's nonce or a fresh one."""
    clock = FixedClock()
    x, a, b = Party("x", clock), Party("a", clock), Party("b", clock)
    to_a = x.offer(a)
    nonce = to_a.header.nonce
    forked = ChainSigner(
        x.agent.key,
        clock=lambda: clock.now_ms,
        nonce=(lambda: nonce) if same_nonce else x.agent.next_nonce,
        ttl_ms=x.agent.ttl_ms,
    )
    to_b = forked.sign("offer", x.proposal(), audience=b.did, negotiation_id=b"", mandate=x.mandate_vs.digest)
    assert (to_b.seq, to_b.prev) == (to_a.seq, to_a.prev) and to_b.digest != to_a.digest
    assert (to_b.header.nonce == nonce) is same_nonce
    return x, to_a, to_b


@pytest.mark.req("ATT-011", "ATT-012", "ATT-013", "RPL-001")
@pytest.mark.parametrize("same_nonce", [True, False], ids=["the-forked-statements-nonce", "a-fresh-nonce"])
def test_a_fork_reusing_the_nonce_of_the_statement_it_forks_still_convicts_its_key(same_nonce: bool) -> None:
    x, to_a, to_b = _equivocation(same_nonce)
    for first, second in ((to_a, to_b), (to_b, to_a)):
        view = EvidenceVerifier()  # a reputation view gathering evidence bundles (ATT-014)
        view.accept(x.mandate_vs.envelope)
        view.accept(first.envelope)
        with pytest.raises(CoopError) as refused:
            view.accept(second.envelope)
        # The attack happened: the second half of X's fork, with the first's nonce, is refused for the nonce,
        # before the chain check could refuse it as the fork.
        assert refused.value.code == ("NONCE_REUSED" if same_nonce else "EQUIVOCATION")
        # What the protocol does: the refusal's two envelopes are an equivocation proof, kept either way --
        # X is faulty (ATT-013) and the proof travels (ATT-011).
        proof = fork_proof_from(refused.value)
        assert proof is not None and verify_fork_proof(proof) == x.did
        assert x.did in view.forks


@pytest.mark.req("ATT-012", "RPL-001")
def test_a_nonce_reused_at_another_seq_is_no_fork_proof() -> None:
    """A statement at the next seq, linked to the one holding its nonce (the Reject of attack 9): refused
    NONCE_REUSED with the two envelopes, which are no fork proof -- nothing kept, nobody convicted."""
    clock = FixedClock()
    x, a = Party("x", clock), Party("a", clock)
    to_a = x.offer(a)
    nonce = to_a.header.nonce
    again = ChainSigner(
        x.agent.key,
        clock=lambda: clock.now_ms,
        nonce=lambda: nonce,
        head=(1, to_a.digest),
        ttl_ms=x.agent.ttl_ms,
    )
    later = again.sign("offer", x.proposal(), audience=a.did, negotiation_id=b"", mandate=x.mandate_vs.digest)
    view = EvidenceVerifier()
    view.accept(x.mandate_vs.envelope)
    view.accept(to_a.envelope)
    with pytest.raises(CoopError) as refused:
        view.accept(later.envelope)
    assert refused.value.code == "NONCE_REUSED" and len(refused.value.evidence) == 2
    assert fork_proof_from(refused.value) is None
    assert x.did not in view.forks
    with pytest.raises((CoopError, ValueError)):
        verify_fork_proof(ForkProof(*refused.value.evidence))


def _same_nonce_at_seq_0(x: Party, first: VerifiedStatement, at: int) -> VerifiedStatement:
    """A second Checkpoint of ``x``'s key at seq 0, issued at ``at``, with ``first``'s nonce."""
    nonce = first.header.nonce
    again = ChainSigner(x.agent.key, clock=lambda: at, nonce=lambda: nonce, ttl_ms=DAY_MS)
    return again.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), mandate=x.mandate_vs.digest)


def _before(error: CoopError) -> ForkProof | None:
    """fork_proof_from before: a chain check's refusal only."""
    return fork_proof_from(error) if error.code in ("EQUIVOCATION", "CHAIN_BROKEN") else None


@pytest.mark.req("ATT-011", "ATT-013", "ATT-019")
def test_a_peer_keeps_the_proof_of_a_swapped_checkpoint_forking_with_the_same_nonce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through a real Peer's swap intake (ATT-019: Checkpoints and their Mandates): X gossips a Checkpoint at
    seq 0, then another at seq 0 with the first one's nonce. The peer refuses the second NONCE_REUSED and now
    keeps the fork proof -- X faulty in its reputation, the proof passed on in its next swap; read as before,
    it kept nothing."""
    for keep in (True, False):
        clock = FixedClock()
        me, x = Party("me", clock), Party("x", clock)
        peer = make_peer(me, clock)
        if not keep:
            monkeypatch.setattr(peer_module, "fork_proof_from", _before)
            monkeypatch.setattr(evidence_module, "fork_proof_from", _before)
        first = x.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), ttl_ms=DAY_MS)
        clock.advance(1)
        second = _same_nonce_at_seq_0(x, first, clock.now_ms)
        assert (second.seq, second.header.nonce) == (first.seq, first.header.nonce)
        assert second.digest != first.digest
        peer.gossip([x.mandate_vs.envelope, first.envelope], [])
        assert first.digest in peer.verifier.statements
        peer.gossip([second.envelope], [])  # the attack: the fork's second half, its nonce the first's
        assert second.digest not in peer.verifier.statements
        if keep:
            assert x.did in peer.verifier.forks and peer.reputation.score(x.did).faulty
            _, passed_on = gossip.outgoing(peer)
            assert [verify_fork_proof(p) for p in passed_on] == [x.did]
        else:
            assert x.did not in peer.verifier.forks and not peer.reputation.score(x.did).faulty
        monkeypatch.undo()
