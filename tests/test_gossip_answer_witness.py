"""gossip31, ATT-025: a gossiped answer proof of an Accept or a Reject carries the Offer or Counter it
answers, which names the answers' witnessing escrow (KEY-009), so that a receiver that never held that offer
reads the escrow's Stamps of the pair as the parties' views do.

Before, a receiver read the witnessing escrow of an Offer or a Counter alone: the escrow of an Accept or a
Reject is the one the statement it answers names, and a third party given the proof by gossip holds no such
statement (ATT-019: negotiation statements do not travel) -- so it dropped the escrow's Stamp of the pair,
held the pair unwitnessed and spared the principal whose key signed it, which Bob's view convicted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from peers import make_peer, trusting
from test_attack27b_thief_frames_principal import ESCROW, _view

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol import forks
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import gossip
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party

_KINDS = ["accept-reject", "reject-reject", "accept-accept", "counter-reject"]


def _answers(alice: Party, offer: VerifiedStatement, kind: str, escrow: str) -> tuple[bytes, bytes]:
    """Two answers of Alice's key K to Bob's ``offer``: an answer proof (ATT-022) of the ``kind`` asked."""
    made = {
        "accept": lambda n: alice.accept(offer),
        "reject": lambda n: alice.reject(offer, f"no {n}"),
        "counter": lambda n: alice.counter(offer, alice.proposal(escrow=escrow, issuer_bond=n)),
    }
    first, second = kind.split("-")
    return made[first](1).envelope, made[second](2).envelope


class _Offered:
    """Bob's peer offers Alice a trade naming escrow E; Alice's key K has bound its empty log."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob, self.escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        self.binding = self.alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
        self.bobs = make_peer(self.bob, clock, context=self.escrow.setup)
        self.offer = self.bobs.propose(self.alice.did, self.bob.proposal(escrow=self.escrow.did))
        clock.advance(1_000)

    def revoked_over(
        self, one: bytes, two: bytes, shown: list[bytes], *, stamped: bool
    ) -> tuple[FixedClock, Party, Peer, list[bytes], ForkProof]:
        """A second after K signed ``one`` and ``two``, E stamps the pair (when ``stamped``); then K's
        principal P revokes K back over both and E stamps the revocation. Bob's peer holds all of it
        (``shown`` after his offer) and the proof. Returns (clock, Alice, Bob's peer, what Bob's view holds
        but the pair -- his offer among it --, the pair as a proof)."""
        clock, alice, escrow, bobs = self.clock, self.alice, self.escrow, self.bobs
        clock.advance(1_000)
        digests = [verify_statement(e).digest for e in (one, two)]
        pair = escrow.sign("stamp", commitment_pb2.Stamp(statements=digests))
        clock.advance(1_000)
        back = identity_pb2.KeyRevocation(
            key=alice.did, effective_ms=verify_statement(one).issued_at_ms - 1, reason="over it"
        )
        revocation = alice.principal.sign("key_revocation", back)
        clock.advance(1_000)
        stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
        held = [*alice.setup, *self.bob.setup, *escrow.setup, self.binding.envelope, self.offer.envelope]
        held += [*shown, pair.envelope] if stamped else shown
        held += [revocation.envelope, stamp.envelope]
        for env in held:
            if verify_statement(env).digest not in bobs.verifier.statements:  # his own, and E's setup
                bobs.verifier.accept(env)
        proof = ForkProof(one, two)
        assert bobs.verifier.take_fork_proof(proof) is not None
        return clock, alice, bobs, held, proof


def _witnessed_answers(
    kind: str, *, stamped: bool = True
) -> tuple[FixedClock, Party, Peer, list[bytes], ForkProof]:
    """K answers the offer Bob's peer made (naming escrow E) twice; E stamps the pair (when ``stamped``);
    then K's principal P revokes K back over both and E stamps the revocation (``_Offered.revoked_over``)."""
    s = _Offered()
    one, two = _answers(s.alice, s.offer, kind, s.escrow.did)
    return s.revoked_over(one, two, [], stamped=stamped)


