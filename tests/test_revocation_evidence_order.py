"""RPC-006 (a) under MND-012 and KEY-010: a `KEY_REVOKED` refusal carries the same revocation in every order.

Any revocation that reaches a statement justifies its refusal, so which one a refusal shows decides no
verdict -- but one view hearing two revocations in two orders, or two implementations, sent different
evidence for the same statements until spec28b pinned it: the earliest-reaching one (RPC-005 (a)'s
`reach_ms`), of those reaching from one millisecond the one of lowest digest. Only KEY-004 had a test
presenting two revocations in both orders (`tests/test_verifier.py`); here the two other rules that refuse
on a held revocation, each with a key's two revokers -- a principal above it and the key itself -- reaching
from one millisecond, so that only the tie-break decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import KeyRevoked
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party, Signer
from conformance.generate_vectors.key_time import mandate_for


def _revocation(revoker: Signer, key: str, effective_ms: int) -> VerifiedStatement:
    return revoker.sign("key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=effective_ms))


@dataclass
class _Story:
    """What a verifier holds first, the two revocations (a principal's and the key's own) that reach the
    refused statement from one millisecond ``reach_ms``, and what is fed after them -- the refused
    statement last."""

    setup: list[bytes]
    revocations: tuple[VerifiedStatement, VerifiedStatement]
    then: list[bytes]
    reach_ms: int
    audience: str = ""


def _rooted(alice: Party) -> list[bytes]:
    """Alice's principal key P, bound -- its first statement, before it signs her Mandate -- to a root key
    kept apart (KEY-007), so that the root's revocation of P reaches back over P's Mandates (KEY-011 (c)).
    Returns the root's Mandate for P and P's binding; sets ``alice.root``."""
    root = Signer("alice-root", alice.clock)
    principal = Signer("alice-principal-bound", alice.clock)
    for_principal = mandate_for(root, principal.did, alice)
    binding = principal.sign("checkpoint", identity_pb2.Checkpoint(), mandate=for_principal.digest)
    alice.principal = principal
    alice.mandate_vs = mandate_for(principal, alice.did, alice)
    alice.setup = [alice.mandate_vs.envelope]
    alice.root = root  # type: ignore[attr-defined]
    return [for_principal.envelope, binding.envelope]


def _principal_revoked_then_alice_offers() -> _Story:
    """MND-012: Alice's principal key P is revoked by the root above it (back to T, which reaches P's
    Mandates: P was bound to the root before it signed them, KEY-011 (c)) and by P itself, from T, issued a
    millisecond before (its reach max(effective_ms, issued_at_ms), KEY-011 (a), (c); issued at T, the
    root's would reach it, KEY-011 (b): P's own word once bound); Alice's Offer under P's Mandate, signed
    at T, is refused by both."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    rooted = _rooted(alice)
    clock.advance(999)
    t = clock.now_ms + 1
    own = _revocation(alice.principal, alice.principal.did, t)
    clock.advance(1)
    by_root = _revocation(alice.root, alice.principal.did, t)  # type: ignore[attr-defined]
    offer = alice.offer(bob)
    return _Story([*rooted, *alice.setup, *bob.setup], (by_root, own), [offer.envelope], t, bob.did)


def _stamped_after_the_revocations(whose: str) -> _Story:
    """KEY-010 at an escrow: Alice's Offer naming escrow E, signed before T, which E stamps at T, after
    two revocations reaching Alice's statements from T -- of Alice's key (``whose`` "agent": by her
    principal P, back to T, and by her key itself, from T, issued a millisecond before, above the Offer
    in her chain, so KEY-004 reaches the Offer by neither) or of P (``whose`` "principal": by the root
    above P and by P itself, as in the MND-012 story). The Offer is signed before T: only its Stamp is
    refused."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    rooted = _rooted(alice)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint())  # KEY-007: P may revoke her key
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(999)
    t = clock.now_ms + 1
    root: Signer = alice.root  # type: ignore[attr-defined]
    key, above = (alice.agent, alice.principal) if whose == "agent" else (alice.principal, root)
    own = _revocation(key, key.did, t)
    clock.advance(1)
    revocations = (_revocation(above, key.did, t), own)
    assert offer.issued_at_ms < t
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    setup = [*rooted, *alice.setup, *bob.setup, *escrow.setup, binding.envelope]
    return _Story(setup, revocations, [stamp.envelope, offer.envelope], t)


def _carried(story: _Story, **kw: object) -> list[tuple[str, int | None, tuple[bytes, ...]]]:
    """The refusal of the story's last statement, by a verifier of kind ``kw`` that heard the two
    revocations in each order: (requirement, reach_ms, evidence) each time."""
    carried = []
    for order in (story.revocations, story.revocations[::-1]):
        v = Verifier(**kw)  # type: ignore[arg-type]
        for env in (*story.setup, *(r.envelope for r in order), *story.then[:-1]):
            v.accept(env)
        with pytest.raises(KeyRevoked) as refused:
            v.accept(story.then[-1])
        carried.append((refused.value.requirement, refused.value.reach_ms, refused.value.evidence))
    return carried


def _lowest(story: _Story) -> bytes:
    return min(story.revocations, key=lambda r: r.digest).envelope


@pytest.mark.req("RPC-006", "MND-012", "KEY-011")
def test_an_mnd_012_refusal_carries_the_same_revocation_whatever_order_they_were_held_in() -> None:
    """Alice's principal key revoked by the root above it and by itself, both reaching her Offer from T:
    a live receiver (Bob) and an escrow refuse the Offer (MND-012) carrying, in both orders, the revocation
    of lower digest and its reach -- not the first held."""
    story = _principal_revoked_then_alice_offers()
    for kw in ({"me": story.audience}, {"evidence_view": False}):
        carried = _carried(story, **kw)
        assert carried == [("MND-012", story.reach_ms, (_lowest(story),))] * 2, kw


@pytest.mark.req("RPC-006", "KEY-010", "KEY-011")
@pytest.mark.parametrize("whose", ["agent", "principal"])
def test_a_key_010_refusal_carries_the_same_revocation_whatever_order_they_were_held_in(whose: str) -> None:
    """An escrow's Stamp of Alice's Offer at T, after two revocations reaching it from T -- of her key by
    her principal and by itself, or of her principal's key by the root above it and by itself: the escrow
    refuses the Offer (KEY-010) carrying, in both orders, the revocation of lower digest and its reach."""
    story = _stamped_after_the_revocations(whose)
    carried = _carried(story, evidence_view=False)
    assert carried == [("KEY-010", story.reach_ms, (_lowest(story),))] * 2
