"""ESC-022 in every arrival order: a principal that named two successors of a revoked escrow key named
both. Before, it named none: a verifier that heard of the second hand-over before the first successor's
statements refused them (`WRONG_PARTY`), and one that applied them first kept them applied -- the same
statements held, two contract states (BONDED and BREACHED). Now a hand-over is never un-honoured by a
statement heard later, so every order of the same statements ends in one state; where the two successors
contradict each other (one upholds the claim and forfeits Bob's bond, the other dismisses it and releases
it), NEG-015's precedence decides, as for one escrow at fault (NEG-012: the Forfeit prevails).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from test_escrow_handover import BOND, Desk, Story, _revoke, _story, _successor, taking

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import Party


@dataclass
class World:
    """One story, signed once: what every view holds first (the trade, the claim, the revocation of K1),
    the two hand-overs of K1 (to K2, then K3), and each successor's statements about K1's contract."""

    s: Story
    base: list[VerifiedStatement]
    handovers: tuple[VerifiedStatement, VerifiedStatement]
    k2: Party
    k3: Party

    def view(self, order: Sequence[VerifiedStatement]) -> tuple[Verifier, list[str]]:
        """A fresh view that took the base, then ``order``: with the codes of those it refused."""
        v = Verifier()
        for vs in self.base:
            v.accept(vs.envelope)
        refused = []
        for vs in order:
            try:
                v.accept(vs.envelope)
            except CoopError as exc:
                refused.append(exc.code)
        return v, refused

    def outcome(self, v: Verifier) -> tuple[str, frozenset[str], frozenset[str]]:
        """The contract as ``v`` holds it: its state, the parties whose bond was forfeited, and settled."""
        neg = v.negotiations.get(self.s.nid)
        assert neg.contract is not None
        return neg.state.name, frozenset(neg.contract.forfeited), frozenset(neg.contract.settled)


def _world(revocation: trade_pb2.Revocation | None = None) -> World:
    with taking() as taken:
        s = _story(revocation)
        _revoke(s, s.escrow.principal, s.clock.now_ms - 10)
        base = list(taken)
        k2 = _successor(s, "escrow2", s.escrow.principal)
        k3 = _successor(s, "escrow3", s.escrow.principal)
    return World(s, base, (k2.mandate_vs, k3.mandate_vs), k2, k3)


def _stamp(w: World, by: Party) -> VerifiedStatement:
    assert w.s.claim is not None
    return by.sign("stamp", commitment_pb2.Stamp(statements=[w.s.claim.digest]))


def _ruling(w: World, by: Party, decision: int) -> VerifiedStatement:
    assert w.s.claim is not None
    ruling = commitment_pb2.Ruling(contract=w.s.accept.digest, claim=w.s.claim.digest, decision=decision)
    return by.sign("ruling", ruling, negotiation_id=w.s.nid)


def _release(w: World, by: Party, party: Party) -> VerifiedStatement:
    release = commitment_pb2.Release(contract=w.s.accept.digest, party=party.did, amount=BOND)
    return by.sign("release", release, audience=party.did, negotiation_id=w.s.nid)


def _forfeit(w: World, by: Party) -> VerifiedStatement:
    assert w.s.claim is not None
    forfeit = commitment_pb2.Forfeit(
        contract=w.s.accept.digest,
        party=w.s.bob.did,
        amount=BOND,
        beneficiary=w.s.alice.did,
        cause=w.s.claim.digest,
    )
    return by.sign("forfeit", forfeit, audience=w.s.bob.did, negotiation_id=w.s.nid)


def _upholding(w: World, by: Party) -> list[VerifiedStatement]:
    """``by`` stamps Alice's claim, upholds it a response window later, forfeits Bob's bond to Alice and
    releases hers (the clock moves on by the window)."""
    stamp = _stamp(w, by)
    w.s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    return [
        stamp,
        _ruling(w, by, commitment_pb2.RULING_DECISION_UPHOLD),
        _forfeit(w, by),
        _release(w, by, w.s.alice),
    ]


def _interleavings(a: Sequence[object], b: Sequence[object]) -> Iterator[list[object]]:
    """Every merge of ``a`` and ``b`` keeping each one's own order."""
    n = len(a) + len(b)
    for places in itertools.combinations(range(n), len(a)):
        ia, ib = iter(a), iter(b)
        yield [next(ia) if i in places else next(ib) for i in range(n)]


