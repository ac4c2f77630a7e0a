"""redteam23: KEY-007 (a) at an escrow -- can a thief plant a binding to block or shrink a revocation?

An escrow taking evidence now keeps a statement of no negotiation refused ``KEY_REVOKED`` alone as a binding
shown, not held, when it binds its key earlier than any statement held. The thief of Alice's key K wants K
bound to a principal of its own, P', *before* K's binding to Alice's principal P: a principal's revocation
reaches back over the key's statements under the Mandates of principals bound later, and over those of an
earlier-bound one only from its issued_at_ms (KEY-011) -- so P's revocation, dated back to the theft, would
leave the thief's statements under P' dated before P signed it standing. It signs K's own revocation dated
before Alice's first statement, at a seq far above hers (it reaches none of hers, KEY-011 (a)), then a
Checkpoint of K under P''s Mandate right after it, which that revocation refuses ``KEY_REVOKED``. Through a
real ``EscrowNode``: the attack's statements are signed and submitted; the plant binds nothing (the thief's
own revocation is a statement held, and the plant no earlier than it), is not stamped or kept, and P's
revocation is taken, binding K to P alone; the audit of the transcript is sound.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_escrow_binding_order import _audited, _node, _submit

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.testing import FixedClock, Party, Signer


@pytest.mark.req("KEY-007", "KEY-011", "KEY-004", "ESC-001")
def test_a_thief_plants_no_earlier_binding_to_its_own_principal_at_an_escrow(tmp_path: Path) -> None:
    clock = FixedClock()
    alice, party = Party("alice", clock), Party("escrow", clock)
    t0 = clock.now_ms
    clock.advance(10_000)
    honest = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))  # K bound to P here
    clock.advance(10_000)
    thief_principal = Signer("thief-principal", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    theirs = thief_principal.sign("mandate", m)  # P' names K as its agent too
    own = ChainSigner(
        alice.agent.key, clock=lambda: t0 + 1, nonce=lambda: b"thief-nonce-0001", head=(1000, b"\x01" * 32)
    ).sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    plant = ChainSigner(
        alice.agent.key, clock=lambda: t0 + 2, nonce=lambda: b"thief-nonce-0002", head=(1001, own.digest)
    ).sign("checkpoint", identity_pb2.Checkpoint(log_root=b"\x00" * 32), mandate=theirs.digest)
    back = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=t0 + 15_000, reason="stolen")
    )
    assert plant.issued_at_ms < honest.issued_at_ms  # dated before K's first statement held
    e = _node(party, clock, tmp_path / "e.db")
    try:
        e.submit([*alice.setup, honest.envelope])
        e.submit([theirs.envelope])
        assert isinstance(_submit(e, own), list)  # the thief's own revocation: taken (KEY-013)
        size = e.escrow.ledger_size
        # The attack happened: the plant was signed by K under P''s Mandate and submitted; refused KEY_REVOKED
        # by K's own revocation alone. What the protocol did: it binds nothing -- no earlier than the thief's
        # own revocation, a statement of K held -- so it is not stamped, not kept, and K is bound to P alone.
        assert _submit(e, plant) == "KEY_REVOKED"
        assert e.escrow.shown_binding(plant.digest) is None and e.escrow.ledger_size == size
        assert e.escrow.verifier.bound.get(alice.did) == {alice.principal.did}
        assert isinstance(_submit(e, back), list) and back.digest in e.escrow.verifier.statements
        assert {r.digest for r in e.escrow.verifier.revocations_of[alice.did]} == {own.digest, back.digest}
        transcript = _audited(e, party.did)
        assert plant.envelope not in transcript
    finally:
        e.close()
