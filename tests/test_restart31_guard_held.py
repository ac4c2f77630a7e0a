"""restart31: a restarted peer's mandate guard holds exactly what it held before the restart.

One harness: Bob's node is driven through a scenario, what its guard holds is read (the exclusive_keys
it holds, NEG-020; the value it counts, MND-009/010, at now and later times; the cut-off Counters it
counts, section 4.5; the answers its escrow has not taken; the asks it recorded, META_ASKED), the node is
restarted -- once replaying its whole journal, once from the snapshot its close wrote -- and read again.
Every difference is a finding: a hold lost at restart lets Bob sell the car twice, or commit past his
cap (a renege or an over-commit by crash); a hold gained refuses what he may sell until the claims end.
Each scenario also asserts whether the car is held after it, so a harness that reads nothing fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_asked31_successor_word import _past_cutoff
from test_attack10 import CAR, _car, _car_market
from test_attack11 import CountersWithTheCar
from test_hidden_accept import Market

from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.node import EscrowWitness, PeerNode
from a2a_coop.testing import Party

HOUR_MS = 3_600_000


def _node(m: Market, tmp_path: Path, strategy: Any, context: list[bytes], **kw: Any) -> PeerNode:
    return PeerNode.open(
        m.bob.agent.key,
        m.bob.mandate_vs.envelope,
        tmp_path / "bob.db",
        context=context,
        clock=lambda: m.clock.now_ms,
        strategy=strategy,
        witness=EscrowWitness(m.escrow, m.escrow.did),
        **kw,
    )


def guard_held(node: PeerNode, mandate: bytes, probes: list[VerifiedStatement]) -> dict[str, Any]:
    """What Bob's guard holds, read without changing it: each figure a restart must keep."""
    peer, v = node.peer, node.peer.verifier
    now = peer.clock()
    times = [now, now + 60_000, now + HOUR_MS, now + 2 * HOUR_MS, now + 30 * 24 * HOUR_MS]
    exp = v.exposure.exposure(mandate)
    # NEG-020 asked of statements never shown to the node (asking drops the entries of keys no offer holds)
    refused = [v.guard_refuses(probe, now) for probe in probes]
    holds = v.guard_holds(now)
    return {
        "exclusive (NEG-020)": holds.exclusive,
        "refused (NEG-020)": refused,
        "outstanding (MND-010)": [exp.outstanding(t, dated_starts=False) for t in times],
        "committed (MND-009)": [exp.committed(exp.period_of(t), t, dated_starts=False) for t in times],
        "cut-off counted (4.5)": holds.cut_off_counted,
        "answers not taken (4.5)": holds.answers_not_taken,
        "asked (META_ASKED)": peer.negotiations_asked,
    }


def _probes(m: Market, carol: Party, e2: Any) -> list[VerifiedStatement]:
    """Bob's car offered to Carol bonded at E2, and naming no escrow, signed aside (never to the node)."""
    return [carol_offer(m, carol, e2.did), carol_offer(m, carol, "")]


def carol_offer(m: Market, carol: Party, escrow: str) -> VerifiedStatement:
    return m.bob.offer(carol, _car(m, escrow, bond=100 if escrow else 0))


# --- the scenarios: each drives Bob's node (what it holds is read after) ---------------------------------


def unanswered(m: Market, node: PeerNode, **_: Any) -> None:
    """His bonded offer of the car at E1, unanswered, shown to E1."""
    offer = node.peer.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    m.escrow.submit([*node.peer.send_context(), offer.envelope])


def answered_cut_off(m: Market, node: PeerNode, **_: Any) -> None:
    """Mallory counters it bonded at E1 (E1 not shown her Counter); past its cutoff, nobody asked."""
    offer = node.peer.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    m.escrow.submit([*node.peer.send_context(), offer.envelope])
    hers = m.mallory.proposal(escrow=m.escrow.did, issuer_bond=100, audience_bond=100)
    counter = m.mallory.counter(offer, hers, ttl_ms=60_000)
    node.peer.on_replies([*m.mallory.setup, counter.envelope])
    m.clock.now_ms = _past_cutoff(offer) + 60_001