def _revocation(held: list[bytes]) -> bytes:
    return next(e for e in held if verify_statement(e).body == "key_revocation")


@pytest.mark.req("ATT-025", "ATT-013", "KEY-009", "ATT-022")
@pytest.mark.parametrize("kind", _KINDS)
def test_a_third_party_given_a_witnessed_answer_pair_by_gossip_convicts_as_bobs_view_does(kind: str) -> None:
    """E stamped K's two answers to Bob's offer, then P revoked K back over them. Carol's peer takes the proof
    by gossip from Bob's peer and P's revocation from P. Expect P faulty there as in Bob's view and his
    peer's. Before, Carol's peer could not read the Accept's or Reject's witnessing escrow, dropped E's Stamp
    and spared P."""
    clock, alice, bobs, held, proof = _witnessed_answers(kind)
    assert alice.principal.did in _view(clock, held, proof, trusting=(ESCROW,)).faulty()
    assert alice.principal.did in bobs.reputation.faulty()
    carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)
    assert gossip.swap(carols, bobs, bobs.did) == [alice.did]
    carols.verifier.accept(_revocation(held))  # P shows its revocation where it wants to be spared
    assert alice.principal.did in carols.reputation.faulty()


@pytest.mark.req("ATT-025", "ATT-013", "KEY-009")
@pytest.mark.parametrize("kind", _KINDS)
def test_an_unwitnessed_answer_pair_by_gossip_spares_as_bobs_view_does(kind: str) -> None:
    """E never stamped the pair: P's revocation disowns it, and every view spares P -- the offer travelling
    with the proof convicts no one by itself."""
    clock, alice, bobs, held, proof = _witnessed_answers(kind, stamped=False)
    assert alice.principal.did not in _view(clock, held, proof, trusting=(ESCROW,)).faulty()
    assert alice.principal.did not in bobs.reputation.faulty()
    carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)
    gossip.swap(carols, bobs, bobs.did)
    assert verify_statement(_revocation(held)).digest in carols.verifier.statements  # it spares: ATT-024
    assert alice.did in carols.reputation.faulty()
    assert alice.principal.did not in carols.reputation.faulty()


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every envelope whose signature :mod:`a2a_coop.protocol.forks` verifies from now on, its map of those
    verified emptied (the stories of this file sign the same envelopes)."""
    verified: list[bytes] = []
    monkeypatch.setattr(forks, "_proof_statements", {})

    def counted(envelope: bytes, **kw: object) -> VerifiedStatement:
        verified.append(envelope)
        return verify_statement(envelope)

    monkeypatch.setattr(forks, "verify_statement", counted)
    return verified


@pytest.mark.req("ATT-025", "ATT-024", "ATT-013")
def test_a_held_proofs_statements_are_verified_once_across_swaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a swap sends with a proof (ATT-024's revocations, ATT-025's Stamps) and the view's verdict on it
    (ATT-013 (b)) read the proof's two statements at every swap: their signatures are verified once, then
    read from a bounded map. Expect the second and third swaps' sends, and the verdicts, to verify none."""
    clock, alice, bobs, _, proof = _witnessed_answers("accept-reject")
    verified = _counting(monkeypatch)
    sent = gossip.outgoing(bobs)
    assert alice.principal.did in bobs.reputation.faulty()
    assert sorted(verified) == sorted([proof.first, proof.second])
    for _ in range(2):
        assert gossip.outgoing(bobs) == sent
        clock.advance(60_000)  # a view computed again
        assert alice.principal.did in bobs.reputation.faulty()
    assert len(verified) == 2


def test_the_map_of_verified_proof_statements_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """At its bound the map drops the statement verified first, which is verified again when read."""
    monkeypatch.setattr(forks, "PROOF_STATEMENTS_KEPT", 2)
    verified = _counting(monkeypatch)
    clock = FixedClock()
    alice = Party("alice", clock)
    offer = Party("bob", clock).offer(alice, alice.proposal())
    one, two, three = (alice.reject(offer, f"no {n}").envelope for n in range(3))
    forks.proof_statements(ForkProof(one, two))
    forks.proof_statements(ForkProof(two, three))  # one is dropped: verified first
    assert len(forks._proof_statements) == 2
    forks.proof_statements(ForkProof(two, three))
    assert verified == [one, two, three]
    forks.proof_statements(ForkProof(one, three))
    assert verified == [one, two, three, one]


