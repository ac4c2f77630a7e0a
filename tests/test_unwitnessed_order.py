"""KEY-009 (c) for statements no escrow can witness: every order a view of evidence hears them in.

A view of evidence holds a statement of a negotiation that a held KeyRevocation or KeyRotation would reject
whichever it heard first, and derives whether it counts (``disowned``) from the statements it holds. Before,
it did so only for a statement with a witnessing escrow: an Offer or Counter naming none, and any statement of
a negotiation without one, was refused (`KEY_REVOKED`, or `EQUIVOCATION` / `CHAIN_BROKEN` as a fork of a key's
own revocation, KEY-012) by a view that heard the revocation first and held, disowned, by one that heard it
after -- and with it went whatever followed: the counterparty's Accept of it (its offer unknown), his
Delivery. Disowned in every view, the statement weighed the same; whether its negotiation moved, and which of
the counterparty's statements a view held, was the order's -- the revocation's sender's -- choice.

Each test feeds a fresh view every order of a small set of statements (itertools.permutations, each statement
after what it names, as a bundle places it) through the real verifier, and asserts that every order ends in
one outcome: nothing refused, the same statements held, the same negotiation states, the same ones disowned,
the same fork proofs. The reading before (a statement no escrow can witness refused) is patched back in to
show the orders did differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import permutations

import pytest

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party
from conformance.generate_vectors.key_time import forked_own_revocation

Outcome = tuple[
    tuple[str, ...],  # refusals: "body CODE requirement"
    frozenset[bytes],  # the digests held
    tuple[tuple[bytes, str, bool], ...],  # per negotiation: id, state, a contract formed
    frozenset[bytes],  # the digests held that are disowned
    frozenset[str],  # keys with a fork proof kept (KEY-013)
]


def _orders(
    items: Sequence[VerifiedStatement], after: Sequence[tuple[VerifiedStatement, VerifiedStatement]]
) -> Iterator[tuple[VerifiedStatement, ...]]:
    """Every permutation of ``items`` in which each ``(later, first)`` of ``after`` comes in that order."""
    for order in permutations(items):
        place = {vs.digest: i for i, vs in enumerate(order)}
        if all(place[later.digest] > place[first.digest] for later, first in after):
            yield order


def _outcome(setup: Iterable[bytes], order: Iterable[VerifiedStatement], **kw: object) -> Outcome:
    v = Verifier(complete_chains=False, **kw)  # type: ignore[arg-type]
    for env in setup:
        v.accept(env)
    refused = []
    for vs in order:
        try:
            v.accept_statement(vs)
        except CoopError as e:
            refused.append(f"{vs.body} {e.code} {e.requirement}")
    held = [vs for vs in v.statements.values() if vs.body != "mandate"]
    return (
        tuple(refused),
        frozenset(vs.digest for vs in held),
        tuple(sorted((nid, n.state.name, n.contract is not None) for nid, n in v.negotiations.by_id.items())),
        frozenset(vs.digest for vs in held if v.disowned(vs)),
        frozenset(v.own_revocation_forks),
    )


def _every_order(
    setup: Sequence[bytes],
    items: Sequence[VerifiedStatement],
    after: Sequence[tuple[VerifiedStatement, VerifiedStatement]],
    **kw: object,
) -> dict[Outcome, list[str]]:
    """Each distinct outcome of a view fed ``setup`` then an order of ``items``, with one order giving it."""
    seen: dict[Outcome, list[str]] = {}
    count = 0
    for order in _orders(items, after):
        count += 1
        seen.setdefault(_outcome(setup, order, **kw), [vs.body for vs in order])
    assert count >= len(items)  # the orders ran: the revocation at every place at least
    return seen


def _before_nowit22(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reading before: a view holds what a revocation would reject only with a witnessing escrow."""
    monkeypatch.setattr(
        Verifier,
        "_kept_as_evidence",
        lambda self, vs: (
            vs is not None
            and self.evidence_view
            and (vs.body == "mandate" or bool(self.witnessing_escrow(vs)))
        ),
    )


