"""Attacker's pass 21: KEY-012's fork, with a KeyRotation in place of the key's own revocation.

KEY-012 has a verifier refuse a statement that forks the key's own revocation as the fork it is, with the
two envelopes as proof, before KEY-004 would refuse it with the revocation alone. A KeyRotation is the key's
own word too -- its seq and prev are its signer's, who may be a thief holding the key -- and KEY-005 refuses
every statement above it (section 11 step 22, before the chain check at step 27). Played here with real
signatures through the reference verifier: the thief's rotation signed at the seq of Alice's second Offer,
linked to her first, and her third Offer (the rotation's next seq, linked to her second).
"""

from __future__ import annotations

from itertools import permutations

import pytest

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, fork_proof_from, verify_fork_proof
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from conformance.generate_vectors.key_time import forked_rotation, retired_above_a_forked_rotation

_KINDS = ({"me": "bob"}, {"evidence_view": False}, {})  # a live receiver (Bob), an escrow, a view


def _heard(
    order: tuple[VerifiedStatement, ...], kw: dict[str, object]
) -> tuple[Verifier, list[tuple[str, bool]]]:
    """A verifier of kind ``kw`` fed Alice's setup, binding and first Offer, then ``order``: each refusal's
    code and whether it carries a fork proof (ATT-012) -- ("", False) when taken."""
    alice, bob, (binding, first, _, _), _ = forked_rotation()
    v = Verifier(**{k: (bob.did if val == "bob" else val) for k, val in kw.items()})  # type: ignore[arg-type]
    for env in (*alice.setup, *bob.setup, binding.envelope, first.envelope):
        v.accept(env)
    out = []
    for vs in order:
        try:
            v.accept(vs.envelope)
            out.append(("", False))
        except CoopError as e:
            proof = fork_proof_from(e)
            assert proof is None or verify_fork_proof(proof) == alice.did
            out.append((e.code, proof is not None))
    return v, out


@pytest.mark.req("KEY-012", "KEY-005", "ATT-011", "ATT-013")
def test_a_rotation_forked_into_a_used_seq_is_proven_a_fork_in_every_order() -> None:
    """Attack: a thief holding Alice's key signs a KeyRotation of it (to a key of its own) at the seq of her
    second Offer, linked to her first, dated between them (CHN-005 holds), and shows it first to a view that
    holds her binding and first Offer but not the second (a sparse chain, CHN-006) -- then her third Offer
    arrives. Before KEY-012 read rotations, step 22 refused the third Offer KEY_REVOKED (KEY-005), the
    rotation alone its evidence: no proof of the fork, and Alice's principal blameless (ATT-013), while a
    view that heard the third Offer first refused the rotation CHAIN_BROKEN with the proof -- two views of
    the same two statements, one holding Alice's key faulty and the other not, by the order the thief
    chose. Now each refuses one half with the fork's proof, whichever it heard first."""
    _, _, (_, _, second, third), rotation = forked_rotation()
    assert rotation.body == "key_rotation" and rotation.seq == second.seq and rotation.prev == second.prev
    for kw in _KINDS:
        v, out = _heard((rotation, third), kw)
        assert rotation.digest in v.statements  # the attack happened: the thief's rotation was taken first
        assert out == [("", False), ("CHAIN_BROKEN", True)], kw  # ... and the next seq is proven a fork
        v, out = _heard((third, rotation), kw)
        assert third.digest in v.statements and out == [("", False), ("CHAIN_BROKEN", True)], kw
        # with the second Offer too, every order of the three holds a proof
        for order in permutations((second, rotation, third)):
            _, out = _heard(order, kw)
            assert any(proof for _, proof in out), ([vs.body for vs in order], kw, out)


@pytest.mark.req("KEY-012", "KEY-009", "KEY-013", "KEY-005")
def test_a_view_holds_the_keys_own_revocation_above_a_forked_rotation_in_either_order() -> None:
    """The thief's rotation above, and Alice retiring her key: its own revocation at seq 3, linked to her
    second Offer, not to the rotation. A view of evidence holds a statement of no negotiation a rotation
    would reject (KEY-009 (d)), and a key's own revocation joins no chain (KEY-013); but KEY-012 (a) refused
    it CHAIN_BROKEN when the rotation came first, while one that heard the revocation first took both: the
    key revoked, and the fork's proof held, only in that order -- in the second implementation too (F84).
    Now the view holds both, revokes the key and keeps the proof whichever it heard first. An escrow,
    which refuses what is above a rotation (KEY-005), still refuses it CHAIN_BROKEN first (KEY-012 (a))."""
    setup, rotation, own = retired_above_a_forked_rotation()
    for order in ((rotation, own), (own, rotation)):
        v = Verifier()
        for env in (*setup, *(vs.envelope for vs in order)):
            v.accept(env)
        assert own.issuer in v.revoked and v.rotated.get(own.issuer) == rotation.seq
        first, second = v.own_revocation_forks[own.issuer]
        assert verify_fork_proof(ForkProof(first, second)) == own.issuer
        assert {first, second} == {rotation.envelope, own.envelope}
    escrow = Verifier(evidence_view=False)
    for env in (*setup, rotation.envelope):
        escrow.accept(env)
    with pytest.raises(CoopError) as refused:
        escrow.accept(own.envelope)
    assert refused.value.code == "CHAIN_BROKEN" and fork_proof_from(refused.value) is not None