@pytest.mark.req("ATT-025", "ATT-013")
def test_the_answered_offer_travels_on_with_the_proof_to_a_fourth_peer() -> None:
    """Carol's peer, which never held Bob's offer as a statement, passes the proof on to Dave's peer with the
    offer it kept, E's Mandate and E's Stamp: Dave's peer convicts P as Bob's and Carol's do."""
    clock, alice, bobs, held, _ = _witnessed_answers("accept-reject")
    carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)
    gossip.swap(carols, bobs, bobs.did)
    offer = next(verify_statement(e) for e in held if verify_statement(e).body == "offer")
    assert offer.digest not in carols.verifier.statements  # no statement: it moves no negotiation
    assert offer.digest in carols.verifier.shown_statements
    daves = trusting(make_peer(Party("dave", clock), clock), ESCROW)
    gossip.swap(daves, carols, carols.did)
    for peer in (carols, daves):
        peer.verifier.accept(_revocation(held))
        assert alice.principal.did in peer.reputation.faulty()


@pytest.mark.req("ATT-025", "ATT-013")
@pytest.mark.parametrize("snapshot", [False, True])
def test_the_answered_offer_is_kept_across_a_restart(tmp_path: Path, snapshot: bool) -> None:
    """Carol's journaled peer restarts (replaying its journal, or from a snapshot) after the swap: the offer
    that named the answers' escrow is read back, and P stays faulty there (ATT-013: a proof's verdict kept
    across restarts)."""
    clock, alice, bobs, held, _ = _witnessed_answers("reject-reject")
    carol = Party("carol", clock)
    journal = Journal.open(tmp_path / "carol.db")
    carols = trusting(make_peer(carol, clock, journal=journal), ESCROW)
    gossip.swap(carols, bobs, bobs.did)
    carols.exchange(_revocation(held), [])  # P shows its revocation, as a request
    assert alice.principal.did in carols.reputation.faulty()
    if snapshot:
        assert carols.save_snapshot()
    journal.close()
    journal = Journal.open(tmp_path / "carol.db")
    restarted = trusting(make_peer(carol, clock, journal=journal, run=1), ESCROW)
    assert (restarted.resumed_from is not None) is snapshot
    assert alice.principal.did in restarted.reputation.faulty()
    journal.close()


@pytest.mark.req("ATT-025", "ATT-019")
def test_an_offer_the_answers_do_not_name_names_no_escrow_for_them() -> None:
    """A liar attaches to the unwitnessed pair an Offer naming its own escrow E2, and E2's Stamp of the pair:
    the answers name Bob's offer, not that one -- Carol's peer takes neither the Offer nor the Stamp and
    spares P as Bob's view does."""
    clock, alice, bobs, _, proof = _witnessed_answers("accept-reject", stamped=False)
    other, mallory = Party("other-escrow", clock), Party("mallory", clock)
    decoy = mallory.offer(alice, mallory.proposal(escrow=other.did))
    forged = other.sign("stamp", commitment_pb2.Stamp(statements=[verify_statement(proof.first).digest]))
    envelopes, proofs = gossip.outgoing(bobs)
    carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)
    carols.hold(mallory.setup)
    lying = [
        ForkProof(p.first, p.second, p.revocations, (decoy.envelope, *other.setup, forged.envelope))
        for p in proofs
    ]
    gossip.take(carols, envelopes, lying)
    assert forged.digest not in carols.verifier.statements
    assert not carols.verifier.shown_statements
    assert alice.did in carols.reputation.faulty()
    assert alice.principal.did not in carols.reputation.faulty()


def _forked(party: Party, sign: Callable[[int], VerifiedStatement]) -> tuple[bytes, bytes]:
    """Two statements ``sign`` makes at one seq of ``party``'s chain (an equivocation, section 6.8)."""
    writer = party.agent.writer
    seq, prev = writer.next_seq, writer.prev
    one = sign(1)
    party.agent.writer = ChainWriter(party.agent.key, next_seq=seq, prev=prev)
    return one.envelope, sign(2).envelope