def _revoked_story() -> tuple[
    list[bytes],
    list[VerifiedStatement],
    list[tuple[VerifiedStatement, VerifiedStatement]],
    dict[str, VerifiedStatement],
]:
    """Alice's key, bound to her principal, offers Bob a trade naming no escrow at the time her principal
    revokes it from; Bob accepts and delivers. Alice also offers one naming an escrow, which Bob rejects."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="stolen"),
    )
    bare = alice.offer(bob)  # naming no escrow
    escrowed = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(1_000)
    accept = bob.accept(bare)
    reject = bob.reject(escrowed)
    clock.advance(1_000)
    delivery = bob.deliver(accept, alice)
    items = [revocation, bare, accept, delivery, escrowed, reject]
    after = [(accept, bare), (delivery, accept), (reject, escrowed)]
    named = {"bare": bare, "accept": accept, "delivery": delivery, "escrowed": escrowed, "reject": reject}
    return [*alice.setup, *bob.setup, binding.envelope], items, after, named


@pytest.mark.req("KEY-009", "KEY-004")
def test_a_revoked_keys_offer_naming_no_escrow_moves_its_negotiation_in_every_order() -> None:
    """Every order of the principal's revocation among Alice's two Offers and Bob's answers (60 orders):
    nothing refused, every statement held, Bob's contract formed and his Delivery held in each, Alice's two
    Offers disowned in each, Bob's statements not."""
    setup, items, after, named = _revoked_story()
    seen = _every_order(setup, items, after)
    assert len(seen) == 1, seen
    ((refused, held, negotiations, disowned, _),) = seen
    assert refused == () and held >= {vs.digest for vs in items}
    assert disowned == {named["bare"].digest, named["escrowed"].digest}
    states = {nid: (state, contract) for nid, state, contract in negotiations}
    assert states[named["bare"].negotiation_id][1] and not states[named["escrowed"].negotiation_id][1]


@pytest.mark.req("KEY-009", "KEY-004")
def test_before_a_revoked_keys_offer_naming_no_escrow_moved_its_negotiation_by_the_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same orders read as before: the Offer naming no escrow refused when the revocation came first, and
    Bob's Accept and Delivery with it -- while the escrowed Offer, held by KEY-009 (c), was not: the test
    above tells the readings apart."""
    _before_nowit22(monkeypatch)
    setup, items, after, named = _revoked_story()
    seen = _every_order(setup, items, after)
    assert len(seen) == 2, seen
    refusals = {outcome[0] for outcome in seen}
    negotiation_unknown = ("accept UNKNOWN_NEGOTIATION NEG-002", "delivery UNKNOWN_NEGOTIATION NEG-002")
    assert refusals == {(), ("offer KEY_REVOKED KEY-004", *negotiation_unknown)}
    assert all(named["escrowed"].digest in outcome[1] for outcome in seen)  # (c) held the escrowed one


@pytest.mark.req("KEY-009", "KEY-005")
def test_a_counter_naming_no_escrow_above_a_rotation_moves_its_negotiation_in_every_order() -> None:
    """Alice's key offers once, then rotates (its chain ends there); after it, the key counters Bob's
    escrowed Offer naming no escrow, and Bob accepts the Counter. Every order of the rotation among them: all
    held, the contract formed, the Counter alone disowned (her Offer below the rotation counts)."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    own = alice.offer(bob)
    opening = bob.offer(alice, bob.proposal(escrow=escrow.did))
    clock.advance(1_000)
    rotation = alice.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("alice-2", clock).did), mandate=b""
    )
    counter = alice.counter(opening, alice.proposal())  # naming no escrow: none can witness it
    clock.advance(1_000)
    agreed = bob.accept(counter)
    items = [own, rotation, opening, counter, agreed]
    after = [(counter, opening), (agreed, counter)]
    setup = [*alice.setup, *bob.setup]
    seen = _every_order(setup, items, after)
    assert len(seen) == 1, seen
    ((refused, held, negotiations, disowned, _),) = seen
    assert refused == () and held >= {vs.digest for vs in items}
    assert disowned == {counter.digest}
    assert dict((nid, contract) for nid, _, contract in negotiations)[opening.negotiation_id]
    _before_nowit22_check(setup, items, after, counter)


