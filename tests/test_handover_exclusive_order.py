"""ESC-022 (e) and NEG-009: an Accept a view took while a thief's ending made the contract holding the same
exclusive_key look finished weighs, once the view holds the hand-over, as in a view that heard the
hand-over first -- whatever order it heard them in.

Alice's offer to Bob, under exclusive_key X, bonded at escrow K1, formed a contract C1. K1 is stolen; its
principal revokes it and hands its contracts to K2. The thief upholds Alice's claim... no: Bob's -- it
ends C1 (BREACHED) with statements dated after the revocation. Alice then offers Carol the same X, naming no
escrow, and Carol accepts (A2): X looked free, C1 finished before A2. Once the hand-over is held the
thief's ending counts for nothing (``Verifier._rebuild_handed_over``): C1 is live again, and held X at A2's
place. A view that heard the hand-over before A2 refused A2 (``EXCLUSIVE_CONFLICT``, NEG-009); one that took
A2 first kept Carol's contract, and Alice held two live contracts under X -- the order decided (ESC-022
(e)'s Left open). Now a view that revives C1 derives Carol's negotiation again by the rules that count
(``Verifier._settle_exclusive``): A2 held, moving nothing, as a view that refused it holds nothing of it.

Who chose what: the thief the times and order of K1's statements, Alice and Carol the times of O2 and A2
(Alice's own choice of X), the principal the revocation's effective_ms; a relay the order -- which no
longer decides whether Carol's contract stands.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from contextlib import suppress

import pytest
from test_escrow_handover_thief_order import World, _thief_upholds, _world

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import Party

X = b"the-one-and-only"


def _exclusive_world() -> tuple[World, Party]:
    real = Party.proposal

    def proposal(self: Party, **kw: object) -> object:
        kw.setdefault("exclusive_key", X)
        return real(self, **kw)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Party, "proposal", proposal)
        w = _world()
    carol = Party("carol", w.s.clock)
    w.base += [verify_statement(e) for e in carol.setup]
    return w, carol


def _carols(w: World, carol: Party, escrow: Party | None = None) -> list[VerifiedStatement]:
    """Alice's offer to Carol under the same exclusive_key (naming ``escrow``, or none), dated after the
    thief's ending, and Carol's Accept of it; with ``escrow``, its Stamp of both."""
    proposal = w.s.alice.proposal(exclusive_key=X, escrow=escrow.did if escrow is not None else "")
    o2 = w.s.alice.offer(carol, proposal)
    w.s.clock.advance(1_000)
    a2 = carol.accept(o2)
    if escrow is None:
        return [o2, a2]
    return [o2, a2, escrow.sign("stamp", commitment_pb2.Stamp(statements=[o2.digest, a2.digest]))]


def _fed(w: World, order: Sequence[VerifiedStatement], **role: object) -> Verifier:
    """A view that took the base, then ``order``, then each statement it refused once more (as a relay
    passes one on again: one heard before what it rests on is taken then)."""
    v = Verifier(**role)  # type: ignore[arg-type]
    refused = []
    for vs in [*w.base, *order]:
        try:
            v.accept(vs.envelope)
        except CoopError:
            refused.append(vs)
    for vs in refused:
        with suppress(CoopError):
            v.accept(vs.envelope)
    return v


def _outcome(w: World, carols: list[VerifiedStatement], v: Verifier) -> tuple[object, ...]:
    """C1's state, Carol's negotiation's state, whether it holds a contract, the live contracts holding X
    (NEG-009), and Alice's and Carol's outstanding values just after A2."""
    o2, a2 = carols[0], carols[1]
    c2 = v.negotiations.get(o2.negotiation_id)
    names = {w.s.nid: "c1", o2.negotiation_id: "c2"}
    holders = frozenset(names[h] for h in v.negotiations._exclusive.get((w.s.alice.did, X), ()))
    after = a2.issued_at_ms + 1
    return (
        v.negotiations.get(w.s.nid).state.name,
        c2.state.name,
        c2.contract is not None,
        holders,
        v.exposure.exposure(o2.mandate_digest).outstanding(after),
        v.exposure.exposure(a2.mandate_digest).outstanding(after),
    )


def _merges(*parts: Sequence[VerifiedStatement]) -> Iterator[list[VerifiedStatement]]:
    """Every merge of ``parts`` keeping each one's own order."""
    if not parts:
        yield []
        return
    first, rest = parts[0], parts[1:]
    for tail in _merges(*rest):
        n = len(first) + len(tail)
        for places in itertools.combinations(range(n), len(first)):
            ia, ib = iter(first), iter(tail)
            yield [next(ia) if i in places else next(ib) for i in range(n)]


def _orders(
    w: World, thief: list[VerifiedStatement], carols: list[VerifiedStatement]
) -> list[list[VerifiedStatement]]:
    orders = []
    for handover in ([w.revocation, w.k2.mandate_vs], [w.k2.mandate_vs, w.revocation]):
        orders += _merges(thief, handover, carols)
    return orders