def _witnessed_contract_fork(
    kind: str, *, stamped: bool = True
) -> tuple[FixedClock, Party, Peer, list[bytes], ForkProof]:
    """Bob's peer offers Alice a trade under escrow E, her key K accepts, E stamps the Accept; Bob's peer
    delivers; then K forks its chain with two statements of the contract of ``kind`` (two Deliveries, or two
    Receipts of Bob's Delivery), E stamps the pair (when ``stamped``), P revokes K back over both and E stamps
    the revocation. Returns as ``_Offered.revoked_over``."""
    s = _Offered()
    clock, alice, bob, escrow, bobs, offer = s.clock, s.alice, s.bob, s.escrow, s.bobs, s.offer
    accept = alice.accept(offer)
    accepted = escrow.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest]))
    replies = bobs.on_replies([*alice.setup, accept.envelope, accepted.envelope])
    clock.advance(1_000)
    (delivered,) = [vs for vs in replies if vs.body == "delivery"] or bobs.perform(offer.negotiation_id)
    clock.advance(1_000)
    if kind == "delivery":
        one, two = _forked(alice, lambda n: alice.deliver(accept, bob, item_index=n))
    else:
        receipt = lambda n: alice.sign(  # noqa: E731
            "receipt",
            commitment_pb2.Receipt(delivery=delivered.digest, rating=50 * n),
            audience=bob.did,
            negotiation_id=offer.negotiation_id,
        )
        one, two = _forked(alice, receipt)
    shown = [accept.envelope, accepted.envelope, delivered.envelope]
    return s.revoked_over(one, two, shown, stamped=stamped)


@pytest.mark.req("ATT-025", "ATT-013", "KEY-009")
@pytest.mark.parametrize("kind", ["delivery", "receipt"])
def test_a_third_party_given_a_witnessed_contract_fork_by_gossip_convicts_as_bobs_view_does(
    kind: str,
) -> None:
    """K's two Deliveries (or Receipts) at one seq, stamped by the contract's escrow E before P's revocation:
    Carol's peer, given the proof by gossip with the contract's Accept and Bob's offer (and his Delivery,
    which the Receipts name), reads E as their witnessing escrow and convicts P as Bob's view does. Before,
    it could not read it -- their negotiation is not held there -- and spared P."""
    clock, alice, bobs, held, proof = _witnessed_contract_fork(kind)
    assert alice.principal.did in _view(clock, held, proof, trusting=(ESCROW,)).faulty()
    assert alice.principal.did in bobs.reputation.faulty()
    carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)
    assert gossip.swap(carols, bobs, bobs.did) == [alice.did]
    carols.verifier.accept(_revocation(held))
    assert alice.principal.did in carols.reputation.faulty()
    bodies = sorted(vs.body for vs in carols.verifier.shown_statements.values())
    assert bodies == (["accept", "offer"] if kind == "delivery" else ["accept", "delivery", "offer"])


@pytest.mark.req("ATT-025", "ATT-013", "KEY-009")
@pytest.mark.parametrize("kind", ["delivery", "receipt"])
def test_an_unwitnessed_contract_fork_by_gossip_spares_as_bobs_view_does(kind: str) -> None:
    """E never stamped the pair: every view spares P."""
    clock, alice, bobs, held, proof = _witnessed_contract_fork(kind, stamped=False)
    assert alice.principal.did not in _view(clock, held, proof, trusting=(ESCROW,)).faulty()
    assert alice.principal.did not in bobs.reputation.faulty()
    carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)
    gossip.swap(carols, bobs, bobs.did)
    assert alice.did in carols.reputation.faulty()
    assert alice.principal.did not in carols.reputation.faulty()