def _before_nowit22_check(
    setup: Sequence[bytes],
    items: Sequence[VerifiedStatement],
    after: Sequence[tuple[VerifiedStatement, VerifiedStatement]],
    refused: VerifiedStatement,
) -> None:
    """The same orders read as before differ: some view refuses ``refused``."""
    with pytest.MonkeyPatch.context() as mp:
        _before_nowit22(mp)
        seen = _every_order(setup, items, after)
    assert len(seen) > 1
    assert any(refused.digest not in outcome[1] for outcome in seen)


@pytest.mark.req("KEY-009", "KEY-012", "KEY-013")
def test_a_fork_of_a_keys_own_revocation_naming_no_escrow_is_held_with_its_proof_in_every_order() -> None:
    """A thief holding Alice's key signs its own revocation at the seq of her second Offer (naming no escrow);
    Bob accepts her third. Every order of the revocation, her second and third Offers and Bob's Accept: all
    held, the fork's proof kept, her second and third Offers disowned (R reaches them from its place, KEY-011
    (a)), Bob's contract formed. Before, a view that heard the revocation first refused her second Offer
    `EQUIVOCATION` and her third `CHAIN_BROKEN` (KEY-012), and Bob's Accept with it."""
    alice, bob, (binding, first, second, third), fork = forked_own_revocation()
    accept = bob.accept(third)
    items = [fork, second, third, accept]
    after = [(third, second), (accept, third)]
    setup = [*alice.setup, *bob.setup, binding.envelope, first.envelope]
    seen = _every_order(setup, items, after)
    assert len(seen) == 1, seen
    ((refused, held, negotiations, disowned, forks),) = seen
    assert refused == () and held >= {vs.digest for vs in items}
    # the revocation too: a key's statement at or after the time its own revocation takes effect
    assert disowned == {fork.digest, second.digest, third.digest} and forks == {alice.did}
    assert dict((nid, contract) for nid, _, contract in negotiations)[third.negotiation_id]
    _before_nowit22_check(setup, items, after, second)


@pytest.mark.req("KEY-009", "MND-012")
def test_an_offer_under_a_revoked_principals_mandate_naming_no_escrow_is_held_in_every_order() -> None:
    """Alice's principal revokes its own key; her Offer naming no escrow, signed after, is rejected by
    MND-012. Every order of the revocation, the Offer and Bob's Accept: all held, the Offer disowned."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=clock.now_ms)
    )
    offer = alice.offer(bob)
    clock.advance(1_000)
    accept = bob.accept(offer)
    items = [revocation, offer, accept]
    after = [(accept, offer)]
    setup = [*alice.setup, *bob.setup]
    seen = _every_order(setup, items, after)
    assert len(seen) == 1, seen
    ((refused, held, _, disowned, _),) = seen
    assert refused == () and held >= {vs.digest for vs in items}
    assert disowned == {offer.digest, revocation.digest}  # the principal key's own, from its time
    _before_nowit22_check(setup, items, after, offer)


@pytest.mark.req("KEY-009", "KEY-004")
def test_a_live_receiver_and_an_escrow_still_refuse_it_by_the_order() -> None:
    """Live receivers and escrows taking evidence stay order-bound, as for any revocation: Bob's peer refuses
    Alice's Offer naming no escrow heard after her principal's revocation (`KEY_REVOKED`) and holds it heard
    before; so does an escrow taking evidence. A view of evidence holds it in both orders."""
    setup, items, _, named = _revoked_story()
    revocation, bare = items[0], named["bare"]
    bob = bare.header.audience
    for kw in ({"me": bob}, {"evidence_view": False}):
        first = _outcome(setup, [revocation, bare], **kw)
        assert first[0] == ("offer KEY_REVOKED KEY-004",), kw
        last = _outcome(setup, [bare, revocation], **kw)
        assert last[0] == () and bare.digest in last[1], kw  # heard before: held (the order decides)
    for order in ([revocation, bare], [bare, revocation]):  # a view of evidence: held either way
        assert _outcome(setup, order)[0] == ()