def accepted(m: Market, node: PeerNode, **_: Any) -> None:
    """Mallory accepts it, E1 witnesses: a live contract holds the car."""
    offer = node.peer.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    accept = m.mallory.accept(offer)
    m.escrow.submit([*node.peer.send_context(), *m.mallory.setup, offer.envelope, accept.envelope])
    node.peer.on_replies([*m.mallory.setup, accept.envelope])
    m.witnessed_contract(node, offer.negotiation_id, accept)


def performed(m: Market, node: PeerNode, **_: Any) -> None:
    """Accepted and performed both ways: the contract is over, its negotiation forgotten."""
    offer = node.peer.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    accept = m.mallory.accept(offer)
    locks = m.escrow.submit([*node.peer.send_context(), *m.mallory.setup, offer.envelope, accept.envelope])
    ours = node.peer.on_replies([*m.mallory.setup, accept.envelope])
    ours += node.peer.on_replies(list(locks))
    m.witnessed_contract(node, offer.negotiation_id, accept)
    theirs = [m.mallory.deliver(accept, m.bob)]
    theirs += [m.mallory.receipt(vs) for vs in ours if vs.body == "delivery"]
    node.peer.on_replies([vs.envelope for vs in theirs])
    assert node.peer.negotiation(offer.negotiation_id).state.value == "FULFILLED"


def rejected_unshown(m: Market, node: PeerNode, **_: Any) -> None:
    """Mallory rejects it and shows E1 nothing: his negotiation is over, an Accept at E1 may still bind."""
    offer = node.peer.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    node.peer.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])


def asked_past_cutoff(m: Market, node: PeerNode, **_: Any) -> None:
    """Unanswered, asked past the cutoff: E1's word names it, the car is free."""
    from a2a_coop.runtime.trade import ask_escrow_alone

    offer = node.peer.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    m.escrow.submit([*node.peer.send_context(), offer.envelope])
    m.clock.now_ms = _past_cutoff(offer) + 60_001
    ask_escrow_alone(node.peer, m.escrow, node.peer.negotiation(offer.negotiation_id))
    assert node.peer.asked_at_escrow(offer.negotiation_id)


def cut_off_counter(m: Market, node: PeerNode, **_: Any) -> list[bytes]:
    """His bonded Counter at E1, cut off the line by Mallory's kept Reject, awaiting E1's answer."""
    offer = node.peer.propose(m.mallory.did, _car(m, "", bond=0))
    kept = m.mallory.reject(offer, "kept")
    theirs = m.mallory.counter(offer, m.mallory.proposal())
    (ours,) = node.peer.on_replies([*m.mallory.setup, theirs.envelope])
    assert ours.body == "counter" and proposal_of(ours).terms.escrow == m.escrow.did
    node.peer.on_replies([kept.envelope])
    assert ours.digest in node.peer.verifier.guard_holds(m.clock.now_ms).cut_off_counted
    return [offer.envelope, theirs.envelope, ours.envelope]


def cut_off_counter_past_cutoff(m: Market, node: PeerNode, **kw: Any) -> None:
    """As above, past the Counter's cutoff, asked with no word of E1's naming it (the key stays held)."""
    cut_off_counter(m, node)
    ((ours, (_, _, nid)),) = node.peer.verifier.guard_holds(m.clock.now_ms).cut_off_counted.items()
    m.clock.now_ms = _past_cutoff(node.peer.verifier.statements[ours]) + 60_001
    node.peer.asked_escrow(nid, m.escrow.did, past_cutoff=True)


def cut_off_counter_vouched(m: Market, node: PeerNode, **_: Any) -> None:
    """As above, past its cutoff, E1's word names it (ESC-013 (i)): the car is free."""
    cut_off_counter(m, node)
    ((ours, (_, _, nid)),) = node.peer.verifier.guard_holds(m.clock.now_ms).cut_off_counted.items()
    m.clock.now_ms = _past_cutoff(node.peer.verifier.statements[ours]) + 60_001
    node.peer.asked_escrow(nid, m.escrow.did, past_cutoff=True, vouched={ours: m.clock.now_ms})
    assert not node.peer.verifier.guard_holds(m.clock.now_ms).cut_off_counted


