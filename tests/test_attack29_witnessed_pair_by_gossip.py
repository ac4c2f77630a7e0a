"""redteam29, ATT-025: a pair its escrow witnessed before the principal's revocation convicts the principal in
a view the proof reached by gossip as in the parties' views (ATT-013 (b)).

ATT-013 (b) lets a principal P revoke its key K back over K's two answers and be spared, at a price: what K
signed since that no escrow witnessed first is disowned, and "a pair an escrow witnessed before it stamped
the revocation is P's word and still convicts". Whether a statement was witnessed first is read from the
witnessing escrow's Stamps the view holds. A swap (ATT-011) carried the proof, Checkpoints and Mandates --
never a Stamp of the proof's statements -- so a third party that took the proof by gossip, and P's
revocation from P (who shows it wherever it wants to be spared: the context of its new key's requests, a
bundle, ATT-014), held the escrowed pair unwitnessed and spared P, while Bob's view and the escrow's, which
held the Stamp, convicted it. Who chose the values: P chose the revocation's effective_ms and whom to show
it; the Stamps are E's, but which views held them was the gossip's choice, i.e. no one's. What P gained:
its principal's standing everywhere but in the views of the parties it dealt with.

Now a proof travels with its statements' witnessing escrows' earliest Stamps the sender holds, each after
its Mandate (ATT-025, ``ForkProof.stamps``); the receiver takes only a Stamp naming one of the two
statements signed by that statement's witnessing escrow as it reads it, and checks it as any statement --
so what a sender attaches can make it convict only on the escrow's own word, as the parties' views do.
"""

from __future__ import annotations

import pytest
from peers import make_peer, trusting
from test_attack27b_thief_frames_principal import ESCROW, _countered_twice, _escrowed_pair, _view

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, service_pb2
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import gossip
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport.proofs import proof_message, proof_of


def _holder(clock: FixedClock, held: list[bytes], proof: ForkProof) -> Peer:
    """A peer holding what Bob's view holds (but his offer, addressed to Alice: a peer takes it only as
    her) and the proof."""
    holder = trusting(make_peer(Party("holder", clock), clock), ESCROW)
    for env in held:
        if verify_statement(env).body != "offer":
            holder.verifier.accept(env)
    assert holder.verifier.take_fork_proof(proof) is not None
    return holder


def _revocation(held: list[bytes]) -> bytes:
    return next(e for e in held if verify_statement(e).body == "key_revocation")


@pytest.mark.req("ATT-013", "ATT-025", "ATT-011", "KEY-009")
def test_a_third_party_given_the_witnessed_pair_by_gossip_convicts_the_principal_as_bobs_view_does() -> None:
    """E stamped K's two Counters, then P revoked K back over them. Carol's peer takes the proof by gossip
    and P's revocation from P. Expect P faulty there as in Bob's view. Before ATT-025 Carol's peer held the
    pair unwitnessed and spared P."""
    clock, alice, _, held, proof = _escrowed_pair(stamped=True)
    bobs = _view(clock, held, proof, trusting=(ESCROW,))  # the parties' view: it holds E's Stamp of the pair
    assert alice.principal.did in bobs.faulty()
    holder = _holder(clock, held, proof)
    carols = trusting(make_peer(Party("carol", clock), clock), ESCROW)  # Carol trades under E too
    assert gossip.swap(carols, holder, holder.did) == [alice.did]  # the proof travels (ATT-011)
    assert alice.principal.did in carols.reputation.faulty()  # bound to K by the gossiped Checkpoint
    carols.verifier.accept(_revocation(held))  # P shows its revocation where it wants to be spared
    assert alice.principal.did in carols.reputation.faulty()


