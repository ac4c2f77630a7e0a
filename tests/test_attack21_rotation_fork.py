"""Attacker's pass 21: KEY-012's fork, with a KeyRotation in place of the key's own revocation.

KEY-012 has a verifier refuse a statement that forks the key's own revocation as the fork it is, with the
two envelopes as proof, before KEY-004 would refuse it with the revocation alone. A KeyRotation is the key's
own word too -- its seq and prev are its signer's, who may be a thief holding the key -- and KEY-005 refuses
every statement above it (section 11 step 22, before the chain check at step 27). Played here with real
signatures through the reference verifier: the thief's rotation signed at the seq of Alice's second Offer,
linked to her first, and her third Offer (the rotation's next seq, linked to her second).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

import pytest

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.forks import ForkProof, fork_proof_from, verify_fork_proof
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import Party, derive
from conformance.generate_vectors.key_time import (
    forked_rotation,
    retired_above_a_forked_rotation,
    retired_after_the_rotation,
)

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
def test_every_verifier_holds_the_keys_own_revocation_above_a_forked_rotation_in_either_order() -> None:
    """The thief's rotation above, and Alice retiring her key: its own revocation at seq 3, linked to her
    second Offer, not to the rotation. A key's own revocation joins no chain of a sparse view (KEY-013), so
    KEY-005, the chain's end, does not refuse it. KEY-012 (a) refused it CHAIN_BROKEN when the rotation came
    first, while a verifier that heard the revocation first took both: the key revoked, and the fork's proof
    held, only in that order -- in a view of evidence (and the second implementation, F84) until spec28, in
    a live receiver and an escrow taking evidence until keyorder29 (F91). Now every verifier holds both,
    revokes the key and keeps the proof whichever it heard first."""
    _, rotation, own = retired_above_a_forked_rotation()
    for kw in _KINDS:
        for order in ((rotation, own), (own, rotation)):
            v, out = _heard(order, kw)
            assert out == [("", False), ("", False)], (kw, out)
            assert own.issuer in v.revoked and v.rotated.get(own.issuer) == rotation.seq, kw
            first, second = v.own_revocation_forks[own.issuer]
            assert verify_fork_proof(ForkProof(first, second)) == own.issuer
            assert {first, second} == {rotation.envelope, own.envelope}
    # ... and above a rotation it links to (no fork): KEY-005 refused it KEY_REVOKED heard after the rotation
    after = retired_after_the_rotation()
    for kw in _KINDS:
        for order in ((rotation, after), (after, rotation)):
            v, out = _heard(order, kw)
            assert out == [("", False), ("", False)], (kw, out)
            assert after.issuer in v.revoked and v.rotated.get(after.issuer) == rotation.seq, kw
            assert after.issuer not in v.own_revocation_forks, kw


@dataclass
class _Live:
    """A journaled runtime fed Alice's statements one at a time: ``send`` answers the code one was refused
    with, or ""; ``transcript`` and ``escrow`` are an escrow's (None and "" for a peer)."""

    send: Callable[[VerifiedStatement], str]
    verifier: Verifier
    close: Callable[[], None]
    transcript: Callable[[], list[bytes]] | None = None
    escrow: str = ""


def _bobs_peer(path: Path) -> _Live:
    """Bob's Peer on the journal at ``path`` (opened again on a restart); each statement of Alice's an
    Exchange request, her setup its context."""
    alice, bob, _, _ = forked_rotation()
    nonces = itertools.count()
    peer = Peer(
        bob.agent.key,
        bob.mandate_vs.envelope,
        journal=Journal.open(path, durability="normal"),
        clock=lambda: bob.clock.now_ms,
        nonce=lambda: derive(f"nonce/bob/{next(nonces)}", 16),
        snapshot_every=0,
    )

    def exchange(vs: VerifiedStatement) -> str:
        try:
            peer.exchange(vs.envelope, alice.setup)
            return ""
        except CoopError as refused:
            return refused.code

    assert peer.journal is not None
    return _Live(exchange, peer.verifier, peer.journal.close)


def _escrow(path: Path) -> _Live:
    """An EscrowNode on the journal at ``path`` (opened again on a restart); each statement of Alice's a
    Submit with her setup."""
    alice, _, _, _ = forked_rotation()
    escrow = Party("escrow", alice.clock)
    node = EscrowNode(
        escrow.agent.key,
        escrow.mandate_vs.envelope,
        path,
        clock=lambda: alice.clock.now_ms,
        durability="normal",
    )

    def submit(vs: VerifiedStatement) -> str:
        try:
            node.submit([*alice.setup, vs.envelope])
            return ""
        except CoopError as refused:
            return refused.code

    return _Live(submit, node.escrow.verifier, node.journal.close, node.escrow.transcript, escrow.did)


@pytest.mark.req("KEY-012", "KEY-013", "KEY-005", "KEY-004")
def test_a_live_peer_and_an_escrow_take_the_keys_own_revocation_above_a_forked_rotation_in_either_order(
    tmp_path: Path,
) -> None:
    """Through the real runtime: Bob's journaled Peer, sent Alice's binding and each statement as an
    Exchange, and a journaled EscrowNode, submitted each. Before keyorder29 both refused Alice's own
    revocation CHAIN_BROKEN (KEY-012 (a): the rotation's next seq, not linking to it) when the thief's forked
    rotation came first -- her key unrevoked there, where the other order revoked it: the thief chose, by
    showing its rotation first, whether Alice's retirement of her key counted at that peer or escrow. Now
    both take the two in either order, revoke her key and keep the fork's proof, and read them so again on a
    restart; the escrow's transcript is sound to its audit (AUD-003)."""
    alice, _, (binding, _, _, _), _ = forked_rotation()
    _, rotation, own = retired_above_a_forked_rotation()
    for kind, open_ in (("peer", _bobs_peer), ("escrow", _escrow)):
        for n, order in enumerate(((rotation, own), (own, rotation))):
            path = tmp_path / f"{kind}-{n}"
            live = open_(path)
            live.send(binding)
            assert [live.send(vs) for vs in order] == ["", ""], (kind, [vs.body for vs in order])
            for restarted in (False, True):
                if restarted:
                    live.close()
                    live = open_(path)
                v = live.verifier
                assert alice.did in v.revoked and v.rotated.get(alice.did) == rotation.seq, (kind, n)
                assert set(v.own_revocation_forks[alice.did]) == {rotation.envelope, own.envelope}
            if live.transcript is not None:
                report = audit_ledger(live.transcript(), escrow=live.escrow)
                assert report.ok, report.findings
            live.close()