_SETTLED_BY_K2 = ("BREACHED", frozenset({"bob"}), frozenset({"alice", "bob"}))


def _named(w: World, outcome: tuple[str, frozenset[str], frozenset[str]]) -> tuple[str, ...]:
    dids = {w.s.alice.did: "alice", w.s.bob.did: "bob"}
    state, forfeited, settled = outcome
    return state, frozenset(dids[d] for d in forfeited), frozenset(dids[d] for d in settled)  # type: ignore[return-value]


@pytest.mark.req("ESC-022", "NEG-015")
@pytest.mark.parametrize("heard_at", range(6))
def test_a_second_hand_over_weighs_the_same_whatever_order_it_is_heard_in(heard_at: int) -> None:
    # K3's hand-over heard before K2's (0), or after K2's and before, between or after K2's Stamp of the
    # claim, Ruling, Forfeit and Release (1..5). Before, a view that heard it before K2's statements
    # refused them (BONDED), one that heard it after kept them (BREACHED).
    w = _world()
    first, second = w.handovers
    k2s = _upholding(w, w.k2)
    order = [first, *k2s]
    order.insert(0 if heard_at == 0 else heard_at, second)
    v, refused = w.view(order)
    assert refused == []
    assert v.successors(w.s.escrow.did) == (
        tuple(sorted((w.k2.did, w.k3.did))),
        w.s.clock.now_ms - 10 - (DEFAULT_RESPONSE_WINDOW_MS + 1),
    )
    assert _named(w, w.outcome(v)) == _SETTLED_BY_K2


@pytest.mark.req("ESC-022", "NEG-015", "NEG-012")
def test_two_contradicting_successors_end_in_one_state_in_every_order() -> None:
    # K2 stamps Alice's claim, upholds it, forfeits Bob's bond to her and releases hers; K3 stamps it
    # and releases both bonds, ruling nothing -- the principal's two keys at odds, as one escrow at fault
    # signing both. Every interleaving of the two (35), each after both hand-overs, and with K3's
    # hand-over last (after K2's statements: the order the xfail pinned): one state, the
    # Forfeit over the Release (NEG-012), Alice's bond settled once.
    w = _world()
    k2s = _upholding(w, w.k2)
    k3s = [
        _stamp(w, w.k3),
        _release(w, w.k3, w.s.bob),
        _release(w, w.k3, w.s.alice),
    ]
    outcomes = set()
    orders = [[*w.handovers, *merged] for merged in _interleavings(k2s, k3s)]
    orders.append([w.handovers[0], *k2s, w.handovers[1], *k3s])
    assert len(orders) == 36
    for order in orders:
        v, refused = w.view(order)  # type: ignore[arg-type]
        # Only a second Release of a bond already settled is refused (NEG-012): whichever came second.
        assert set(refused) <= {"BODY_INVALID"}, refused
        outcomes.add(_named(w, w.outcome(v)))
    assert outcomes == {_SETTLED_BY_K2}


def _lapsing(w: World, by: Party) -> list[VerifiedStatement]:
    """``by``, never shown the claim, lapses the contract a millisecond after its claim window ends and
    refunds both bonds (the clock moves there)."""
    c = w.s.verifier.negotiations.get(w.s.nid).contract
    assert c is not None
    w.s.clock.now_ms = max(w.s.clock.now_ms, c.last_deadline_ms + CLAIM_WINDOW_MS + 1)
    lapse = by.sign(
        "ruling",
        commitment_pb2.Ruling(contract=w.s.accept.digest, decision=commitment_pb2.RULING_DECISION_LAPSE),
        negotiation_id=w.s.nid,
    )
    refunds = [
        by.sign(
            "refund",
            commitment_pb2.Refund(contract=w.s.accept.digest, party=p.did, amount=BOND),
            audience=p.did,
            negotiation_id=w.s.nid,
        )
        for p in (w.s.bob, w.s.alice)
    ]
    return [lapse, *refunds]