def _pick(
    orders: list[list[VerifiedStatement]], attack: list[VerifiedStatement], request: pytest.FixtureRequest
) -> list[list[VerifiedStatement]]:
    """Every order under ``-m slow``; else the attack's order (``attack``), the hand-over first (the last
    merge) and a fixed sample."""
    if request.node.get_closest_marker("slow") is not None:
        return orders
    assert attack in orders
    return [attack, orders[-1], *random.Random(24).sample(orders, _SAMPLE)]


_SAMPLE = 10
_ROLES = [{}, {"evidence_view": False}]  # a view of evidence; a live receiver's (or an escrow's) view


def test_the_attack_two_live_contracts_under_one_exclusive_key_before() -> None:
    """The attack happened: a view that took the thief's ending and then Carol's Accept held X free for it
    (C1 BREACHED), and the view that heard the hand-over first refused Carol's Accept (EXCLUSIVE_CONFLICT).
    Carol's Accept is dated after the thief's ending, which is dated after K1's revocation took effect."""
    w, carol = _exclusive_world()
    thief = _thief_upholds(w)
    carols = _carols(w, carol)
    assert (
        carols[1].issued_at_ms > thief[1].issued_at_ms >= w.revocation.statement.key_revocation.effective_ms
    )
    early = _outcome(w, carols, _fed(w, [*thief, *carols]))
    assert early[:4] == ("BREACHED", "ACCEPTED", True, {"c2"})
    v = Verifier()
    for vs in [*w.base, w.revocation, w.k2.mandate_vs, carols[0]]:
        v.accept(vs.envelope)
    with pytest.raises(CoopError) as refused:
        v.accept(carols[1].envelope)
    assert refused.value.code == "EXCLUSIVE_CONFLICT"


def _sweep(request: pytest.FixtureRequest, role: dict[str, object], escrow: bool) -> set[tuple[object, ...]]:
    w, carol = _exclusive_world()
    thief = _thief_upholds(w)
    e3 = Party("escrow3", w.s.clock) if escrow else None
    if e3 is not None:
        w.base += [verify_statement(e) for e in e3.setup]
    carols = _carols(w, carol, e3)
    orders = _orders(w, thief, carols)
    attack = [*thief, *carols, w.revocation, w.k2.mandate_vs]  # Carol's trade taken on the thief's ending
    return {_outcome(w, carols, _fed(w, order, **role)) for order in _pick(orders, attack, request)}


@pytest.mark.req("ESC-022", "NEG-009", "MND-010")
@pytest.mark.parametrize("role", _ROLES, ids=["view", "live"])
def test_an_accept_the_thiefs_ending_let_in_moves_nothing_once_the_hand_over_is_held_in_every_order(
    request: pytest.FixtureRequest, role: dict[str, object]
) -> None:
    """Carol's Accept, naming no escrow: every order of the thief's four statements, K1's revocation and
    the hand-over (either first), and Alice's offer to Carol and Carol's Accept (840 orders, each refused
    statement passed on once more; sampled, every one under -m slow) ends alike: C1 BONDED and holding X,
    Carol's negotiation PROPOSED with no contract, and the same outstanding values for Alice (her offer to
    Carol live, C1 counted) and for Carol. Before, the orders that took Carol's Accept after the thief's
    ending and before the hand-over ended with Carol's contract formed beside C1, both live under X."""
    seen = _sweep(request, role, escrow=False)
    assert len(seen) == 1, seen
    ((c1, c2, formed, holder, *_),) = seen
    assert (c1, c2, formed, holder) == ("BONDED", "PROPOSED", False, {"c1"})


@pytest.mark.req("ESC-022", "NEG-009", "NEG-019")
@pytest.mark.parametrize("role", _ROLES, ids=["view", "live"])
def test_an_accept_its_escrow_witnessed_stands_beside_the_revived_contract_in_every_order(
    request: pytest.FixtureRequest, role: dict[str, object]
) -> None:
    """The same with Alice's offer to Carol naming another escrow, which stamps it and Carol's Accept:
    witnessed, the Accept is no ground for NEG-009 (NEG-019) -- held off while unwitnessed, the Stamp lets
    it in again -- so every order ends with Carol's contract formed beside C1, BONDED."""
    seen = _sweep(request, role, escrow=True)
    assert len(seen) == 1, seen
    ((c1, c2, formed, *_),) = seen
    assert (c1, c2, formed) == ("BONDED", "ACCEPTED", True)


@pytest.mark.slow
@pytest.mark.req("ESC-022", "NEG-009", "NEG-019")
@pytest.mark.parametrize("escrow", [False, True])
def test_every_order_slow(request: pytest.FixtureRequest, escrow: bool) -> None:
    """Every order of both stories, in both roles."""
    for role in _ROLES:
        assert len(_sweep(request, role, escrow)) == 1
