"""Red team 33: a fork refusal signed with the escrow's revoked key freed Bob's car while the escrow held
Mallory's Accept of his Counter (RPC-006 (c), NEG-020, KEY-004).

Bob's runtime takes his offers after a statement the escrow refused as a fork (EQUIVOCATION) as never
taken there on the escrow's word alone: its Stamp of the held half (``trade._forked_at``). "The escrow's"
was read by ``WitnessIndex.acts_for``, which reads a revocation of the escrow key only once a hand-over of
it is honoured -- not the view's own reading (``Verifier.revokes``), as red team 32 made the served witness
read (``PeerNode.escrows_stamp``). E1's key leaks; its principal revokes it, and Bob's peer hears of that
(the successor it appoints, a second statement, comes later or not at all). The thief, answering for E1's
address, refuses Bob's ask past his Counter's cutoff with Mallory's fork pair and a Stamp of her held
half it signs with E1's key; Bob's runtime took it as E1's word, asked "E1" (the thief) again up to his
opening Offer -- which names no escrow, so no Checkpoint of E1's was wanted for it -- and freed the car of
his Counter, which E1 had locked under Mallory's Accept before the key leaked. Bob sells the car to
Carol; Mallory's claim at E1 (or its successor) takes his bond.

Who chose the value: the Stamp's signer and time are whoever holds E1's key -- after the revocation, its
thief; the order in which Bob hears the revocation and the hand-over is whoever relays them. What Mallory
gains: Bob's bond, or his car twice sold. Now the fork refusal's Stamp counts only where Bob's view reads
it as E1's, as the served witness does (one function).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from peers import handed_over, make_peer
from test_attack10 import _car, _car_market
from test_attack11 import CountersWithTheCar
from test_fork31_large_fork_evidence import _car_held

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import CoopError, Equivocation
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.trade import ask_escrow_alone
from a2a_coop.testing import LocalEscrow


class _ThiefOfE1:
    """Whoever answers Bob's Submits for E1 once its key leaked: the first is refused EQUIVOCATION with
    Mallory's fork pair, E1's Mandate and a Stamp of her held half signed with E1's key; every later one
    is answered with E1's Mandate alone (E1 never sees them)."""

    def __init__(self, e1: LocalEscrow, held: VerifiedStatement, shown: VerifiedStatement) -> None:
        self.e1, self.forged, self.answered = e1, 0, 0
        stamp = e1.party.sign("stamp", commitment_pb2.Stamp(statements=[held.digest]))
        self.evidence = (held.envelope, shown.envelope, e1.mandate, stamp.envelope)

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if not self.forged:
            self.forged += 1
            raise Equivocation("another statement at this seq", evidence=self.evidence)
        self.answered += 1
        return [self.e1.mandate]


def locked_car_line(held_escrow: Callable[[Any, LocalEscrow], str]) -> tuple[Any, ...]:
    """Bob opens to Mallory naming no escrow; she counters bonded at E1 and signs, at her Counter's seq, an
    Offer to Carol naming ``held_escrow(m, e2)``; Bob counters with his car bonded at E1; Mallory's Accept
    of it locks both bonds at E1 and is hidden from Bob: (m, e2, carol, opener, counter, held, ours)."""
    m, e2, carol, _ = _car_market()
    strategy = CountersWithTheCar(car=_car(m, m.escrow.did, bond=100))
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], strategy=strategy)
    opener = m.b.propose(m.mallory.did, m.bob.proposal(), ttl_ms=60_000)  # no escrow, no bond, no car
    writer = copy.deepcopy(m.mallory.agent.writer)
    hers = m.mallory.proposal(escrow=m.escrow.did, issuer_bond=100, audience_bond=100)
    counter = m.mallory.counter(opener, hers, ttl_ms=60_000)
    after = m.mallory.agent.writer
    m.mallory.agent.writer = writer
    held = m.mallory.offer(carol, m.mallory.proposal(escrow=held_escrow(m, e2)))  # at her Counter's seq
    m.mallory.agent.writer = after
    (ours,) = m.b.on_replies([*m.mallory.setup, counter.envelope])
    assert ours.body == "counter"
    accept = m.mallory.accept(ours)
    locks = m.escrow.submit(
        [*m.mallory.setup, *m.bob.setup, opener.envelope, counter.envelope, ours.envelope, accept.envelope]
    )
    assert [verify_statement(e).body for e in locks].count("bond_lock") == 2
    return m, e2, carol, opener, counter, held, ours


@pytest.mark.req("RPC-006", "NEG-020", "KEY-004")
@pytest.mark.parametrize("heard", ["revocation", "revocation and hand-over"])
def test_a_fork_refusal_stamped_with_the_escrows_revoked_key_frees_nothing(heard: str) -> None:
    """Bob opens to Mallory with an Offer naming no escrow; she counters bonded at E1 and signs another
    statement at her Counter's seq; Bob counters with his car (exclusive_key) bonded at E1; Mallory shows E1
    the line and her Accept of his Counter (both bonds locked) and hides it. E1's key then leaks, its
    principal revokes it (Bob's peer holds the revocation, and with ``heard`` the hand-over to E1's
    successor too). Past the cutoffs, the thief answers Bob's ask for E1 as ``_ThiefOfE1`` says. Expect the
    car to stay held. Before, with the revocation alone heard, it was freed."""
    m, e2, carol, opener, counter, held, ours = locked_car_line(lambda m, e2: m.escrow.did)
    # Bob holds an answer of E1's to someone else (its key bound to its principal there, KEY-007).
    elsewhere = carol.offer(m.mallory, carol.proposal(escrow=m.escrow.did))
    m.b.hold(m.escrow.submit([*carol.setup, elsewhere.envelope]))
    m.clock.advance(1_000)
    _, revocation, handover = handed_over(m.escrow.party, m.clock)
    m.b.hold([revocation.envelope, *([handover.envelope] if "hand-over" in heard else [])])
    assert m.escrow.did in m.b.verifier.revoked
    m.clock.now_ms = ours.header.expires_at_ms + 60_001  # past both cutoffs and the tolerance: ask
    assert _car_held(m, e2.did, carol)
    thief = _ThiefOfE1(m.escrow, held, counter)
    assert m.b.verifier.revokes(verify_statement(thief.evidence[3])), "Bob's view reads E1's Stamp as revoked"
    with contextlib.suppress(CoopError):
        ask_escrow_alone(m.b, thief, m.b.negotiation(opener.negotiation_id))  # type: ignore[arg-type]
    assert thief.forged == 1
    assert _car_held(m, e2.did, carol), "the car was freed on the word of E1's revoked key"
