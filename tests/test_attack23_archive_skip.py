"""redteam23: can an own revocation passed over in the archive (KEY-013 (a)) hide a fork or a nonce reuse?

A bounded verifier reads the seqs below its chain window, and the nonces it forgot, from its archive (a peer's
journal), asking it past the key's own KeyRevocations (``Archive.at_seq`` / ``by_nonce`` with ``skip``). A
thief holding Alice's key signs its own revocation R at the seq of her statement far below the window,
carrying that statement's nonce -- then a second statement of its own at the same seq, with the same nonce:
a real fork of her chain (CHN-004) and a nonce reuse (RPL-001), which the skip must not hide. Each order is
fed to a verifier holding everything in memory and to one keeping 8 links over a journal (the real
``Journal``): the attack happened (R taken, passed over in the archive), and the thief's second statement is
refused alike by both, with a fork proof convicting her key (ATT-012).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_own_revocation_archive import FORK_AT, WINDOW, Scene, _fed

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.forks import fork_proof_from, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.runtime.journal import Journal


@pytest.mark.req("KEY-013", "CHN-004", "RPL-001", "KEY-012")
@pytest.mark.parametrize(
    "kind", [{"me": "bob"}, {"evidence_view": False}, {}], ids=["live", "escrow", "view"]
)
def test_a_thiefs_second_fork_beside_its_own_revocation_is_refused_below_the_window_as_in_memory(
    tmp_path: Path, kind: dict[str, object]
) -> None:
    scene = Scene(late=True)  # R at seq 5, dated after her last statement: it reaches none of hers
    at = scene.chain[FORK_AT]
    nonce = at.header.nonce
    late = scene.fork.issued_at_ms + 1_000
    # R again, now carrying the nonce of her statement at its seq (KEY-013: R holds no nonce)
    thief = ChainSigner(
        scene.alice.agent.key,
        clock=lambda: late,
        nonce=lambda: nonce,
        head=(FORK_AT, scene.chain[FORK_AT - 1].digest),
    )
    own = thief.sign("key_revocation", identity_pb2.KeyRevocation(key=scene.alice.did, effective_ms=1))
    second = ChainSigner(
        scene.alice.agent.key,
        clock=lambda: late - 1,  # before R's own time: R reaches it not (KEY-011 (a)), the chain decides
        nonce=lambda: nonce,
        head=(FORK_AT, scene.chain[FORK_AT - 1].digest),
    ).sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([vs.digest for vs in scene.chain[:FORK_AT]])),
        mandate=scene.alice.mandate_vs.digest,
    )
    assert own.seq == second.seq == at.seq and own.header.nonce == second.header.nonce == nonce
    for n, order in enumerate(([*scene.chain, own, second], [own, *scene.chain, second])):
        statements = [*scene.setup, *order]
        whole = scene.verifier(kind, None)
        whole_refused = _fed(whole, statements, None)
        journal = Journal.open(tmp_path / f"{kind_id(kind)}-{n}.db", durability="normal")
        try:
            bounded = scene.verifier(kind, journal)
            bounded_refused = _fed(bounded, statements, journal)
            view = bounded.chains[scene.alice.did]
            # The attack happened: R taken beside her chain (passed over in the archive, KEY-013 (a)), her
            # statement at its seq far below the bounded view's floor -- in its journal only.
            assert own.digest in bounded.statements and own.digest in whole.statements
            assert view.floor > FORK_AT + 1 and len(view.links) <= 2 * WINDOW
            assert journal.at_seq(scene.alice.did, FORK_AT, skip={own.digest}) == at.envelope
        finally:
            journal.close()
        # What the protocol did: the thief's second statement refused by both alike, for the nonce her own
        # statement at that seq holds (read back from the journal past R, which carries it too), the two
        # envelopes its evidence -- a fork proof too (one seq, two statements): the skip hid neither.
        for refused in (bounded_refused, whole_refused):
            assert [f"{e.code} {e.requirement}" for e in refused] == ["NONCE_REUSED RPL-001"], (kind, n)
            proof = fork_proof_from(refused[0])
            assert proof is not None and verify_fork_proof(proof) == scene.alice.did
            assert {proof.first, proof.second} == {at.envelope, second.envelope}
        assert second.digest not in bounded.statements and second.digest not in whole.statements
        # and R's own fork with her statement at its seq is kept as a proof by both (KEY-013)
        assert len(bounded.own_revocation_forks) == len(whole.own_revocation_forks) == 1


def kind_id(kind: dict[str, object]) -> str:
    return "-".join(f"{k}={v}" for k, v in kind.items()) or "view"