def _sibling_outcomes(w: World, k2s: Sequence[object], k3s: Sequence[object]) -> set[tuple[str, ...]]:
    """The outcomes of every interleaving of K2's statements ``k2s`` and K3's ``k3s`` after both
    hand-overs, and of K2's then K3's with K3's hand-over heard after K2's statements (36 orders); only a
    second settlement of a bond already settled may be refused (NEG-012: whichever came second)."""
    orders = [[*w.handovers, *merged] for merged in _interleavings(k2s, k3s)]
    orders.append([w.handovers[0], *k2s, w.handovers[1], *k3s])
    assert len(orders) == 36
    outcomes = set()
    for order in orders:
        v, refused = w.view(order)  # type: ignore[arg-type]
        assert set(refused) <= {"BODY_INVALID"}, refused
        outcomes.add(_named(w, w.outcome(v)))
    return outcomes


@pytest.mark.req("ESC-022", "NEG-015", "NEG-012", "CMT-006")
def test_a_sibling_successors_lapse_ends_in_the_breach_in_every_order() -> None:
    # attack20: K2 stamps Alice's claim within its window, upholds it, forfeits Bob's bond to her and
    # releases hers; K3, never shown the claim, lapses the contract after the window and refunds both
    # bonds. As one escrow at fault that signed them all: the UPHOLD over the LAPSE (section 8.9), the
    # Forfeit over the Refund (NEG-012) -- in each of the 35 interleavings, the hand-overs first, and with
    # K3's hand-over heard after K2's statements. Before, every order ended EXPIRED.
    w = _world()
    k2s = _upholding(w, w.k2)
    k3s = _lapsing(w, w.k3)
    outcomes = _sibling_outcomes(w, k2s, k3s)
    assert outcomes == {_SETTLED_BY_K2}
    # The lapse was taken, not refused: K3's statements alone end the contract EXPIRED, both refunded.
    alone, refused = w.view([w.handovers[1], *k3s])
    assert refused == []
    assert _named(w, w.outcome(alone)) == ("EXPIRED", frozenset(), frozenset({"alice", "bob"}))


def _revoking(w: World, by: Party) -> list[VerifiedStatement]:
    """Bob revokes (under forfeit_bond terms); ``by`` stamps the Revoke, forfeits Bob's bond to Alice
    (CMT-003) and, once Alice's obligations the Revoke left owed are past their claim window, releases hers
    (the clock moves there)."""
    revoke = w.s.bob.revoke(w.s.accept, w.s.alice, "leaving")
    stamp = by.sign("stamp", commitment_pb2.Stamp(statements=[revoke.digest]))
    forfeit = commitment_pb2.Forfeit(
        contract=w.s.accept.digest,
        party=w.s.bob.did,
        amount=BOND,
        beneficiary=w.s.alice.did,
        cause=revoke.digest,
    )
    forfeited = by.sign("forfeit", forfeit, audience=w.s.bob.did, negotiation_id=w.s.nid)
    c = w.s.verifier.negotiations.get(w.s.nid).contract
    assert c is not None
    w.s.clock.now_ms = max(w.s.clock.now_ms, c.last_deadline_ms + CLAIM_WINDOW_MS + 1)
    return [revoke, stamp, forfeited, _release(w, by, w.s.alice)]


