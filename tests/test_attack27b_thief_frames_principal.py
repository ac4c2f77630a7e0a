"""Red team 27b: a thief of a revoked agent key convicts the principal that revoked it (ATT-013, ATT-022).

Who chose what. Alice's principal P chose her agent key K and, when K leaked, its KeyRevocation and its
effective_ms (KEY-004, KEY-011): from then on K's statements under P's Mandates are not P's word -- a live
receiver refuses them `KEY_REVOKED`, a view of evidence holds them disowned (KEY-009 (c)) and weighs nothing
resting on them (ATT-020). The thief chose everything else: two answers of K to one statement (ATT-022),
dated after the revocation, or one answer beside an honest answer of K's that a counterparty holds. ATT-013
reads none of that: a fork proof convicts the key "and every principal it is bound to", so P, every other
agent key of P's (scored as the worst of its principals, ATT-007) and the new key P issues after the
revocation -- the way out SPEC 10.5 and ATT-022's Why promise ("the principal revokes the old one ... and
issues a Mandate to a new key") -- are faulty for good in every view the proof reaches, for one or two
signatures of a key its principal had already disowned. The same view that refuses the thief's answer
`KEY_REVOKED` convicts P on it.

Not fixed here: any rule that spares a principal whose revocation reaches the proof lets a dishonest
principal escape its own key's fork (the reveal-later acceptor of ATT-022) by revoking the key back over it,
which is to be weighed against ATT-022's sanction (SPEC ATT-013, Left open).
"""

from __future__ import annotations

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.reputation import TrustPolicy
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer


class Framed(Exception):
    """What the xfail waits for: an honest principal (or its new key) held faulty on a thief's statements.
    Anything else that breaks -- the attack's preconditions -- fails the test outright."""


def _framed_if(condition: bool, why: str) -> None:
    if condition:
        raise Framed(why)


def _new_key(alice: Party) -> tuple[Signer, VerifiedStatement, VerifiedStatement]:
    """The way out SPEC 10.5 gives: a new agent key K2 with a Mandate from the same principal, bound to it by
    its first Checkpoint (KEY-007). Returns (K2, its Mandate, its binding Checkpoint)."""
    clock = alice.clock
    k2 = Signer("alice-new-key", clock)
    caps = identity_pb2.Mandate(
        agent=k2.did,
        valid_from_ms=clock.now_ms,
        valid_until_ms=clock.now_ms + 30 * DAY_MS,
        currency="credit",
        max_per_deal=10_000,
        budget_per_period=100_000,
        period_ms=30 * DAY_MS,
        max_outstanding=50_000,
    )
    mandate = alice.principal.sign("mandate", caps, ttl_ms=30 * DAY_MS)
    binding = k2.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])), mandate=mandate.digest)
    return k2, mandate, binding