@pytest.mark.req("ATT-025", "ATT-023")
def test_the_escrows_stamp_of_the_pair_travels_with_the_proof_within_the_swaps_bytes() -> None:
    """What the holder sends with the proof: E's Mandate, then E's Stamp naming both Counters (one Stamp,
    sent once), counted in the swap's 60,000 bytes; on the wire in ``stamps``, which an older peer's message
    leaves empty."""
    clock, alice, _, held, proof = _escrowed_pair(stamped=True)
    holder = _holder(clock, held, proof)
    envelopes, proofs = gossip.outgoing(holder)
    (sent,) = [p for p in proofs if verify_fork_proof(p) == alice.did]
    bodies = [verify_statement(e) for e in sent.stamps]
    assert [b.body for b in bodies] == ["mandate", "stamp"]
    assert set(bodies[1].statement.stamp.statements) == {
        verify_statement(proof.first).digest,
        verify_statement(proof.second).digest,
    }
    assert bodies[1].mandate_digest == bodies[0].digest
    assert gossip.swap_bytes(sent) == len(sent.first) + len(sent.second) + sum(map(len, sent.stamps))
    assert sum(map(len, envelopes)) + sum(map(gossip.swap_bytes, proofs)) <= gossip.BUDGET_BYTES
    wire = service_pb2.GossipResponse(proofs=[proof_message(p) for p in proofs]).SerializeToString()
    (back,) = [proof_of(m) for m in service_pb2.GossipResponse.FromString(wire).proofs]
    assert back.stamps == sent.stamps
    assert proof_of(service_pb2.ForkProof(first=sent.first, second=sent.second)).stamps == ()


@pytest.mark.req("ATT-025", "ATT-024", "ATT-013", "KEY-009")
def test_a_pair_stamped_after_the_revocation_travels_and_still_spares_the_principal() -> None:
    """E stamped P's revocation first, then the Counters: disowned, P spared where it is all held. A peer
    holding nothing of E takes, from one swap, E's Mandate, the revocation, E's Stamp of it and E's Stamp of
    the pair -- and spares P as the holder does: the Stamps travel together, so the receiver orders them as
    E did (the Mandate first, else the Stamp of the revocation would be refused and the pair's convict)."""
    clock, alice, escrow, _, held, proof = _unwitnessed()
    # E's Stamp of the revocation, then (a second later) its Stamp of the pair
    first = next(verify_statement(e) for e in held if verify_statement(e).body == "stamp")
    clock.advance(1_000)
    pair = escrow.sign("stamp", commitment_pb2.Stamp(statements=_pair_digests(proof)))
    holder = _holder(clock, [*held, pair.envelope], proof)
    assert alice.principal.did not in holder.reputation.faulty()
    carols = make_peer(Party("carol", clock), clock)
    gossip.swap(carols, holder, holder.did)
    assert {pair.digest, first.digest} <= set(carols.verifier.statements)
    assert alice.did in carols.reputation.faulty()
    assert alice.principal.did not in carols.reputation.faulty()


def _unwitnessed() -> tuple[FixedClock, Party, Party, VerifiedStatement, list[bytes], ForkProof]:
    """:func:`_escrowed_pair` unstamped -- E never stamped the pair, P's revocation disowns it and spares P
    -- with the escrow E. Returns (clock, Alice, E, Bob's offer, what a view holds but the pair, the pair)."""
    clock, alice, escrow, setup, offer, one, two = _countered_twice()
    back = identity_pb2.KeyRevocation(key=alice.did, effective_ms=one.issued_at_ms - 1, reason="over it")
    revocation = alice.principal.sign("key_revocation", back)
    clock.advance(1_000)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest]))
    return (
        clock,
        alice,
        escrow,
        offer,
        [*setup, offer.envelope, revocation.envelope, stamp.envelope],
        ForkProof(one.envelope, two.envelope),
    )


def _forged(
    clock: FixedClock, alice: Party, held: list[bytes], proof: ForkProof, attached: tuple[bytes, ...]
) -> Peer:
    """The unwitnessed pair's holder passes the proof on with ``attached`` in its ``stamps``: a liar's
    swap. Carol's peer holds what Bob's view holds (but the offer to Alice). Expect P spared there, as in
    Bob's view holding ``attached`` too. Returns Carol's peer."""
    holder = _holder(clock, held, proof)
    carols = make_peer(Party("carol", clock), clock)
    carols.hold([e for e in held if verify_statement(e).body != "offer"])
    envelopes, proofs = gossip.outgoing(holder, exclude=carols.did)
    lying = [ForkProof(p.first, p.second, p.revocations, (*p.stamps, *attached)) for p in proofs]
    gossip.take(carols, envelopes, lying)
    assert alice.did in carols.verifier.forks
    assert alice.did in carols.reputation.faulty()
    assert alice.principal.did not in carols.reputation.faulty()
    bobs = _view(clock, [*held, *attached], proof)
    assert alice.principal.did not in bobs.faulty()
    return carols


def _pair_digests(proof: ForkProof) -> list[bytes]:
    return [verify_statement(e).digest for e in (proof.first, proof.second)]