@pytest.mark.req("ESC-022", "NEG-015", "NEG-012", "CMT-003", "CMT-006")
def test_a_sibling_successors_lapse_ends_in_the_revoke_in_every_order() -> None:
    # K2 stamps Bob's Revoke, forfeits his bond to Alice (forfeit_bond terms) and later releases hers; K3,
    # never shown the Revoke, lapses the contract after the claim window and refunds both bonds. As one
    # escrow at fault that signed them all: the stamped Revoke over the LAPSE (section 8.9, row 2 over
    # row 3), the Forfeit over the Refund (NEG-012) -- in each of the 35 interleavings, the hand-overs first,
    # and with K3's hand-over heard after K2's statements. Before, every order ended EXPIRED, Bob's bond
    # forfeited for his Revoke all the same.
    w = _world(trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    k2s = _revoking(w, w.k2)
    k3s = _lapsing(w, w.k3)
    outcomes = _sibling_outcomes(w, k2s, k3s)
    assert outcomes == {("REVOKED", frozenset({"bob"}), frozenset({"alice", "bob"}))}
    # Each alone: K2's statements end the contract REVOKED, K3's EXPIRED (the lapse taken, not refused).
    alone = {_named(w, w.outcome(w.view([h, *ks])[0])) for h, ks in zip(w.handovers, (k2s, k3s), strict=True)}
    assert alone == {
        ("REVOKED", frozenset({"bob"}), frozenset({"alice", "bob"})),
        ("EXPIRED", frozenset(), frozenset({"alice", "bob"})),
    }


@pytest.mark.req("NEG-015", "CMT-006")
def test_one_key_that_stamps_a_revoke_and_lapses_the_contract_ends_revoked_in_either_order() -> None:
    # One escrow at fault signs both (section 8.9): its stamped Revoke is row 2, its LAPSE row 3 -- REVOKED,
    # whether a sparse view holds the LAPSE after the Stamp or before it. Before, EXPIRED.
    w = _world(trade_pb2.Revocation(allowed=True))
    revoke, stamp, _, _ = _revoking(w, w.k2)
    lapse = _lapsing(w, w.k2)[0]
    for order in ([revoke, stamp, lapse], [revoke, lapse, stamp], [lapse, stamp, revoke]):
        v, refused = w.view([w.handovers[0], *order])
        assert refused == []
        assert _named(w, w.outcome(v)) == ("REVOKED", frozenset(), frozenset())


@pytest.mark.req("ESC-022")
def test_a_successor_heard_of_late_is_not_refused_where_it_was_taken_first() -> None:
    # The attack the old rule invited, and its proof that it happened: the first successor's Ruling, taken,
    # then the second hand-over. Under "two named none" the Ruling stayed applied in this view only; now
    # every view holds it applied.
    w = _world()
    first, second = w.handovers
    k2s = _upholding(w, w.k2)
    late, refused_late = w.view([first, *k2s, second])
    early, refused_early = w.view([first, second, *k2s])
    assert refused_late == refused_early == []
    assert w.outcome(late) == w.outcome(early)
    assert _named(w, w.outcome(late)) == _SETTLED_BY_K2


@pytest.mark.req("ESC-022", "ESC-023", "AUD-006")
def test_a_successor_shown_the_other_hand_over_still_rules_and_its_audit_agrees() -> None:
    # The principal appointed K2 and K3; K2, a reference escrow, is shown K3's hand-over (a party relays
    # it) before Alice's claim. K2 still stamps the claim, rules and settles the bonds, and its audit's
    # replay (AUD-006), the hand-over to K3 held before K2's statements, takes them as the escrow's:
    # judged as a view that heard of K3 after them. Under "two named none" it ruled on nothing (its tick
    # signed no Ruling, Forfeit or Release), and both bonds stayed locked for good.
    d = Desk()
    rev, k2, escrow = d.take_over()
    k3 = d.successor("escrow3")
    escrow.submit([k3.mandate_vs.envelope], d.clock.now_ms)
    assert escrow.verifier.successors(d.esc.did) == (
        tuple(sorted((k2.did, k3.did))),
        rev.statement.key_revocation.effective_ms,
    )
    escrow.submit([d.claim().envelope], d.clock.now_ms)
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    assert [vs.body for vs in escrow.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    transcript = escrow.transcript()
    assert k3.mandate_vs.envelope in transcript
    report = audit_ledger(transcript, escrow=k2.did)
    assert report.ok, report.findings
    assert report.balances[d.alice.did] == (1_100, 0) and report.balances[d.bob.did] == (900, 0)


@pytest.mark.req("NEG-015", "CMT-006")
def test_one_key_that_upholds_a_claim_and_lapses_the_contract_ends_breached_in_either_order() -> None:
    # One escrow at fault signs both (section 8.9): its UPHOLD is row 1, its LAPSE row 2 -- BREACHED, the
    # Forfeit taken, whether a sparse view holds the LAPSE after the Ruling or before it. Before, EXPIRED.
    w = _world()
    stamp, ruling, forfeit, release = _upholding(w, w.k2)
    lapse = _lapsing(w, w.k2)[0]
    for order in ([stamp, ruling, forfeit, release, lapse], [stamp, lapse, ruling, forfeit, release]):
        v, refused = w.view([w.handovers[0], *order])
        assert refused == []
        assert _named(w, w.outcome(v)) == _SETTLED_BY_K2