def _the_theft() -> tuple[FixedClock, Party, Peer, dict[str, VerifiedStatement]]:
    """Alice's key K binds itself to her principal P (a public Checkpoint). Bob's peer offers Alice a trade;
    K answers it honestly with a Counter, which Bob's peer takes.
    Then K leaks: her principal P revokes it from that moment (a minute before the thief signs anything),
    and Bob's peer takes the revocation. The thief, holding K, signs a Reject of the same offer a minute
    later -- dated after the revocation's effective_ms, under P's Mandate -- and two Rejects of it for a
    proof it can gossip on its own."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    bobs = make_peer(bob, clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))  # K's, public
    offer = bobs.propose(alice.did, bob.proposal())
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal())  # honest: K's one answer to Bob's offer
    bobs.on_replies([*alice.setup, binding.envelope, counter.envelope])
    clock.advance(1_000)
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="leaked")
    revocation = alice.principal.sign("key_revocation", leaked)
    bobs.hold([revocation.envelope])
    assert bobs.verifier.revoked.get(alice.did) == revocation.statement.key_revocation.effective_ms
    clock.advance(60_000)
    thief = alice.reject(offer, "the thief's")
    again = alice.reject(offer, "the thief's, again")
    signed = {"binding": binding, "offer": offer, "counter": counter, "revocation": revocation}
    return clock, alice, bobs, {**signed, "thief": thief, "again": again}


@pytest.mark.req("ATT-013", "ATT-022", "KEY-004", "KEY-011")
@pytest.mark.xfail(
    strict=True,
    raises=Framed,
    reason=(
        "ATT-013 convicts every principal a forked key is bound to, whatever revocation of the key by "
        "that principal disowns the proof's statements; the peer keeps a refused (KEY_REVOKED) answer as an "
        "answer proof with K's honest one (ATT-022 (b): _keep_answer_proof keeps a pair on any refusal). "
        "Fix needs a SPEC decision: spare a principal whose held revocation reaches a proof's "
        "statement (KEY-011 reach), at the cost of letting a forking principal escape by revoking back"
    ),
)
def test_a_thiefs_answer_refused_key_revoked_does_not_convict_the_principal_that_revoked_the_key() -> None:
    """Bob's peer refuses the thief's Reject `KEY_REVOKED` -- it holds P's revocation, which reaches it -- and
    keeps it, with K's honest Counter, as an answer proof against K: P faulty in Bob's view, and the new key
    P gives Alice faulty with it."""
    _, alice, bobs, s = _the_theft()
    with pytest.raises(CoopError) as refused:
        bobs.exchange(s["thief"].envelope, [])
    assert refused.value.code == "KEY_REVOKED"  # Bob's peer knows it is not P's word ...
    k2, mandate, binding = _new_key(alice)
    bobs.hold([mandate.envelope, binding.envelope])
    assert bobs.verifier.bound.get(k2.did) and alice.principal.did in bobs.verifier.bound[k2.did]
    assert alice.did in bobs.verifier.forks  # ... and keeps it as a proof against K, which did sign it
    assert bobs.reputation.score(alice.did).faulty  # K itself is fair game: it signed both
    _framed_if(alice.principal.did in bobs.reputation.faulty(), "P faulty on a statement it disowned")
    _framed_if(bobs.reputation.score(k2.did).faulty, "P's new key faulty: no way out")


@pytest.mark.req("ATT-013", "ATT-022", "ATT-011", "KEY-011")
@pytest.mark.xfail(
    strict=True,
    raises=Framed,
    reason=(
        "ATT-013 convicts every principal a forked key is bound to; ATT-012 checks a gossiped proof with no "
        "context, so two answers a thief signs with a key its principal revoked before them convict the "
        "principal, its other agent keys and the new key it issues, in every view the proof reaches"
    ),
)
def test_a_thiefs_gossiped_answer_proof_after_the_revocation_does_not_convict_the_principal() -> None:
    """The thief signs two Rejects of Bob's offer with K, both dated a minute after P's revocation, and swaps
    them as a fork proof with Carol's peer, which holds P's revocation and the new key's binding. Carol's
    peer, whose trust policy refuses counterparties scoring below 0.3, then refuses an offer from P's new
    key: the revocation and new key of SPEC 10.5 are no way out."""
    clock, alice, _, s = _the_theft()
    proof = ForkProof(s["thief"].envelope, s["again"].envelope)
    assert verify_fork_proof(proof) == alice.did  # a valid answer proof (ATT-012, ATT-022)
    carol = Party("carol", clock)
    carols = make_peer(carol, clock, trust=TrustPolicy(refuse_below=0.3))
    k2, mandate, binding = _new_key(alice)
    carols.hold([*alice.setup, s["binding"].envelope, s["revocation"].envelope])
    carols.hold([mandate.envelope, binding.envelope])
    assert carols.verifier.revoked.get(alice.did) == s["revocation"].statement.key_revocation.effective_ms
    assert all(s[k].issued_at_ms >= carols.verifier.revoked[alice.did] for k in ("thief", "again"))
    assert not carols.reputation.score(k2.did).faulty  # before the proof: the new key scores as P, unknown
    carols.gossip([], [proof])
    assert alice.did in carols.verifier.forks
    _framed_if(alice.principal.did in carols.reputation.faulty(), "P faulty on two statements it disowned")
    clock.advance(1_000)
    offer = k2.sign("offer", alice.proposal(), audience=carol.did, mandate=mandate.digest, negotiation_id=b"")
    answer = carols.exchange(offer.envelope, [mandate.envelope])
    bodies = [b for b in (verify_statement(e).body for e in answer) if b in ("accept", "counter", "reject")]
    _framed_if(bodies == ["reject"], "Carol's peer refuses P's new key: no way out")
    assert bodies, "Carol's peer answered the new key's offer"
