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

Fixed by ATT-013 (b): a proof convicts K always, and P only when neither of its statements is disowned by
a revocation of K that P issued (KEY-011's reach, KEY-009: one K's escrow witnessed before the revocation is
not disowned, and still convicts). A dishonest principal revoking K back over its own pair buys what KEY-004's
revocation already buys; K's own revocation (KEY-013) spares nobody; and the faulty set is a function of the
statements held, so a revocation heard after the proof un-convicts P (SPEC ATT-013, Why (b)).
Left open: a view keeps one proof per key, so a pair P's revocation disowns, heard first, hides a pair its
escrow witnessed (strict xfail below; SPEC ATT-013, Left open).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.reputation import Reputation, TrustPolicy
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer


class Framed(Exception):
    """An honest principal (or its new key) held faulty on a thief's statements (what these tests were
    strict xfails for until ATT-013 (b)). Anything else that breaks -- the attack's preconditions -- fails
    the test too."""


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


def _the_theft(*, by_the_key: bool = False) -> tuple[FixedClock, Party, Peer, dict[str, VerifiedStatement]]:
    """Alice's key K binds itself to her principal P (a public Checkpoint). Bob's peer offers Alice a trade;
    K answers it honestly with a Counter, which Bob's peer takes.
    Then K leaks: her principal P revokes it from that moment (a minute before the thief signs anything),
    and Bob's peer takes the revocation. The thief, holding K, signs a Reject of the same offer a minute
    later -- dated after the revocation's effective_ms, under P's Mandate -- and two Rejects of it for a
    proof it can gossip on its own. ``by_the_key``: K revokes itself (KEY-013) instead of P."""
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
    revocation = (
        alice.sign("key_revocation", leaked, mandate=b"")
        if by_the_key
        else alice.principal.sign("key_revocation", leaked)
    )
    bobs.hold([revocation.envelope])
    assert bobs.verifier.revoked.get(alice.did) == revocation.statement.key_revocation.effective_ms
    clock.advance(60_000)
    thief = alice.reject(offer, "the thief's")
    again = alice.reject(offer, "the thief's, again")
    signed = {"bobs_mandate": bob.mandate_vs, "binding": binding, "offer": offer, "counter": counter}
    signed["revocation"] = revocation
    return clock, alice, bobs, {**signed, "thief": thief, "again": again}


@pytest.mark.req("ATT-013", "ATT-022", "KEY-004", "KEY-011")
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


def _view(
    clock: FixedClock,
    envelopes: list[bytes],
    proof: ForkProof | None = None,
    *,
    trusting: Collection[str] = (),
) -> Reputation:
    """A view of evidence (an observer's, SPEC 11.4) holding ``envelopes`` in that order, then ``proof``;
    it trusts the escrows ``trusting`` (ATT-013 (d): the only ones whose Stamps convict there)."""
    v = EvidenceVerifier()
    for e in envelopes:
        v.accept(e)
    if proof is not None:
        assert v.take_fork_proof(proof) is not None
    return Reputation(lambda: v, seeds=("did:key:the-viewer",), escrows=trusting, clock=lambda: clock.now_ms)


ESCROW = Party("escrow", FixedClock()).did  # E of :func:`_escrowed_pair`, the escrow the parties trade under