def cut_off_counter_withdrawn(m: Market, node: PeerNode, *, carol: Party, e2: Any) -> None:
    """As above, his Withdraw of the Counter (NEG-024 (a)) taken by E1: the car is free."""
    line = cut_off_counter(m, node)
    ((_, (_, _, nid)),) = node.peer.verifier.guard_holds(m.clock.now_ms).cut_off_counted.items()
    closing = node.peer.withdraw_cut_off(nid)
    assert closing is not None
    context = [*node.peer.send_context(), *m.mallory.setup]
    node.peer.on_replies(m.escrow.submit([*context, *line, closing[1].envelope]))
    assert (
        node.peer.verifier.guard_refuses(carol_offer(m, carol, e2.did), m.clock.now_ms) is None
    )  # free at E2


def asked_twice(m: Market, node: PeerNode, **_: Any) -> None:
    """As "answered and cut off", his Counter back bonded at E1 too; past both cutoffs asked twice, E1's
    word naming his Offer the first time, his Counter the second: each ask frees one."""
    answered_cut_off(m, node)
    peer = node.peer
    (nid,) = {h[0] for h in peer.verifier.guard_holds(m.clock.now_ms).exclusive[CAR].values()}
    ours = [o for o in peer.negotiation(nid).offers if o.issuer == peer.did]
    assert len(ours) == 2
    m.clock.now_ms = max(_past_cutoff(o) for o in ours) + 60_001
    for offer in ours:
        peer.asked_escrow(nid, m.escrow.did, past_cutoff=True, vouched={offer.digest: m.clock.now_ms})
    assert CAR not in peer.verifier.guard_holds(m.clock.now_ms).exclusive


# name -> (scenario, whether the car is held after it: Bob's guard refuses it to Carol at E2)
SCENARIOS: dict[str, tuple[Callable[..., Any], bool]] = {
    "bonded offer unanswered": (unanswered, True),
    "answered and cut off": (answered_cut_off, True),
    "accepted": (accepted, True),
    "asked past the cutoff": (asked_past_cutoff, False),
    "accepted and performed": (performed, True),
    "asked twice, a word for each offer": (asked_twice, False),
    "rejected, E1 not shown": (rejected_unshown, True),
    "cut-off Counter awaiting the escrow": (cut_off_counter, True),
    "cut-off Counter asked past its cutoff": (cut_off_counter_past_cutoff, True),
    "cut-off Counter withdrawn at E1": (cut_off_counter_withdrawn, False),
    "cut-off Counter named by E1's word": (cut_off_counter_vouched, False),
}


@pytest.mark.req("NEG-020", "MND-009", "MND-010", "ESC-013")
@pytest.mark.parametrize("later_ms", [0, 2 * HOUR_MS], ids=["at once", "past the deadlines"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_restarted_guard_holds_what_it_held(tmp_path: Path, scenario: str, later_ms: int) -> None:
    """``later_ms``: the node restarted that long after the scenario (past the items' deadlines, before
    the claims under them end), what it held read then."""
    m, e2, carol, _ = _car_market()
    strategy = CountersWithTheCar(car=_car(m, m.escrow.did, bond=100))
    context = [m.escrow.mandate, e2.mandate]
    node = _node(m, tmp_path, strategy, context)
    try:
        drive, held = SCENARIOS[scenario]
        drive(m, node, carol=carol, e2=e2)
        m.clock.now_ms += later_ms
        probes = _probes(m, carol, e2)
        before = guard_held(node, m.bob.mandate_vs.digest, probes)
    finally:
        node.close()  # writes a snapshot
    node = _node(m, tmp_path, strategy, context, snapshot_every=0)  # the whole journal replayed
    try:
        assert node.peer.resumed_from is None
        replayed = guard_held(node, m.bob.mandate_vs.digest, probes)
    finally:
        node.close()
    node = _node(m, tmp_path, strategy, context)
    try:
        assert node.peer.resumed_from is not None
        resumed = guard_held(node, m.bob.mandate_vs.digest, probes)
    finally:
        node.close()
    assert replayed == before, "journal replay"
    assert resumed == before, "snapshot"
    held = held and not (later_ms and scenario == "accepted and performed")  # performed: free past them
    assert before["refused (NEG-020)"][0] == ("EXCLUSIVE_CONFLICT" if held else None), before
    assert before["outstanding (MND-010)"][0] or not held or scenario == "accepted and performed"