def reject_after_a_counter_elsewhere() -> tuple[FixedClock, Party, Peer, list[bytes], ForkProof]:
    """K counters Bob's offer (naming E) under E2, which stamps the Counter, then rejects the same offer; E
    stamps the Reject; P revokes K back over both, and E and E2 stamp the revocation. Bob's peer holds it
    all and the proof. Returns as ``_Offered.revoked_over`` (what a view holds: all but the Reject)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow, other = Party("escrow", clock), Party("escrow-2", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    bobs = make_peer(bob, clock, context=[*escrow.setup, *other.setup])
    offer = bobs.propose(alice.did, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=other.did))
    reject = alice.reject(offer, "no")
    clock.advance(1_000)
    stamps = [
        other.sign("stamp", commitment_pb2.Stamp(statements=[counter.digest])),
        escrow.sign("stamp", commitment_pb2.Stamp(statements=[reject.digest])),
    ]
    clock.advance(1_000)
    back = identity_pb2.KeyRevocation(key=alice.did, effective_ms=counter.issued_at_ms - 1, reason="over it")
    revocation = alice.principal.sign("key_revocation", back)
    clock.advance(CLOCK_TOLERANCE_MS)  # E2's Stamp of it past the clock tolerance after E's of the Reject
    later = [s.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest])) for s in (escrow, other)]
    held = [*alice.setup, *bob.setup, *escrow.setup, *other.setup, binding.envelope, offer.envelope]
    held += [
        counter.envelope,
        *(s.envelope for s in stamps),
        revocation.envelope,
        *(s.envelope for s in later),
    ]
    for env in held:
        if verify_statement(env).digest not in bobs.verifier.statements:
            bobs.verifier.accept(env)
    proof = ForkProof(counter.envelope, reject.envelope)
    assert bobs.verifier.take_fork_proof(proof) is not None
    return clock, alice, bobs, held, proof


@pytest.mark.req("ATT-025", "KEY-009", "ATT-013")
def test_a_reject_after_a_counter_under_another_escrow_is_witnessed_by_the_offers_escrow() -> None:
    """:func:`reject_after_a_counter_elsewhere`: the Reject's witnessing escrow is E, which the offer it
    answers names -- K's own word --, in Bob's view as in Carol's, given the proof by gossip with the offer:
    both convict P. Before, Bob's view read the Reject's escrow from the negotiation's outstanding offer --
    K's Counter, E2 -- held the Reject unwitnessed and spared P, where a receiver reading the Reject's link
    convicted: the order of K's answers chose the escrow (the JavaScript verifier reads a transcript of it
    alike: tests/test_js_verifier.py, reject-after-a-counter-elsewhere)."""
    clock, alice, bobs, held, proof = reject_after_a_counter_elsewhere()
    both = (ESCROW, Party("escrow-2", clock).did)  # Bob's, and Carol's, trade under E and E2 (ATT-013 (d))
    assert alice.principal.did in _view(clock, held, proof, trusting=both).faulty()
    assert alice.principal.did in bobs.reputation.faulty()
    carols = trusting(make_peer(Party("carol", clock), clock), *both)
    gossip.swap(carols, bobs, bobs.did)
    carols.verifier.accept(_revocation(held))
    assert alice.principal.did in carols.reputation.faulty()


@pytest.mark.req("ATT-025", "ATT-023")
def test_only_the_first_ten_envelopes_a_proof_carries_are_read() -> None:
    """Two Stamps, their Mandates and six links at most travel with a proof: what a sender puts beyond the
    first ten envelopes is dropped unread. The links and Stamp of a Receipt pair (three links) read behind
    ten other envelopes convict no one; read first, they convict P as Bob's view does."""
    clock, alice, bobs, held, _ = _witnessed_contract_fork("receipt")
    envelopes, proofs = gossip.outgoing(bobs)
    (sent,) = proofs
    assert len(sent.stamps) == 5  # the Delivery, the Accept, the offer; E's Mandate, E's Stamp
    junk = tuple(Party(f"junk-{n}", clock).mandate_vs.envelope for n in range(10))
    for carried, convicts in (((*junk, *sent.stamps), False), ((*sent.stamps, *junk), True)):
        carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)
        gossip.take(carols, envelopes, [ForkProof(sent.first, sent.second, sent.revocations, carried)])
        carols.verifier.accept(_revocation(held))
        assert (alice.principal.did in carols.reputation.faulty()) is convicts
