"""links32, ATT-025 and KEY-009: the witnessing escrow of a Delivery of a contract NEG-017 displaced.

Bob's key K offered under escrow E1, Alice countered under E2, K accepted the Counter (E2 witnessed that
contract), then Alice accepted Bob's offer and E1 witnessed it: the line is cut back to Bob's offer, its
contract the one under E1 (NEG-017), the one under E2 displaced. K then forks its chain with two Deliveries
naming a contract -- the displaced one under E2, or the standing one under E1 --, the escrow of that
contract stamps the pair, and K's principal P revokes K back over both. A third party given the proof by
gossip reads the Deliveries' escrow from their links (the contract each names, and what that one accepts);
the parties' views read it from the same statements, which they hold -- K's own word, as for a Reject
(F107) --, so no reading convicts P where another spares it.
"""

from __future__ import annotations

import pytest
from peers import make_peer, trusting
from test_attack27b_thief_frames_principal import _view
from test_gossip_answer_witness import _forked

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import gossip
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.testing import FixedClock, Party

_DISPLACED, _STANDING = "displaced", "standing"


def _displaced_story(
    names: str, pair_first: bool
) -> tuple[FixedClock, Party, dict[str, Party], list[bytes], ForkProof, tuple[bytes, ...]]:
    """The story above: K's two Deliveries name the ``names`` contract, whose escrow stamps them before it
    stamps P's revocation (``pair_first``: more than the clock tolerance before, ATT-013 (f)) or after; both
    escrows stamp the revocation. Returns (clock, Bob,
    the two escrows by name, everything a party's view holds, the pair as a proof, what a swap carries with
    it: the links to the named contract's escrow, its Mandate and its Stamp of the pair)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrows = {"e1": Party("escrow", clock), "e2": Party("escrow-2", clock)}
    e1, e2 = escrows["e1"], escrows["e2"]
    binding = bob.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    offer = bob.offer(alice, bob.proposal(escrow=e1.did))
    clock.advance(1_000)
    counter = alice.counter(offer, alice.proposal(escrow=e2.did))
    clock.advance(1_000)
    by_bob = bob.accept(counter)
    under_e2 = e2.sign("stamp", commitment_pb2.Stamp(statements=[by_bob.digest]))
    clock.advance(1_000)
    by_alice = alice.accept(offer)  # witnessed by E1: it displaces Bob's contract under E2 (NEG-017)
    under_e1 = e1.sign("stamp", commitment_pb2.Stamp(statements=[by_alice.digest]))
    clock.advance(1_000)
    contract, escrow, links = (
        (by_bob, e2, (by_bob, counter)) if names == _DISPLACED else (by_alice, e1, (by_alice, offer))
    )
    one, two = _forked(bob, lambda n: bob.deliver(contract, alice, item_index=n))
    clock.advance(1_000)
    digests = [verify_statement(e).digest for e in (one, two)]
    back = identity_pb2.KeyRevocation(
        key=bob.did, effective_ms=verify_statement(one).issued_at_ms - 1, reason="over it"
    )
    revocation = bob.principal.sign("key_revocation", back)
    clock.advance(1_000)

    def stamp_pair() -> VerifiedStatement:
        return escrow.sign("stamp", commitment_pb2.Stamp(statements=digests))

    if pair_first:
        pair = stamp_pair()
        clock.advance(CLOCK_TOLERANCE_MS + 1)  # E1 and E2 as far apart as their clocks order (ATT-013 (f))
    revoked = [e.sign("stamp", commitment_pb2.Stamp(statements=[revocation.digest])) for e in (e1, e2)]
    if not pair_first:
        pair = stamp_pair()
    stamps = [pair, *revoked] if pair_first else [*revoked, pair]
    held = [*alice.setup, *bob.setup, *e1.setup, *e2.setup, binding.envelope, offer.envelope]
    held += [counter.envelope, by_bob.envelope, under_e2.envelope, by_alice.envelope, under_e1.envelope]
    held += [revocation.envelope, *(vs.envelope for vs in stamps)]
    carried = (*(vs.envelope for vs in links), escrow.mandate_vs.envelope, pair.envelope)
    return clock, bob, escrows, held, ForkProof(one, two), carried


def displaced_delivery_fork() -> tuple[Party, list[bytes], ForkProof]:
    """K's Deliveries of the displaced contract, stamped by its escrow E2 before P's revocation: (Bob, what a
    party's view holds, the pair) -- also read by the JavaScript verifier (tests/test_js_verifier.py)."""
    _, bob, _, held, proof, _ = _displaced_story(_DISPLACED, True)
    return bob, held, proof


def _revocation(held: list[bytes]) -> bytes:
    return next(e for e in held if verify_statement(e).body == "key_revocation")


def _parties_view_convicts(
    clock: FixedClock, held: list[bytes], proof: ForkProof, trust: tuple[str, ...]
) -> bool:
    view = _view(clock, held, proof, trusting=trust)
    return Party("bob", clock).principal.did in view.faulty()


def _bindings(held: list[bytes]) -> list[bytes]:
    """What a swap carries beside the proof: the Checkpoints and Mandates (K's binding to P among them)."""
    return [e for e in held if verify_statement(e).body in ("mandate", "checkpoint")]


def _third_party_convicts(
    clock: FixedClock, held: list[bytes], proof: ForkProof, carried: tuple[bytes, ...], trust: tuple[str, ...]
) -> bool:
    """Carol's peer, trading under ``trust``, given the proof by gossip with ``carried``, then P's revocation
    and each escrow's Stamp of it (P shows them where it wants to be spared)."""
    carols = trusting(make_peer(Party("carol", clock), clock), *trust)
    gossip.take(carols, _bindings(held), [ForkProof(proof.first, proof.second, (), carried)])
    carols.verifier.accept(_revocation(held))
    for env in held:
        vs = verify_statement(env)
        if vs.body == "stamp" and verify_statement(_revocation(held)).digest in vs.statement.stamp.statements:
            carols.verifier.accept(env)
    return Party("bob", clock).principal.did in carols.reputation.faulty()


@pytest.mark.req("ATT-025", "KEY-009", "NEG-017", "ATT-013")
@pytest.mark.parametrize("names", [_DISPLACED, _STANDING])
@pytest.mark.parametrize("pair_first", [True, False])
def test_no_reading_of_a_displaced_contracts_delivery_convicts_where_another_spares(
    names: str, pair_first: bool
) -> None:
    """Every view trusts both escrows (the parties named both). Expect the parties' view and a third party
    given the proof by gossip to agree on P in every case: the Deliveries' escrow is the one the contract
    they name leads to -- E2 for the displaced contract, E1 for the standing one --, so P is convicted
    exactly where that escrow stamped the pair before it stamped P's revocation. Before, the parties' views
    read E1 (the standing contract's) for Deliveries naming the displaced contract, which E1 never stamps
    (WRONG_PARTY): they spared P where the third party, reading E2 from the links, convicted it."""
    clock, _, escrows, held, proof, carried = _displaced_story(names, pair_first)
    trust = tuple(p.did for p in escrows.values())
    assert _parties_view_convicts(clock, held, proof, trust) is pair_first
    assert _third_party_convicts(clock, held, proof, carried, trust) is pair_first


@pytest.mark.req("ATT-025", "KEY-009", "NEG-017")
@pytest.mark.parametrize("names", [_DISPLACED, _STANDING])
def test_a_delivery_is_witnessed_by_the_escrow_of_the_contract_it_names(names: str) -> None:
    """Which escrow each view reads: the parties' view, holding the whole negotiation (its contract the
    standing one under E1), reads the Deliveries' witnessing escrow from the contract they name, as the third
    party reads it from their links."""
    clock, _, escrows, held, proof, carried = _displaced_story(names, True)
    v = EvidenceVerifier()
    for env in held:
        v.accept(env)
    delivery: VerifiedStatement = verify_statement(proof.first)
    expected = escrows["e2" if names == _DISPLACED else "e1"].did
    assert v.witnessing_escrow(delivery) == expected
    carols = make_peer(Party("carol", clock), clock)
    gossip.take(carols, _bindings(held), [ForkProof(proof.first, proof.second, (), carried)])
    assert carols.verifier.witnessing_escrow(delivery) == expected
