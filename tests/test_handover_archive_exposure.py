"""ESC-022 (e) for a bounded-memory verifier: a contract it forgot (finished by a thief's statements, its
negotiation archived, section 4.5) counts again in its parties' exposure once the verifier honours the
hand-over -- exactly as in a verifier that holds everything in memory, whatever order it heard them in.

K1, Alice and Bob's escrow, is stolen; its principal revokes it and hands its contracts to K2. The thief
stamps Alice's claim, upholds it, forfeits Bob's bond and releases Alice's, dated after the revocation. A
verifier that heard the thief first took the contract as BREACHED -- finished -- and a peer with bounded
memory forgot it (its statements in its journal, its exposure kept as a compact record dated by the
thief's ending). Once the hand-over is held the thief's statements count for nothing: a verifier holding
the negotiation rebuilds it (``Verifier._rebuild_handed_over``) and counts the contract again toward Bob's
and Alice's outstanding value (``Exposure.contract_reopened``); the forgotten one kept the value the thief's
ending freed (ESC-022 (e)'s Left open, closed here: ``Verifier._reopen_forgotten_handed_over``).

Who chose what: the thief the times, seqs and gossip order of K1's statements, the peer when it forgets a
finished negotiation (its memory, no one's choice to lie about), the principal the revocation's
effective_ms; a relay the order -- none of which now decides what the contract counts for.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_escrow_handover_thief_order import World, _k2_lapses, _orders, _thief_upholds, _world

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.journal import Journal

_SAMPLE = 8  # orders per story in the default run; every one under -m slow


def _fed(w: World, order: Sequence[VerifiedStatement], journal: Journal | None) -> Verifier:
    """A view that took the base, then ``order``; with ``journal``, a bounded one: each statement taken is
    journaled and a negotiation whose contract is finished is forgotten at once
    (``Verifier.forget_negotiation``: a peer forgets an escrowed one only once EXPIRED, any verifier may
    forget a finished one)."""
    v = Verifier()
    if journal is not None:
        v.use_archive(journal)
    forgot = 0
    for vs in [*w.base, *order]:
        try:
            v.accept(vs.envelope)
        except CoopError:
            continue
        if journal is None:
            continue
        journal.record_batch([(vs, [], False)], at_ms=0)
        neg = v.negotiations.by_id.get(w.s.nid)
        if neg is not None and neg.contract_finished:
            assert v.forget_negotiation(w.s.nid)
            forgot += 1
    v.forgot = forgot  # type: ignore[attr-defined]
    return v


def _counted(w: World, v: Verifier, at_ms: Sequence[int]) -> tuple[object, ...]:
    """What the contract counts for in Alice's and Bob's exposures at each time, and its state."""
    book = v.exposure
    return (
        v.negotiations.get(w.s.nid).state.name,
        *(book.exposure(vs.mandate_digest).outstanding(t) for vs in (w.s.offer, w.s.accept) for t in at_ms),
    )


def _compare(tmp_path: Path, w: World, orders: list[list[VerifiedStatement]], times: Sequence[int]) -> int:
    """Every order to an unbounded and a bounded view: the same state and exposure. Returns how many
    orders had the bounded view forget the contract before it heard the hand-over (the attack's path)."""
    forgot_first = 0
    for n, order in enumerate(orders):
        whole = _counted(w, _fed(w, order, None), times)
        journal = Journal.open(tmp_path / f"{len(times)}-{n}.db", durability="normal")  # one per order
        try:
            bounded_v = _fed(w, order, journal)
            bounded = _counted(w, bounded_v, times)
        finally:
            journal.close()
        handover_at = min(order.index(w.revocation), order.index(w.k2.mandate_vs))
        if bounded_v.forgot and order.index(w.thief_last) < handover_at:  # type: ignore[attr-defined]
            forgot_first += 1
        assert bounded == whole, (n, [vs.issuer[-6:] for vs in order])
    return forgot_first


def _story() -> tuple[World, list[VerifiedStatement], list[int]]:
    w = _world()
    thief = _thief_upholds(w)
    w.thief_last = thief[-1]  # type: ignore[attr-defined]
    times = [thief[1].issued_at_ms + 1, thief[-1].issued_at_ms + 1]
    return w, thief, times


@pytest.mark.req("ESC-022", "MND-010")
def test_a_forgotten_contract_the_thief_ended_counts_again_once_the_hand_over_is_held(tmp_path: Path) -> None:
    """The attack and its answer in the order that shows it: the thief's statements first (the bounded view
    forgets the BREACHED contract), then the revocation and the hand-over. The unbounded view counts the
    contract again toward both outstanding values; the bounded view does the same, reading the thief's
    statements back from its journal."""
    w, thief, times = _story()
    order = [*thief, w.revocation, w.k2.mandate_vs]
    early = _fed(w, thief, None)
    assert _counted(w, early, times)[1:] == (0, 0, 0, 0)  # the attack: the thief's ending freed them
    whole = _counted(w, _fed(w, order, None), times)
    assert whole[0] == "BONDED" and all(value > 0 for value in whole[1:])
    journal = Journal.open(tmp_path / "j.db", durability="normal")
    try:
        v = _fed(w, order, journal)
        assert v.forgot == len(thief) - 1  # after the UPHOLD and each statement read back after it
        assert w.s.nid not in v.negotiations.by_id or not v.negotiations.by_id[w.s.nid].contract_finished
        assert _counted(w, v, times) == whole
    finally:
        journal.close()


@pytest.mark.req("ESC-022", "MND-010")
def test_bounded_and_unbounded_views_count_the_thiefs_contract_alike_in_every_order(tmp_path: Path) -> None:
    """Every order (30) of the thief's Stamp, UPHOLD, Forfeit and Release with K1's revocation and K2's
    hand-over: the bounded view ends in the unbounded one's state and exposure. Sampled in the default
    run; every order under ``-m slow`` (:func:`test_every_order_slow`)."""
    w, thief, times = _story()
    orders = _orders(w, thief, [])
    assert len(orders) == 30
    assert _compare(tmp_path, w, _pick(orders), times) >= 1  # the attack's path is among them


@pytest.mark.req("ESC-022", "MND-010")
def test_bounded_and_unbounded_views_count_the_successors_lapse_alike_in_every_order(tmp_path: Path) -> None:
    """The same, K2 then lapsing the contract and refunding both bonds (CMT-006): the bounded view forgets
    the contract twice -- ended by the thief, then by K2 -- and counts it, in both outstanding values, until
    K2's lapse, as the unbounded one does (sampled: 8 of 252; every one under ``-m slow``)."""
    w, thief, times = _story()
    lapse = _k2_lapses(w)
    times.append(lapse[0].issued_at_ms + 1)
    orders = _orders(w, thief, lapse)
    assert len(orders) == 252
    assert _compare(tmp_path, w, _pick(orders), times) >= 1


@pytest.mark.slow
@pytest.mark.req("ESC-022", "MND-010")
def test_every_order_slow(tmp_path: Path) -> None:
    """Every order of both stories above (30 and 252), bounded against unbounded."""
    w, thief, times = _story()
    assert _compare(tmp_path, w, _orders(w, thief, []), times) >= 1
    w, thief, times = _story()
    lapse = _k2_lapses(w)
    times.append(lapse[0].issued_at_ms + 1)
    assert _compare(tmp_path, w, _orders(w, thief, lapse), times) >= 1


def _pick(orders: list[list[VerifiedStatement]]) -> list[list[VerifiedStatement]]:
    """The orders hearing the thief whole before the hand-over (the attack's path), then a fixed sample."""
    return orders[:1] + random.Random(24).sample(orders[1:], _SAMPLE - 1)


@pytest.mark.req("KEY-009", "MND-010")
def test_a_contract_the_thiefs_disowned_stamp_ended_counts_again_once_the_revocation_is_held() -> None:
    """KEY-009 (d), no hand-over: the thief's Stamp of Alice's claim, disowned once K1's revocation is held,
    witnesses nothing, so its UPHOLD moves nothing and the contract is BONDED again (``Verifier._rederive``)
    -- and counts again in both outstanding values, as in a view that heard the revocation first. Before,
    the derived contract was live while its exposure stayed freed by the thief's UPHOLD, in the views that
    heard the thief first: every order (5 places of the revocation) one state and one exposure."""
    w, thief, times = _story()
    seen = set()
    for at in range(len(thief) + 1):
        v = _fed(w, [*thief[:at], w.revocation, *thief[at:]], None)
        seen.add(_counted(w, v, times))
    assert len(seen) == 1
    state, *values = seen.pop()
    assert state == "BONDED" and all(value > 0 for value in values)