@pytest.mark.req("ATT-025", "ATT-013", "KEY-009")
def test_a_stamp_of_the_pair_by_another_escrow_convicts_no_one() -> None:
    """The pair named escrow E, which never stamped it; a liar attaches a Stamp of it by E2 (a key of its
    own, E2's Mandate beside it). Expect Carol's peer to take neither -- E2 witnesses nothing for a Counter
    naming E -- and to spare P as Bob's view does."""
    clock, alice, _, _, held, proof = _unwitnessed()
    other = Party("other-escrow", clock)
    forged = other.sign("stamp", commitment_pb2.Stamp(statements=_pair_digests(proof)))
    carols = _forged(clock, alice, held, proof, (*other.setup, forged.envelope))
    assert forged.digest not in carols.verifier.statements
    assert other.mandate_vs.digest not in carols.verifier.statements  # cited by no Stamp taken


@pytest.mark.req("ATT-025", "ATT-019")
def test_a_stamp_of_another_statement_is_not_taken() -> None:
    """E's genuine Stamp of a third Counter of K -- not one of the proof's statements -- attached to the
    proof: not taken, and P spared."""
    clock, alice, escrow, offer, held, proof = _unwitnessed()
    third = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=20))
    forged = escrow.sign("stamp", commitment_pb2.Stamp(statements=[third.digest]))
    carols = _forged(clock, alice, held, proof, (forged.envelope,))
    assert forged.digest not in carols.verifier.statements


@pytest.mark.req("ATT-025", "KEY-004", "KEY-009")
def test_a_stamp_of_the_pair_by_a_revoked_escrow_key_convicts_no_one() -> None:
    """E's principal revoked E's key before the thief holding it stamped the pair. Carol's peer holds E's
    revocation: it refuses the Stamp (KEY-004) and spares P; Bob's view, holding it as evidence, holds it
    disowned, witnessing nothing (KEY-009 (d)), and spares P too."""
    clock, alice, escrow, _, held, proof = _unwitnessed()
    retired = identity_pb2.KeyRevocation(key=escrow.did, effective_ms=clock.now_ms, reason="stolen")
    held = [*held, escrow.principal.sign("key_revocation", retired).envelope]
    clock.advance(1_000)
    forged = escrow.sign("stamp", commitment_pb2.Stamp(statements=_pair_digests(proof)))
    carols = _forged(clock, alice, held, proof, (forged.envelope,))
    assert forged.digest not in carols.verifier.statements


@pytest.mark.req("ATT-025", "ATT-019")
def test_a_stamp_naming_a_statement_of_the_receivers_own_trade_is_not_taken() -> None:
    """E's Stamp of the pair names too Dave's Offer to Carol, which Carol's peer holds: taken from a swap,
    it would witness a statement of Carol's own trade at a time the swap's sender chose (ATT-019). Expect it
    dropped unread; the same Stamp naming the pair alone is taken -- and, E having stamped P's revocation
    first, spares P as Bob's view holding it does."""
    clock, alice, escrow, _, held, proof = _unwitnessed()
    dave = Party("dave", clock)
    carol = Party("carol", clock)
    holder = _holder(clock, held, proof)
    carols = make_peer(carol, clock)
    carols.hold([e for e in held if verify_statement(e).body != "offer"])
    offer = dave.offer(carol, dave.proposal(escrow=escrow.did))
    carols.exchange(offer.envelope, dave.setup)
    assert carol.did in carols.verifier.negotiations.get(offer.negotiation_id).parties
    mixed = escrow.sign("stamp", commitment_pb2.Stamp(statements=[*_pair_digests(proof), offer.digest]))
    envelopes, proofs = gossip.outgoing(holder, exclude=carols.did)
    lying = [ForkProof(p.first, p.second, p.revocations, (*p.stamps, mixed.envelope)) for p in proofs]
    gossip.take(carols, envelopes, lying)
    assert mixed.digest not in carols.verifier.statements
    assert alice.principal.did not in carols.reputation.faulty()
    clean = escrow.sign("stamp", commitment_pb2.Stamp(statements=_pair_digests(proof)))
    lying = [ForkProof(p.first, p.second, p.revocations, (*p.stamps, clean.envelope)) for p in proofs]
    gossip.take(carols, envelopes, lying)
    assert clean.digest in carols.verifier.statements
    assert alice.principal.did not in carols.reputation.faulty()  # witnessed after the revocation
    assert alice.principal.did not in _view(clock, [*held, clean.envelope], proof).faulty()