def _countered_twice() -> tuple[
    FixedClock, Party, Party, list[bytes], VerifiedStatement, VerifiedStatement, VerifiedStatement
]:
    """Alice's key K, bound to her principal P by a Checkpoint, counters Bob's offer twice a second after it,
    both Counters naming escrow E (an answer proof, ATT-022); the clock left a second past them. Returns
    (clock, Alice, E, the parties' setup with K's binding, Bob's offer, the two Counters)."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    one = alice.counter(offer, alice.proposal(escrow=escrow.did))
    two = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=10))
    clock.advance(1_000)
    setup = [*alice.setup, *bob.setup, *escrow.setup, binding.envelope]
    return clock, alice, escrow, setup, offer, one, two


def _escrowed_pair(stamped: bool) -> tuple[FixedClock, Party, VerifiedStatement, list[bytes], ForkProof]:
    """Alice's key K counters Bob's offer twice (an answer proof, ATT-022), both Counters naming escrow E;
    E stamps the pair (when ``stamped``), then her principal P revokes K back over both and E stamps the
    revocation. Returns (clock, Alice, Bob's offer, what a view holds but the pair, the pair as a proof)."""
    clock, alice, escrow, setup, offer, one, two = _countered_twice()
    pair = escrow.sign("stamp", commitment_pb2.Stamp(statements=[one.digest, two.digest]))
    clock.advance(1_000)
    back = identity_pb2.KeyRevocation(key=alice.did, effective_ms=one.issued_at_ms - 1, reason="over it")
    revocation = alice.principal.sign("key_revocation", back)
    clock.advance(1_000)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
    held = [*setup, offer.envelope, *([pair.envelope] if stamped else [])]
    return (
        clock,
        alice,
        offer,
        [*held, revocation.envelope, stamp.envelope],
        ForkProof(one.envelope, two.envelope),
    )


def _revoked_over(stamped: bool, *, after: bool = False) -> tuple[Party, Reputation]:
    """A view of :func:`_escrowed_pair` that takes the proof last -- or, ``after``, first a second pair K
    signs after the revocation (two Rejects of the offer, disowned by it) and then the proof."""
    clock, alice, offer, held, proof = _escrowed_pair(stamped)
    view = _view(clock, held, trusting=(ESCROW,))  # a party's view: it trades under E
    if after:
        clock.advance(1_000)
        late = ForkProof(alice.reject(offer, "late").envelope, alice.reject(offer, "again").envelope)
        assert view.evidence().take_fork_proof(late) == alice.did
    assert view.evidence().take_fork_proof(proof) == alice.did
    return alice, view


@pytest.mark.req("ATT-013", "KEY-009")
def test_a_pair_its_escrow_witnessed_before_the_revocation_still_convicts_the_principal() -> None:
    """ATT-013 (b): a principal that revokes its key back over the key's two answers escapes the conviction
    only for a pair no escrow witnessed first -- what KEY-004's revocation disowns anyway. Stamped by the
    escrow the Counters name before it stamped the revocation, the pair is K's and P's word (KEY-009) and
    convicts P."""
    alice, witnessed = _revoked_over(stamped=True)
    assert {alice.did, alice.principal.did} <= witnessed.faulty()
    alice, unwitnessed = _revoked_over(stamped=False)
    assert alice.did in unwitnessed.faulty()  # the key always
    assert alice.principal.did not in unwitnessed.faulty()  # disowned by P's revocation: P spared


@pytest.mark.req("ATT-013", "KEY-011")
def test_the_principals_revocation_heard_after_the_proof_unconvicts_it_in_every_order() -> None:
    """ATT-013 (b) reads the statements and revocations held, not the order they came in: a view that holds
    the thief's proof before P's revocation holds P faulty until the revocation comes, then not -- the same
    faulty set as a view that heard the revocation first."""
    clock, alice, _, s = _the_theft()
    proof = ForkProof(s["thief"].envelope, s["again"].envelope)
    held = [*alice.setup, s["binding"].envelope]
    first = _view(clock, [*held, s["revocation"].envelope], proof)
    later = _view(clock, held, proof)
    assert alice.principal.did in later.view().faulty  # no revocation held yet: P convicted
    later.evidence().accept(s["revocation"].envelope)
    assert later.view().faulty == first.view().faulty == {alice.did}


@pytest.mark.req("ATT-013", "KEY-013")
def test_the_keys_own_revocation_does_not_spare_its_principal() -> None:
    """ATT-013 (b) spares a principal for its own revocation only: K's revocation of itself (KEY-013) --
    which whoever holds K signs, its thief too -- reaching the thief's two answers leaves P convicted."""
    clock, alice, _, s = _the_theft(by_the_key=True)
    proof = ForkProof(s["thief"].envelope, s["again"].envelope)
    view = _view(clock, [*alice.setup, s["binding"].envelope, s["revocation"].envelope], proof)
    assert view.evidence().revokes(s["thief"])  # K's own revocation reaches the thief's answers ...
    assert {alice.did, alice.principal.did} <= view.faulty()  # ... and P stays convicted


@pytest.mark.req("ATT-013", "ATT-018")
def test_a_disowned_pair_heard_first_does_not_hide_a_witnessed_one() -> None:
    """P forks K with a pair its escrow witnesses, revokes K back over it, then signs a second pair with K
    after the revocation: a view that heard the disowned pair first kept it alone and spared P, while one
    that heard the witnessed pair first convicted P. Now each keeps the proof dated earliest (the last any
    revocation spares), and both convict P."""
    alice, witnessed_first = _revoked_over(stamped=True)
    _, disowned_first = _revoked_over(stamped=True, after=True)
    assert alice.principal.did in witnessed_first.faulty()
    assert disowned_first.faulty() == witnessed_first.faulty()


def _answers_around_a_revocation() -> tuple[
    Party, Party, list[bytes], dict[str, VerifiedStatement], ForkProof
]:
    """K answers Bob's offer (naming no escrow) with a Reject and then an Accept, both before its principal P
    revokes it; after the revocation K signs a third answer, a Counter of the same offer, and two Rejects of
    another offer of Bob's -- a proof anyone can gossip. Returns (Alice, Bob, what a view holds first, K's
    three answers, the gossiped proof). The pair dated earliest, the Reject and the Accept, is no
    revocation's to disown: the proof ATT-013 (c) keeps, which convicts P."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    elsewhere = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    clock.advance(1_000)
    answers = {"reject": alice.reject(offer, "kept back")}
    clock.advance(1_000)
    answers["accept"] = alice.accept(offer)
    clock.advance(1_000)
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="leaked")
    revocation = alice.principal.sign("key_revocation", leaked)
    clock.advance(1_000)
    answers["counter"] = alice.counter(offer, alice.proposal())
    gossiped = ForkProof(alice.reject(elsewhere, "x").envelope, alice.reject(elsewhere, "y").envelope)
    held = [*alice.setup, *bob.setup, binding.envelope, offer.envelope, revocation.envelope]
    return alice, bob, held, answers, gossiped


def _held_in_order(held: list[bytes], order: tuple[VerifiedStatement | ForkProof, ...]) -> EvidenceVerifier:
    """A view of evidence holding ``held``, then each of ``order``: a statement taken, or a proof gossiped."""
    v = EvidenceVerifier()
    for e in held:
        v.accept(e)
    for item in order:
        if isinstance(item, ForkProof):
            assert v.take_fork_proof(item) is not None
        else:
            v.accept_statement(item)
    return v


def _faulty_in(v: EvidenceVerifier, alice: Party) -> frozenset[str]:
    """What the proofs ``v`` holds convict (ATT-013)."""
    return Reputation(lambda: v, seeds=(), escrows=(), clock=lambda: alice.clock.now_ms).faulty()


@pytest.mark.req("ATT-013", "ATT-022")
def test_a_pair_found_after_a_gossiped_proof_is_ranked_against_it() -> None:
    """ATT-013 (c) and (b): two views of the same statements and the same gossiped proof. One takes K's Reject
    and Accept of Bob's offer first -- the pair found in its own negotiation -- and then the thief's gossiped
    proof, dated after P's revocation: it keeps the pair, which ranks first, and convicts P. The other takes
    the gossiped proof first, then the pair: it kept the proof held first, never comparing the pair with it
    (a convicted key's answers were not looked at again), and spared P -- the order of arrival, which whoever
    gossips chooses, decided P's conviction."""
    alice, _, held, a, gossiped = _answers_around_a_revocation()
    found_first = _held_in_order(held, (a["reject"], a["accept"], gossiped))
    gossiped_first = _held_in_order(held, (gossiped, a["reject"], a["accept"]))
    pair = {a["reject"].envelope, a["accept"].envelope}
    assert {found_first.forks[alice.did].first, found_first.forks[alice.did].second} == pair
    found = _faulty_in(found_first, alice)
    assert alice.principal.did in found  # the pair no revocation disowns convicts P
    kept = gossiped_first.forks[alice.did]
    _framed_if(
        {kept.first, kept.second} != pair, "the proof heard first stays, the pair found after it unread"
    )
    assert _faulty_in(gossiped_first, alice) == found


@pytest.mark.req("ATT-013", "ATT-022", "NEG-021")
def test_every_order_of_three_answers_and_a_gossiped_proof_keeps_one_proof() -> None:
    """ATT-013 (c) in every order: K's three answers to one offer (two before P's revocation, one after) and
    a gossiped proof dated after it, taken in each of the 24 orders, leave one and the same proof -- the pair
    dated earliest -- and one faulty set, K and P. Before, a view that took the Counter first and then the
    Accept (NEG-021 cuts the line back) kept the Counter's pair, which P's revocation disowns, and spared P;
    one that took the Reject and Accept first kept theirs and convicted P."""
    alice, _, held, a, gossiped = _answers_around_a_revocation()
    pair = {a["reject"].envelope, a["accept"].envelope}
    kept: dict[tuple[str, ...], frozenset[bytes]] = {}
    faulty: set[frozenset[str]] = set()
    for order in itertools.permutations((*a.values(), gossiped)):
        v = _held_in_order(held, order)
        names = tuple("gossiped" if isinstance(i, ForkProof) else i.body for i in order)
        kept[names] = frozenset((v.forks[alice.did].first, v.forks[alice.did].second))
        faulty.add(_faulty_in(v, alice))
    assert len(kept) == 24
    other = sorted(k for k, p in kept.items() if p != pair)
    _framed_if(other != [], f"{len(other)} orders keep another proof than the pair dated earliest: {other}")
    assert faulty == {frozenset({alice.did, alice.principal.did})}


def _forked_at_the_accept() -> tuple[Party, list[bytes], dict[str, VerifiedStatement], VerifiedStatement]:
    """:func:`_answers_around_a_revocation`'s K (its Reject and Accept of Bob's offer before P's revocation),
    and the thief's Offer to Bob at the Accept's seq, dated after the revocation: a fork with the Accept that
    P's revocation reaches. Returns (Alice, what a view holds first -- P's revocation last --, K's answers,
    the thief's Offer)."""
    from a2a_coop.protocol.chain import ChainSigner
    from a2a_coop.testing import derive

    alice, bob, held, a, _ = _answers_around_a_revocation()
    alice.clock.advance(1_000)
    count = iter(range(1, 100))
    thief = ChainSigner(
        alice.agent.key,
        clock=lambda: alice.clock.now_ms,
        nonce=lambda: derive(f"thief/fork/{next(count)}", 16),
        head=(a["accept"].seq, a["reject"].digest),
    )
    fork = thief.sign(
        "offer",
        alice.proposal(),
        audience=bob.did,
        negotiation_id=b"",
        mandate=alice.mandate_vs.digest,
        ttl_ms=60_000,
    )
    assert (
        fork.seq == a["accept"].seq and fork.issued_at_ms > a["counter"].issued_at_ms
    )  # after P's revocation
    return alice, held, a, fork


@pytest.mark.req("ATT-013", "ATT-022")
def test_an_answer_refused_for_a_fork_is_weighed_as_an_answer_too() -> None:
    """ATT-013 (c) (proof29): a view that took the thief's Offer at K's Accept's seq before the Accept refused
    the Accept `EQUIVOCATION` and kept the fork it carried -- never pairing the Accept with K's Reject of the
    same offer, an answer it refuses from the offer's audience --, so once P's revocation came it spared P;
    a view that took the Accept first kept the answer pair, dated earliest, and convicted P. The refused
    answer is now weighed as an answer too: one proof, one faulty set, in either order."""
    alice, held, a, fork = _forked_at_the_accept()
    before, revocation = held[:-1], held[-1]
    assert verify_statement(revocation).body == "key_revocation"
    pair = {a["reject"].envelope, a["accept"].envelope}
    for order in [(a["reject"], a["accept"], fork), (a["reject"], fork, a["accept"])]:
        v = EvidenceVerifier()
        for e in before:
            v.accept(e)
        refused = []
        for vs in order:
            try:
                v.accept_statement(vs)
            except CoopError as err:
                refused.append((vs.body, err.code))
        assert refused == [(order[-1].body, "EQUIVOCATION")]  # the second at the Accept's seq
        v.accept(revocation)
        kept = v.forks[alice.did]
        _framed_if({kept.first, kept.second} != pair, f"kept the fork, {[vs.body for vs in order]}")
        assert alice.principal.did in _faulty_in(v, alice)


@pytest.mark.req("ATT-013", "ATT-022", "ATT-012")
def test_the_audit_reports_the_proof_the_view_keeps() -> None:
    """ATT-013 (c) in the audit (SPEC 19; proof29): K's Reject and Accept of Bob's offer, both before P's
    revocation, are an answer proof no revocation disowns; after it, the thief forks K's chain at the
    Accept's seq -- a fork proof P's revocation reaches. A view holding both keeps the answer proof (dated
    earliest) and convicts P; `audit` reported the first in chain order, forks before answers -- the
    thief's fork, on which a view holding it alone spares P. Now it reports the proof the rank picks, the
    view's."""
    from a2a_coop.protocol import audit

    alice, held, a, fork = _forked_at_the_accept()
    forked = ForkProof(a["accept"].envelope, fork.envelope)
    view = _held_in_order(held, (a["reject"], a["accept"], forked))
    pair = {a["reject"].envelope, a["accept"].envelope}
    assert {view.forks[alice.did].first, view.forks[alice.did].second} == pair
    assert alice.principal.did in _faulty_in(view, alice)
    assert alice.principal.did not in _faulty_in(_held_in_order(held, (forked,)), alice)  # the fork alone
    statements = [verify_statement(e) for e in held] + [a["reject"], a["accept"], fork]
    [found] = audit.equivocations(audit.Evidence(statements), alice.did)
    _framed_if(
        found.requirement != "ATT-022",
        f"the audit reports the fork first in chain order ({found.requirement})",
    )
    assert found.proof is not None and {found.proof.first, found.proof.second} == pair
